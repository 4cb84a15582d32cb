"""The operator's service, run as the operator runs it (`jiuzhu run` in its own process):

- a night killed with -9 while a step holds the warehouse's slot leaves nothing that blocks the
  next one: the next run recovers, completes, and gives what an undisturbed night gives;
- SIGTERM ends a run promptly and leaves the instance clean; a second run of a home that is
  busy stops at once instead of waiting;
- what the night writes is the service account's only, and the warehouse is encrypted: no ID
  number or name can be read from its bytes, and a wrong or missing key is refused, never
  answered with a new empty warehouse.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from pipelines.cli import main
from pipelines.recovery import IN_PROGRESS
from pipelines.settings import WAREHOUSE_POOL
from warehouse.resource import connect

AS_OF = "2026-11-28"
KEYS = {"JIUZHU_PERSON_KEY": "5a" * 32, "JIUZHU_WAREHOUSE_KEY": "c3" * 32}
TIMEOUT = 240  # seconds: a run that waits for a slot forever fails the test instead of hanging it


@pytest.fixture(scope="module", autouse=True)
def keys():
    """The keys the runs use, for this process too (it reads the warehouses they write)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in KEYS.items():
            mp.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ops") / "county"
    assert main(["synth", "--out", str(out), "--households", "200", "--as-of", AS_OF, "--quiet"]) == 0
    return out / "landing"


def jiuzhu_run(landing: Path, home: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run", "--landing", str(landing), "--home", str(home), "--as-of", AS_OF],
        env={**os.environ, **KEYS, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out + err


def instance_of(home: Path) -> dg.DagsterInstance:
    """The home's instance, as `jiuzhu ui` would open it (its dagster.yaml keeps storage under $DAGSTER_HOME)."""
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    return dg.DagsterInstance.get()


def wait_for_a_held_slot(home: Path, after_steps: int) -> None:
    """Until the run has finished ``after_steps`` steps and one of its steps holds the warehouse slot."""
    deadline, instance = time.time() + TIMEOUT, None
    while time.time() < deadline:
        if instance is None and (home / "dagster" / "dagster.yaml").exists():
            instance = instance_of(home)
        if instance is not None:
            try:
                runs = instance.get_runs()
                done = sum(len(instance.get_records_for_run(r.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records)
                           for r in runs)
                held = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
                if done >= after_steps and held:
                    return
            except Exception:  # noqa: BLE001 — the other process is still creating the instance's tables
                pass
        time.sleep(0.2)
    raise AssertionError("the run never reached a step holding the warehouse slot")


def night_state(home: Path) -> dict:
    """What a night leaves, without the ids and times that differ between runs."""
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        return {
            "files": q("SELECT feed, file_name, sha256, status, reason_code, rows_read, rows_loaded, rows_quarantined "
                       "FROM audit.files ORDER BY ALL"),
            "quarantine": q("SELECT feed, file_name, row_number, reason_code, stage FROM audit.quarantine ORDER BY ALL"),
            "raw_rows": q("SELECT count(*) FROM raw.mz_members"),
            "features": q("SELECT * FROM core.household_features ORDER BY household_id"),
            "warnings": q("SELECT * EXCLUDE (warning_id) FROM monitoring.warnings ORDER BY ALL"),
            "scores": q("SELECT * FROM monitoring.household_scores ORDER BY household_id"),
        }


@pytest.fixture(scope="module")
def undisturbed(county, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("undisturbed") / "home"
    code, output = finish(jiuzhu_run(county, home))
    assert code == 0, output
    return home


def test_sigterm_kill9_and_a_busy_home_never_block_the_next_night(county, undisturbed, tmp_path):
    home = tmp_path / "home"

    # SIGTERM while a step holds the slot: the run ends promptly, marked failed, nothing held
    first = jiuzhu_run(county, home)
    wait_for_a_held_slot(home, after_steps=3)
    second = jiuzhu_run(county, home)  # the same home, while the first runs: stops at once
    code, output = finish(second)
    assert code == 75 and "HOME_BUSY" in output and f"pid {first.pid}" in output
    first.send_signal(signal.SIGTERM)
    sent = time.time()
    code, output = finish(first)
    assert time.time() - sent < 15, "SIGTERM must end the run promptly"
    assert code == 128 + signal.SIGTERM and "INTERRUPTED" in output
    instance = instance_of(home)
    assert not instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
    assert not instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
    assert list((home / "alerts").glob("*.md"))

    # kill -9 later in the night: its run stays STARTED and keeps the slot, as a crash leaves it
    killed = jiuzhu_run(county, home)
    wait_for_a_held_slot(home, after_steps=25)
    killed.kill()
    killed.wait()
    instance = instance_of(home)
    assert instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots

    code, output = finish(jiuzhu_run(county, home))  # the next night: recovers and completes
    assert code == 0, output
    assert "RECOVERED" in output
    assert not instance_of(home).get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
    assert not list((home / "tmp").glob("jiuzhu-ingest-*"))  # the dead run's scratch is gone
    assert night_state(home) == night_state(undisturbed)  # nothing lost, nothing twice


def test_only_the_service_account_can_read_the_home(undisturbed):
    assert stat.S_IMODE(undisturbed.stat().st_mode) == 0o700
    opened = [p for p in undisturbed.rglob("*") if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert opened == []
    for must in ("warehouse.duckdb", "dagster/dagster.yaml", f"exports/{AS_OF}/manifest.json"):
        assert (undisturbed / must).exists(), must
    assert list((undisturbed / "dagster").rglob("*.db"))  # the instance's databases are among them


def test_the_warehouse_is_encrypted_and_a_wrong_or_missing_key_is_refused(county, undisturbed, tmp_path):
    with connect(undisturbed / "warehouse.duckdb", read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT DISTINCT id_number FROM staging.mz_members LIMIT 50").fetchall()]
        names = [r[0] for r in con.execute("SELECT DISTINCT name FROM staging.mz_members WHERE length(name) >= 3 LIMIT 50").fetchall()]
    data = (undisturbed / "warehouse.duckdb").read_bytes()
    assert ids and names
    assert not any(i.encode() in data for i in ids) and not any(n.encode() in data for n in names)

    home = tmp_path / "copy"  # a copy, so the other tests keep theirs
    subprocess.run(["cp", "-a", str(undisturbed), str(home)], check=True)
    before = (home / "warehouse.duckdb").stat()
    code, output = finish(jiuzhu_run(county, home, env={"JIUZHU_WAREHOUSE_KEY": "77" * 32}))
    assert code == 1 and "WAREHOUSE_KEY" in output and "密钥不对" in output
    assert "Traceback" not in output
    key_free = {k: v for k, v in os.environ.items() if k != "JIUZHU_WAREHOUSE_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--landing", str(county), "--home", str(home), "--as-of", AS_OF],
        env={**key_free, "JIUZHU_PERSON_KEY": KEYS["JIUZHU_PERSON_KEY"]}, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert proc.returncode == 1 and "找不到密钥" in proc.stderr  # no key file in the copy's secrets: it was set by env
    after = (home / "warehouse.duckdb").stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)  # never a new warehouse
    assert len(list((home / "alerts").glob("*warehouse_key.md"))) == 2
