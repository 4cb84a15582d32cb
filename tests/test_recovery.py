"""The daemon's side of crash recovery, and the pieces `jiuzhu run` stands on: a run whose
process died is found and closed (its pool slot freed, an alert written), a pid taken over by a
younger process is not the run's, and a busy home is refused at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.common import WAREHOUSE_POOL, Warehouse
from pipelines.instance import prepare_home
from pipelines.recovery import HomeBusy, HomeLock, process_alive, recover_dead_runs

# A run worker as the daemon would start it: one step in the warehouse pool, which takes a while.
WORKER = textwrap.dedent("""
    import time
    import dagster as dg

    @dg.asset(pool="warehouse")
    def slow_step():
        time.sleep(120)

    job = dg.Definitions(assets=[slow_step]).resolve_implicit_global_asset_job_def()
    job.execute_in_process(instance=dg.DagsterInstance.get())
""")


def test_the_daemons_sensor_closes_a_run_whose_worker_was_killed(tmp_path, monkeypatch):
    home = tmp_path / "home"
    prepare_home(home, tmp_path / "landing")  # the home's instance, with the warehouse pool of one slot
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    instance = dg.DagsterInstance.get()
    deadline = time.time() + 60
    while not instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots:
        assert time.time() < deadline, "the worker never took the slot"
        time.sleep(0.2)
    worker.kill()  # kill -9: out of memory, power loss
    worker.wait()
    [run] = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.STARTED  # as a crash leaves it: started, holding its slot

    # as the daemon does: the resources set up for the evaluation, torn down after it
    with dg.build_sensor_context(instance=instance, resources={"warehouse": Warehouse(home=str(home))}) as context:
        result = recover_dead_runs(context)
        assert "recovered 1 dead run" in result.skip_message
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert not instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
        [alert] = (home / "alerts").glob(f"*_{run.run_id[:8]}.md")
        assert "进程已不存在" in alert.read_text(encoding="utf-8")
        # a second look finds nothing more to do
        assert "recovered 0 dead run" in recover_dead_runs(context).skip_message


def test_a_pid_is_the_runs_only_if_its_process_began_before_the_run():
    me = os.getpid()
    assert process_alive(me, not_after=time.time())
    assert not process_alive(me, not_after=time.time() - 3600)  # a younger process took the pid
    done = subprocess.Popen(["true"])
    done.wait()
    assert not process_alive(done.pid)


def test_a_busy_home_is_refused_at_once_and_named(tmp_path):
    with HomeLock(tmp_path):
        with pytest.raises(HomeBusy) as busy:
            with HomeLock(tmp_path):
                pass
        assert f"pid {os.getpid()}" in busy.value.holder
    with HomeLock(tmp_path):  # released when the first holder ends, however it ends
        pass
    assert Path(tmp_path / "run.lock").exists()
