"""The Dagster side: definitions load and validate, assets materialise with their checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from assets.audit import ingest_summary_asset
from assets.common import NightSettings, Warehouse
from assets.raw import raw_assets
from checks.accounting import accounting_checks
from jiuzhu.config import load_feeds
from jiuzhu.idnumber import make_id
from pipelines.definitions import NIGHTLY_JOB, defs


def test_definitions_validate(tmp_path):
    env = {**os.environ, "JIUZHU_HOME": str(tmp_path), "JIUZHU_LANDING": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).parent / "dagster"
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "pipelines.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_asset_per_feed_in_the_nightly_job():
    keys = {a.key for a in raw_assets}
    assert keys == {dg.AssetKey(["raw", f]) for f in load_feeds()}
    job_keys = defs.resolve_job_def(NIGHTLY_JOB).asset_layer.executable_asset_keys
    assert keys | {ingest_summary_asset.key} <= set(job_keys)


def test_materialise_ingest_with_checks(landing):
    id1 = make_id("370725", "19800101", 123)
    landing.write("wj_deaths", "d_20261101.csv", f"身份证号,姓名,死亡日期\n{id1},张三,2026-01-02\n{id1},李四\n")
    landing.write("xf_petitions", "x_20261101.csv", "")
    result = dg.materialize(
        [*raw_assets, ingest_summary_asset, *accounting_checks],
        resources={
            "warehouse": Warehouse(home=str(landing.warehouse.parent)),
            "night": NightSettings(landing=str(landing.root), as_of="2026-11-28"),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(load_feeds()) and all(c.passed for c in checks)
    deaths = result.asset_materializations_for_node("raw__wj_deaths")[0].metadata
    assert deaths["rows_loaded"].value == 1 and deaths["rows_quarantined"].value == 1
    petitions = result.asset_materializations_for_node("raw__xf_petitions")[0].metadata
    assert petitions["files_rejected"].value == 1
    # metadata is for analysts: counts and file names, never a person's data
    text = " ".join(str(v.value) for v in deaths.values())
    assert id1 not in text and "张三" not in text


def test_the_policy_in_force_or_the_one_given(tmp_path):
    import datetime as dt

    import pytest
    import yaml

    from jiuzhu.config import load_policy, policy_files

    assert NightSettings(landing="x", as_of="2026-11-28").policy_in_force().standards.dibao_standard_urban == 850
    with pytest.raises(ValueError, match="no policy file is in force"):
        load_policy(dt.date(2020, 1, 1))
    custom = yaml.safe_load(policy_files()[-1].read_text(encoding="utf-8")) | {"effective_date": dt.date(2026, 1, 1)}
    custom["standards"]["dibao_standard_urban"] = 900
    path = tmp_path / "2026.yaml"
    path.write_text(yaml.safe_dump(custom, allow_unicode=True), encoding="utf-8")
    assert (
        NightSettings(landing="x", as_of="2026-11-28", policy=str(path))
        .policy_in_force()
        .standards.dibao_standard_urban
        == 900
    )


def test_the_night_is_scheduled_at_0130_beijing_time():
    import datetime as dt
    from zoneinfo import ZoneInfo

    schedule = defs.resolve_schedule_def("nightly_0130_beijing")
    assert schedule.cron_schedule == "30 1 * * *" and schedule.execution_timezone == "Asia/Shanghai"
    assert schedule.job_name == NIGHTLY_JOB
    when = dt.datetime(2026, 11, 29, 1, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert len(requests) == 1
    assert requests[0].partition_key == "2026-11-28"  # the run covers the day that just ended
    # …also on the first night of a month and of a year
    for tick, night in (
        (dt.datetime(2026, 12, 1, 1, 30), "2026-11-30"),
        (dt.datetime(2027, 1, 1, 1, 30), "2026-12-31"),
    ):
        with dg.build_schedule_context(
            scheduled_execution_time=tick.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
        ) as context:
            assert [r.partition_key for r in schedule.evaluate_tick(context).run_requests] == [night]


def test_a_production_profile_replaces_the_local_instance_config(tmp_path, monkeypatch):
    from pipelines.instance import prepare_home

    profile = tmp_path / "production.yaml"
    profile.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("JIUZHU_DAGSTER_YAML", str(profile))
    for name in ("DAGSTER_HOME", "JIUZHU_HOME"):  # prepare_home points this process at the home: restore after
        monkeypatch.setenv(name, str(tmp_path))
    prepare_home(tmp_path / "home")
    assert (tmp_path / "home" / "dagster" / "dagster.yaml").read_text(encoding="utf-8") == profile.read_text(
        encoding="utf-8"
    )
    monkeypatch.delenv("JIUZHU_DAGSTER_YAML")
    prepare_home(tmp_path / "home")  # back to the repository's local default
    assert "sqlite" in (tmp_path / "home" / "dagster" / "dagster.yaml").read_text(encoding="utf-8")


def test_a_policy_that_breaks_items_1_and_2_stops_core(tmp_path):
    """core reads the policy in force, so that the policy's blocking check stops core (and all after it)."""

    import yaml

    from assets.core import core_as_of
    from assets.monitoring import policy_in_force
    from checks.monitoring_checks import policy_complies
    from jiuzhu.config import policy_files

    bad = yaml.safe_load(policy_files()[-1].read_text(encoding="utf-8"))
    bad["standards"]["dibao_standard_urban"] = 1200  # above 35 % of consumption (item 1)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    result = dg.materialize(
        [policy_in_force, policy_complies, core_as_of],
        resources={
            "warehouse": Warehouse(home=str(tmp_path)),
            "night": NightSettings(landing=str(tmp_path), as_of="2026-11-28", policy=str(path)),
        },
        instance=dg.DagsterInstance.ephemeral(),
        partition_key="2026-11-28",
        raise_on_error=False,
    )
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [policy_in_force.key]
    assert "core_as_of" not in {e.step_key for e in result.all_events if e.is_step_start}  # not even started
