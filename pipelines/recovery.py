"""What a dead run leaves behind is cleared before the next one; a live one is never waited for.

A run whose process died (kill -9, out of memory, a full disk, an abort) stays STARTED in the
instance and keeps its slot in the ``warehouse`` pool, so every later run would wait for that
slot forever. Before a night starts (`jiuzhu run`, `jiuzhu daemon`, and every minute in the
daemon through the sensor ``recover_dead_runs``):

- a run in progress whose process is gone is marked failed, its concurrency slots are freed,
  and an alert is written;
- slots still held by runs that have ended are freed;
- the home's scratch folder (copies of files being read, DuckDB's spill files) is emptied,
  when no run of the home is alive (by `jiuzhu run` and at the daemon's start, not by the
  sensor: a run the daemon launches next may already be filling it).

A run's process is the one that reported the run's start (its events carry the pid). A pid is
only taken as that process if the process began before the run did: pids are reused.

`jiuzhu run` also holds ``<home>/run.lock`` (an advisory lock the kernel releases when the
process ends, however it ends): a second `jiuzhu run` on the same home stops at once and says
which process holds it.
"""

# no `from __future__ import annotations`: Dagster reads the sensor's type hints at definition time
import datetime as dt
import fcntl
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from assets.common import WAREHOUSE_POOL, Warehouse
from warehouse.resource import SCRATCH_DIR

IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
START_GRACE_SECONDS = 300  # a run that has not reported its start after this long never will (run monitoring's timeout)
LOCK_FILE = "run.lock"


@dataclass(frozen=True)
class LiveRun:
    run_id: str
    job_name: str
    pid: int | None


# --- processes -------------------------------------------------------------------------------


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            return next(float(line.split()[1]) for line in fh if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_started_at(pid: int, fields: list[str] | None = None) -> float | None:
    """When the process began (seconds since the epoch), from /proc; None where unknown."""
    fields = fields if fields is not None else _stat_fields(pid)
    boot = _boot_time()
    if fields is None or boot is None or len(fields) < 20:
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, not_after: float | None = None) -> bool:
    """The process exists, is not a zombie, and (when ``not_after`` is given) began no later than
    that moment — a younger process with the same pid is somebody else."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, under another user
    fields = _stat_fields(pid)
    if fields and fields[0] == "Z":
        return False
    started = process_started_at(pid, fields)
    return not (not_after is not None and started is not None and started > not_after + 2)


# --- runs ------------------------------------------------------------------------------------


def run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process that executes the run (the one that reported its start)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, limit=1, ascending=False
    ).records
    if records and records[0].event_log_entry.dagster_event is not None:
        return records[0].event_log_entry.dagster_event.pid
    return None


def _started(record) -> float:
    return record.start_time or record.create_timestamp.timestamp()


def dead_and_live_runs(instance: dg.DagsterInstance, now: float | None = None) -> tuple[list, list[LiveRun]]:
    """Run records in progress whose process is gone, and the live runs (with their pids)."""
    now = time.time() if now is None else now
    dead, live = [], []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        pid = run_pid(instance, run.run_id)
        if pid is None:
            alive = now - record.create_timestamp.timestamp() < START_GRACE_SECONDS  # may still start
        else:
            # this very process runs nothing yet: a run it left in progress died with an earlier night
            alive = pid != os.getpid() and process_alive(pid, not_after=_started(record))
        (live.append(LiveRun(run.run_id, run.job_name, pid)) if alive else dead.append(record))
    return dead, live


def free_slots_of_ended_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the warehouse pool's slots (and pending claims) held by runs no longer in progress."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:  # storage without pools (an old instance): nothing can be held
        return []
    info = storage.get_concurrency_info(WAREHOUSE_POOL)
    holders = {s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps}
    freed = []
    for run_id in sorted(holders):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status not in IN_PROGRESS:
            storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
    return freed


def close_run(instance: dg.DagsterInstance, run_id: str, message: str) -> dg.DagsterRun | None:
    """Mark a run that will never finish as failed (if it is not over yet) and free its slots."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return None
    if run.status in IN_PROGRESS or run.status == dg.DagsterRunStatus.NOT_STARTED:
        instance.report_run_failed(run, message=message)
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return instance.get_run_by_id(run_id) or run


def clear_scratch(home: Path) -> None:
    """Empty the home's scratch folder (only when no run of the home is alive)."""
    folder = home / SCRATCH_DIR
    if folder.is_dir():
        for child in folder.iterdir():
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)


@dataclass(frozen=True)
class Recovery:
    dead: list[str]  # runs marked failed
    freed: list[str]  # ended runs whose slots were still held
    live: list[LiveRun]  # runs still alive: the caller must not wait for them


def recover(instance: dg.DagsterInstance, home: Path, on_dead, why: str, clear: bool = True) -> Recovery:
    """Clear what dead runs left; ``on_dead(run)`` is called for each (to write its alert). With
    ``clear``, the scratch folder is emptied when no run of the home is alive."""
    dead, live = dead_and_live_runs(instance)
    for record in dead:
        run = close_run(
            instance,
            record.dagster_run.run_id,
            f"运行进程已不存在，标记为失败并释放并发槽位 the run's process is gone ({why})",
        )
        on_dead(run or record.dagster_run)
    freed = free_slots_of_ended_runs(instance)
    if clear and not live:
        clear_scratch(home)
    return Recovery([r.dagster_run.run_id for r in dead], freed, live)


# --- the home lock ---------------------------------------------------------------------------


class HomeBusy(RuntimeError):
    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


class HomeLock:
    """An exclusive advisory lock on ``<home>/run.lock``; the kernel drops it when the process ends."""

    def __init__(self, home: Path):
        self.path = home / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> "HomeLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise HomeBusy(holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {dt.datetime.now().astimezone():%Y-%m-%d %H:%M:%S %z}".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


# --- the daemon's side ------------------------------------------------------------------------


@dg.sensor(
    name="recover_dead_runs",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "每分钟检查：进程已不存在却仍显示“运行中”的运行（被强制结束、内存耗尽、断电等）标记为失败、释放仓库并发槽位，并写告警，"
        "使后续运行不会无限等待。\n\nEvery minute: runs whose process is gone (killed, out of memory, power loss) are "
        "marked failed, their warehouse pool slots freed and an alert written, so later runs never wait forever."
    ),
)
def recover_dead_runs(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SkipReason:
    from pipelines.alerts import write_alert

    home = Path(warehouse.home)

    def on_dead(run: dg.DagsterRun) -> None:
        context.log.error(
            f"运行 {run.run_id} 的进程已不存在，已标记失败 run marked failed, alert {write_alert(context.instance, run, home)}"
        )

    # the scratch folder is left alone here: a run the daemon launches next may be filling it already
    done = recover(context.instance, home, on_dead, "found by the daemon", clear=False)
    return dg.SkipReason(f"recovered {len(done.dead)} dead run(s), freed slots of {len(done.freed)} ended run(s)")
