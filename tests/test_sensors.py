"""Nightly operations: the landing-zone sensor (new files → ingest of their feed, never twice,
nothing missed across a daemon restart) and the alert written for every failed run."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.common import NightSettings, Warehouse
from ingest import files
from jiuzhu.idnumber import make_id
from pipelines.alerts import alert_on_run_failure, error_text, scrub, write_alert
from pipelines.definitions import build_definitions, defs
from pipelines.sensors import INGEST_JOB, SENSOR_NAME, evaluate_landing, landing_zone_sensor, today_in_county

ID1 = make_id("370725", "19800101", 123)
ID2 = make_id("370725", "19650302", 244)
HEADER = "身份证号,姓名,死亡日期\n"
SUMMARY = dg.AssetKey(["audit", "ingest_summary"])


def ymd(days_ago: int) -> str:
    return (today_in_county() - dt.timedelta(days=days_ago)).strftime("%Y%m%d")


def drop(landing, feed: str, name: str, body: str, settled: bool = True) -> Path:
    """A delivered file; ``settled``: last written an hour ago (no longer being written)."""
    return landing.write(feed, name, body, age=3600 if settled else 0)


def deaths(n: int) -> str:
    return HEADER + "".join(f"{make_id('370725', '19800101', 100 + i)},张三{i},2026-01-02\n" for i in range(n))


def evaluate(landing, cursor: str | None = None, instance: dg.DagsterInstance | None = None) -> dg.SensorResult:
    """One tick of the sensor as the daemon runs it: resources from a context, the stored cursor."""
    context = dg.build_sensor_context(
        cursor=cursor, instance=instance, resources={"night": NightSettings(landing=str(landing.root))}
    )
    return landing_zone_sensor(context)


def restart() -> None:
    """A new daemon process: nothing remembered in memory (the cursor is all that is kept)."""
    files._MEMORY.clear()


def _q(home: Path, sql: str) -> list[tuple]:
    from warehouse.resource import connect

    with connect(home / "warehouse.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def keys(result: dg.SensorResult) -> dict[str, str]:
    return {r.tags["jiuzhu/feed"]: r.run_key for r in result.run_requests or []}


@pytest.fixture(autouse=True)
def _fresh_memory():
    restart()
    yield
    restart()


def test_the_sensor_and_the_ingest_job_are_registered():
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.job_name == INGEST_JOB and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_sensor_def("alert_on_run_failure").default_status == dg.DefaultSensorStatus.RUNNING
    job = defs.resolve_job_def(INGEST_JOB)
    assert set(job.asset_layer.executable_asset_keys) == {*(dg.AssetKey(["raw", f]) for f in _feeds()), SUMMARY}
    assert job.executor_def is dg.in_process_executor


def _feeds():
    from jiuzhu.config import load_feeds

    return list(load_feeds())


def test_new_files_start_ingest_of_their_feed_only_as_of_today_in_beijing(landing):
    drop(landing, "wj_deaths", f"deaths_{ymd(1)}.csv", deaths(2))
    drop(landing, "wj_deaths", f"deaths_{ymd(0)}.csv", deaths(1))
    result = evaluate(landing)
    [request] = result.run_requests
    assert set(request.asset_selection) == {dg.AssetKey(["raw", "wj_deaths"]), SUMMARY}
    assert request.run_key.startswith("wj_deaths:")
    night = request.run_config["resources"]["night"]["config"]
    assert night == {"landing": str(landing.root), "as_of": today_in_county().isoformat()}
    assert request.tags == {
        "jiuzhu/feed": "wj_deaths",
        "jiuzhu/as_of": today_in_county().isoformat(),
        "jiuzhu/new_files": "2",
    }
    cursor = json.loads(result.cursor)
    assert list(cursor["requested"]) == ["wj_deaths"] and len(cursor["requested"]["wj_deaths"]) == 2
    # compact: 16 hex digits per file; and nothing of the files' contents anywhere
    assert all(len(s) == 16 for s in cursor["requested"]["wj_deaths"])
    assert "张三" not in repr(result) and ID1[:10] not in repr(result)
    # the next tick with that cursor: nothing new
    again = evaluate(landing, result.cursor)
    assert not again.run_requests and "no new files" in again.skip_reason.skip_message
    assert again.cursor == result.cursor


def test_a_restart_in_the_middle_of_a_batch_requests_only_the_new_files_and_repeats_run_keys(landing):
    drop(landing, "wj_deaths", f"a_{ymd(3)}.csv", deaths(1))
    drop(landing, "wj_deaths", f"b_{ymd(2)}.csv", deaths(2))
    first = evaluate(landing)
    assert keys(first).keys() == {"wj_deaths"}
    # the daemon stops; meanwhile more files arrive, for this feed and another one
    drop(landing, "wj_deaths", f"c_{ymd(1)}.csv", deaths(3))
    drop(landing, "xf_petitions", f"x_{ymd(1)}.csv", "信访编号,身份证号\n1,x\n")
    restart()
    second = evaluate(landing, first.cursor)
    assert keys(second).keys() == {"wj_deaths", "xf_petitions"}
    assert keys(second)["wj_deaths"] != keys(first)["wj_deaths"]
    [deaths_request] = [r for r in second.run_requests if r.tags["jiuzhu/feed"] == "wj_deaths"]
    assert deaths_request.tags["jiuzhu/new_files"] == "1"  # only c_…, not a_… and b_… again
    # the daemon crashed before it stored the second cursor: the same tick again gives the
    # same run keys, and Dagster launches nothing it has launched for those keys already
    restart()
    assert keys(evaluate(landing, first.cursor)) == keys(second)
    # and from scratch, the first batch alone has the key it had
    os.remove(landing.root / "wj_deaths" / f"c_{ymd(1)}.csv")
    assert keys(evaluate(landing, None))["wj_deaths"] == keys(first)["wj_deaths"]


def test_a_changed_file_is_new_the_same_bytes_under_another_name_are_not(landing):
    path = drop(landing, "wj_deaths", f"a_{ymd(2)}.csv", deaths(1))
    first = evaluate(landing)
    drop(landing, "wj_deaths", f"copy_of_a_{ymd(2)}.csv", path.read_text(encoding="utf-8"))
    assert not evaluate(landing, first.cursor).run_requests
    drop(landing, "wj_deaths", f"a_{ymd(2)}.csv", deaths(2))  # corrected in place
    changed = evaluate(landing, first.cursor)
    assert keys(changed).keys() == {"wj_deaths"} and keys(changed)["wj_deaths"] != keys(first)["wj_deaths"]


def test_a_file_still_being_written_or_dated_after_today_waits(landing):
    drop(landing, "wj_deaths", f"a_{ymd(1)}.csv", deaths(1), settled=False)
    drop(landing, "wj_deaths", f"a_{(today_in_county() + dt.timedelta(days=1)):%Y%m%d}.csv", deaths(2))
    result = evaluate(landing)
    assert not result.run_requests
    assert "still being written" in result.skip_reason.skip_message and "after today" in result.skip_reason.skip_message
    later = evaluate_landing(landing.root, result.cursor, today_in_county(), now=time.time() + 3600)
    assert len(later.run_requests) == 1 and later.run_requests[0].tags["jiuzhu/new_files"] == "1"
    tomorrow = evaluate_landing(
        landing.root, later.cursor, today_in_county() + dt.timedelta(days=1), now=time.time() + 3600
    )
    assert len(tomorrow.run_requests) == 1


def test_unchanged_files_are_not_read_again(landing, tmp_path, monkeypatch):
    for i in range(3):
        drop(landing, "wj_deaths", f"d{i}_{ymd(i + 1)}.csv", deaths(i + 1))
    cache_file = tmp_path / "home" / "state" / "landing_sha256.json"
    cache = files.Fingerprints(cache_file)
    first = evaluate_landing(landing.root, None, today_in_county(), cache=cache)
    assert cache.files_read == 3 and cache_file.is_file()
    reads = []
    monkeypatch.setattr(files, "sha256_of", lambda p: reads.append(p) or "0" * 64)
    restart()  # a new process reads the cache file
    again = files.Fingerprints(cache_file)
    assert not evaluate_landing(landing.root, first.cursor, today_in_county(), cache=again).run_requests
    assert reads == [] and again.files_read == 0
    assert "张三" not in cache_file.read_text(encoding="utf-8")  # names and hashes only


def test_the_requested_runs_load_every_file_once(landing, tmp_path):
    """The runs the sensor asks for, executed as the daemon would: each file loaded once, a
    file dropped today included, and a run repeated from an old cursor loads nothing again."""
    home = tmp_path / "home"
    job = build_definitions(home=str(home), landing=str(landing.root)).resolve_job_def(INGEST_JOB)
    instance = dg.DagsterInstance.ephemeral()

    def launch(result: dg.SensorResult) -> None:
        for request in result.run_requests:
            run = job.execute_in_process(
                run_config=request.run_config,
                asset_selection=list(request.asset_selection),
                instance=instance,
                tags={**request.tags, "dagster/run_key": request.run_key},
            )
            assert run.success

    drop(landing, "wj_deaths", f"a_{ymd(1)}.csv", deaths(2))
    drop(landing, "wj_deaths", f"b_{ymd(0)}.csv", HEADER + f"{ID1},李四,2026-01-03\n{ID2},王五\n")
    first = evaluate(landing)
    launch(first)
    drop(landing, "wj_deaths", f"c_{ymd(0)}.csv", deaths(3))
    restart()
    launch(evaluate(landing, first.cursor))
    launch(evaluate(landing, None))  # a lost cursor: everything asked for again, nothing loaded twice
    files = _q(home, "SELECT file_name, status, rows_loaded, rows_quarantined FROM audit.files ORDER BY file_name")
    assert files == [
        (f"a_{ymd(1)}.csv", "loaded", 2, 0),
        (f"b_{ymd(0)}.csv", "loaded", 1, 1),
        (f"c_{ymd(0)}.csv", "loaded", 3, 0),
    ]
    assert _q(home, "SELECT count(*) FROM raw.wj_deaths") == [(6,)]
    assert _q(home, "SELECT count(*) FROM audit.files WHERE feed <> 'wj_deaths'") == [(0,)]


# --- alerts -----------------------------------------------------------------------------------


def _failing_ingest(monkeypatch, feed: str = "wj_deaths"):
    """Ingest of ``feed`` raises, with row content in the message (as a careless parser would)."""
    import assets.raw

    real = assets.raw.ingest_feed

    def ingest_feed(con, spec, landing, as_of, run_id=None, **kwargs):
        if spec.name == feed:
            raise RuntimeError(f"cannot read row {ID1} '张三' at 东关街道")
        return real(con, spec, landing, as_of, run_id, **kwargs)

    monkeypatch.setattr(assets.raw, "ingest_feed", ingest_feed)


def _assert_no_personal_data(text: str) -> None:
    for secret in (ID1, ID1[:14], ID2, "张三", "李四", "王五"):
        assert secret not in text


def test_a_failed_ingest_run_writes_an_alert_with_the_feed_its_files_and_the_next_step(landing, tmp_path, monkeypatch):
    _failing_ingest(monkeypatch)
    home = tmp_path / "home"
    drop(landing, "wj_deaths", f"deaths_{ymd(1)}.csv", HEADER + f"{ID1},张三,2026-01-02\n")
    drop(landing, "xf_petitions", f"x_{ymd(1)}.csv", "信访编号,身份证号\n1,x\n")
    tick = evaluate(landing)
    job = build_definitions(home=str(home), landing=str(landing.root)).resolve_job_def(INGEST_JOB)
    instance = dg.DagsterInstance.ephemeral()
    results = {
        r.tags["jiuzhu/feed"]: job.execute_in_process(
            run_config=r.run_config,
            asset_selection=list(r.asset_selection),
            instance=instance,
            tags=r.tags,
            raise_on_error=False,
        )
        for r in tick.run_requests
    }
    assert results["xf_petitions"].success and not results["wj_deaths"].success
    failed = results["wj_deaths"]

    with dg.build_run_status_sensor_context(  # as the daemon evaluates it: resources set up, then torn down
        sensor_name="alert_on_run_failure",
        dagster_event=failed.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=failed.dagster_run,
        resources={"warehouse": Warehouse(home=str(home))},
    ) as context:
        alert_on_run_failure(context.for_run_failure())

    [alert] = (home / "alerts").iterdir()
    assert alert.name.endswith(f"_{failed.run_id[:8]}.md") and len(alert.name) == len("20261129T013000Z_") + 8 + 3
    text = alert.read_text(encoding="utf-8")
    assert f"`{INGEST_JOB}`" in text and "`raw/wj_deaths`" in text and "feed: `wj_deaths`" in text
    assert f"deaths_{ymd(1)}.csv" in text  # the file that did not make it, by name
    assert "RuntimeError: cannot read row <数字> '<值>'" in text
    assert f"`jiuzhu run --landing {landing.root} --home {home}`" in text and "re-execute the run from failure" in text
    assert "已加载的文件不会重复加载" in text and "Files already loaded are not loaded again" in text
    assert "xf_petitions" not in text  # that run succeeded
    _assert_no_personal_data(text)
    # one alert per run, however often it is asked for
    assert write_alert(instance, failed.dagster_run, home) == alert and len(list((home / "alerts").iterdir())) == 1


@pytest.mark.slow  # a whole night through the CLI
def test_jiuzhu_run_writes_the_same_alert_when_its_run_fails(landing, tmp_path, monkeypatch, capsys):
    from pipelines.nightly import run_night

    _failing_ingest(monkeypatch)
    home = tmp_path / "home"
    drop(landing, "wj_deaths", "deaths_20261101.csv", HEADER + f"{ID1},张三,2026-01-02\n")
    assert run_night(landing.root, home, dt.date(2026, 11, 28)) == 1
    [alert] = (home / "alerts").iterdir()
    text = alert.read_text(encoding="utf-8")
    assert "# 运行失败 Run failed: nightly" in text and "`raw/wj_deaths`" in text and "deaths_20261101.csv" in text
    assert f"jiuzhu run --landing {landing.root} --home {home} --as-of 2026-11-28" in text
    _assert_no_personal_data(text)
    assert str(alert) in capsys.readouterr().err


def test_error_messages_lose_ids_and_quoted_values_but_keep_file_names():
    assert (
        scrub("bad value '张三' in '民政救助对象名册_20261128.csv'")
        == "bad value '<值>' in '民政救助对象名册_20261128.csv'"
    )
    assert scrub('Could not convert "东关街道 12号" to INT') == 'Could not convert "<值>" to INT'
    assert (
        scrub("IO Error: cannot open '/srv/jiuzhu/home/warehouse.duckdb'")
        == "IO Error: cannot open '/srv/jiuzhu/home/warehouse.duckdb'"
    )

    class Info:  # the shape of Dagster's SerializableErrorInfo
        def __init__(self, cls_name, message, cause=None):
            self.cls_name, self.message, self.cause = cls_name, message, cause

    wrapped = Info(
        "DagsterExecutionStepExecutionError",
        "dagster.X: Error occurred",
        Info("IOException", f"duckdb.IOException: row {ID1}\nline 2"),
    )
    assert error_text(wrapped) == "IOException: row <数字>"
    assert error_text(None) == "unknown error"


def test_a_failed_scheduled_run_names_its_night_and_asset(tmp_path):
    """A tiny failing job in place of the night at 01:30: the alert names the asset, the night
    the run covered (the day before the tick, Beijing time) and the command that re-does it."""

    @dg.asset(key=["monitoring", "warnings"])
    def warnings_list():
        raise ValueError(f"household of '王五' ({ID2}) has no township")

    job = dg.define_asset_job("nightly", executor_def=dg.in_process_executor)
    tiny = dg.Definitions(assets=[warnings_list], jobs=[job]).resolve_job_def("nightly")
    instance = dg.DagsterInstance.ephemeral()
    result = tiny.execute_in_process(
        instance=instance, raise_on_error=False, tags={"dagster/scheduled_execution_time": "2026-11-29T01:30:00+08:00"}
    )
    assert not result.success
    home = tmp_path / "home"
    alert = write_alert(instance, result.dagster_run, home, landing=tmp_path / "landing")
    text = alert.read_text(encoding="utf-8")
    assert "`monitoring/warnings`" in text and "数据日期 as of: 2026-11-28" in text
    assert f"`jiuzhu run --landing {tmp_path / 'landing'} --home {home} --as-of 2026-11-28`" in text
    assert "ValueError: household of '<值>' (<数字>) has no township" in text and "## 文件" not in text
    _assert_no_personal_data(text)
