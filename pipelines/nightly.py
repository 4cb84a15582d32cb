"""One night, end to end: materialise the nightly job in the home's Dagster instance and
tell the operator what was loaded, what was rejected and why.

Whatever happened to the night before, this one runs, or says in one line what is wrong:
- only one `jiuzhu run` per home at a time (pipelines/recovery.py HomeLock): a second one
  stops at once, naming the process that holds the home;
- before the night: checks of the disk, the policy file and the warehouse (a damaged,
  missing or wrongly keyed warehouse is a fault, never a new empty one); runs left behind
  by dead processes are marked failed and their concurrency slots freed; a live run of the
  same home (one the daemon launched) makes this one stop, never wait;
- Ctrl-C or SIGTERM ends the run promptly: it is marked failed, its slots freed, an alert
  written; the warehouse's writes are transactional, and the next run redoes the night;
- the summary printed is this run's own: figures of a step that did not succeed tonight are
  never printed as tonight's.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import threading
import uuid
from pathlib import Path

import dagster as dg

from exports.supervision import percent
from ingest.problems import safe_message
from jiuzhu.config import load_policy
from jiuzhu.policy import PolicyError
from pipelines.alerts import error_text, write_alert
from pipelines.definitions import NIGHTLY_JOB, build_definitions
from pipelines.faults import (
    MIN_FREE_BYTES,
    Fault,
    diagnose,
    disk_full,
    free_bytes,
    warehouse_damaged,
    write_fault_alert,
)
from pipelines.instance import open_instance
from pipelines.progress import StepPrinter
from pipelines.recovery import HomeBusy, HomeLock, clear_scratch, close_run, recover
from transform.audit.ingest_summary import ingest_summary
from transform.monitoring.feedback import not_taken_summary
from warehouse.encryption import WarehouseKeyError, WarehouseMissing
from warehouse.person_key import PersonKeyError, install, load_key
from warehouse.resource import connect

QUIET_DAGSTER = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
EXIT_OK, EXIT_FAILED, EXIT_BUSY = 0, 1, 75  # 75: EX_TEMPFAIL, try again later
WARNINGS = dg.AssetKey(["monitoring", "warnings"])
GATE = dg.AssetKey(["audit", "feed_gate"])
SCORECARDS = dg.AssetKey(["audit", "scorecards"])
SUPERVISION = dg.AssetKey(["monitoring", "township_supervision"])


def run_night(landing: Path, home: Path, as_of: dt.date, policy: Path | None = None, rebuild: bool = False) -> int:
    try:
        home.mkdir(parents=True, exist_ok=True)
        with HomeLock(home):
            return _run(landing, home, as_of, policy, rebuild)
    except HomeBusy as busy:
        print(
            f"错误 HOME_BUSY：另一个 jiuzhu run 正在处理 {home}（{busy.holder}）。请等它结束，或停止该进程后再运行。\n"
            f"HOME_BUSY: another jiuzhu run is working on {home} ({busy.holder}); wait for it or stop it.",
            file=sys.stderr,
        )
        return EXIT_BUSY
    except Exception as exc:  # noqa: BLE001 — the command's boundary: anything else before or around the run
        # (a full disk, a broken instance) ends in one diagnosed line and an alert, never a traceback
        text = safe_message(exc, limit=300)
        return _fail(
            home,
            diagnose(text, home) or Fault("RUN_ERROR", f"运行无法进行：{text}", f"the night could not run: {text}"),
        )


def _run(landing: Path, home: Path, as_of: dt.date, policy: Path | None, rebuild: bool) -> int:
    instance = open_instance(home, landing)
    # first what dead runs left (a live one is reported, never waited for), then the night's own checks
    live = recover(
        instance,
        home,
        lambda run: _dead_run_alert(instance, run, home, landing),
        "kill -9, out of memory, abort or power loss",
    ).live
    if live:
        run = live[0]
        print(
            f"错误 RUN_ALIVE：这个家目录的运行 {run.run_id}（作业 {run.job_name}，进程 {run.pid or '尚未启动'}）仍在进行，"
            f"本次不等待、直接退出。请等它结束（jiuzhu ui --home {home} 中可查看或停止）后再运行。\n"
            f"RUN_ALIVE: run {run.run_id} of this home is still in progress; not waiting for it. Let it finish "
            "(or stop it in the UI), then run again.",
            file=sys.stderr,
        )
        return EXIT_BUSY
    fault = preflight(home, as_of, policy)
    if fault is not None:
        return _fail(home, fault)

    defs = build_definitions(
        home=str(home), landing=str(landing), policy=str(policy.resolve()) if policy else "", rebuild=rebuild
    )
    job = defs.resolve_job_def(NIGHTLY_JOB)
    print(f"jiuzhu 夜间运行 nightly run — as of {as_of}, landing {landing}, home {home}", flush=True)
    run_id = str(uuid.uuid4())  # known before the run starts, so that a signal can close it
    outcome: dict = {}

    def execute() -> None:
        try:  # the night is the job's partition, as for the schedule and a backfill from the UI
            outcome["result"] = job.execute_in_process(
                instance=instance,
                run_config=QUIET_DAGSTER,
                raise_on_error=False,
                partition_key=as_of.isoformat(),
                run_id=run_id,
            )
        except BaseException as exc:  # noqa: BLE001 — reported below, never lost
            outcome["error"] = exc

    # The run goes on in a worker thread, so that this thread keeps the signals: Dagster defers
    # Ctrl-C inside a run until its next checkpoint, which a step that waits never reaches.
    worker = threading.Thread(target=execute, name="jiuzhu-night", daemon=True)
    stop = _StopOnSignal()
    steps = StepPrinter(instance, run_id)
    worker.start()
    while worker.is_alive():
        worker.join(0.5)
        if stop.signum is not None:
            _abort(instance, home, landing, run_id, stop.signum)
        steps.poll()
    stop.restore()
    steps.poll()
    if "error" in outcome:
        exc = outcome["error"]
        text = safe_message(exc, limit=300)
        fault = diagnose(text, home) or Fault("RUN_ERROR", f"运行出错：{text}", f"the run failed: {text}")
        close_run(instance, run_id, fault.en)
        return _fail(home, fault)
    return _report(instance, outcome["result"], home, landing, as_of)


def preflight(home: Path, as_of: dt.date, policy: Path | None) -> Fault | None:
    """What would make the night fail, found before it starts."""
    if free_bytes(home) < MIN_FREE_BYTES:
        return disk_full(home)
    try:
        load_policy(as_of, policy)
    except PolicyError as exc:
        return Fault(
            "POLICY",
            f"{exc} 请改正政策文件后重新运行。",
            "the policy file is invalid (see the Chinese line); fix it and run again.",
        )
    except ValueError as exc:  # no policy in force on the date
        return Fault("POLICY", f"{exc}", f"{exc}")
    try:
        with connect(home / "warehouse.duckdb") as con:
            # every block of the file register is read (a damaged block fails its check here, not mid-night)
            con.execute("SELECT count(*), sum(hash(COLUMNS(*))) FROM audit.files").fetchall()
            install(con, load_key(home))  # the person key the warehouse was built with
    except WarehouseKeyError as exc:
        return Fault("WAREHOUSE_KEY", str(exc), "the warehouse key is missing or wrong (see the Chinese line).")
    except WarehouseMissing as exc:
        return Fault("WAREHOUSE_MISSING", str(exc), "the warehouse of this home is missing (see the Chinese line).")
    except PersonKeyError as exc:
        return Fault("PERSON_KEY", str(exc), "the person key is missing or wrong (see the Chinese line).")
    except Exception as exc:  # noqa: BLE001 — a damaged file, a full disk, a lock held by another process:
        # whatever DuckDB or the disk raised, the night must not start, and the fault says why in one line
        text = safe_message(exc, limit=300)
        return diagnose(text, home) or (
            warehouse_damaged(home)
            if (home / "warehouse.duckdb").exists()
            else Fault("WAREHOUSE_ERROR", f"仓库无法打开：{text}", f"the warehouse cannot be opened: {text}")
        )
    return None


def _fail(home: Path, fault: Fault) -> int:
    print(fault.line, file=sys.stderr)
    try:
        print(f"告警 alert: {write_fault_alert(home, fault)}", file=sys.stderr)
    except OSError as exc:  # a full disk may not take the alert either: the console line is all there is
        print(f"（告警文件无法写入 the alert could not be written: {exc.strerror}）", file=sys.stderr)
    return EXIT_FAILED


def _dead_run_alert(instance: dg.DagsterInstance, run: dg.DagsterRun, home: Path, landing: Path) -> None:
    path = write_alert(instance, run, home, landing)
    print(
        f"已清理 RECOVERED：运行 {run.run_id}（{run.job_name}）的进程已不存在，已标记为失败并释放槽位。告警 alert: {path}",
        file=sys.stderr,
    )


class _StopOnSignal:
    """Ctrl-C and SIGTERM noted in the main thread (the run's thread cannot receive them)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        # only the main thread may take signals (a caller on another thread keeps the defaults)
        main = threading.current_thread() is threading.main_thread()
        self.previous = {s: signal.signal(s, self._note) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}

    def _note(self, signum, _frame) -> None:
        self.signum = signum

    def restore(self) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def _abort(instance: dg.DagsterInstance, home: Path, landing: Path, run_id: str, signum: int) -> None:
    """Stop now: the run marked failed, its slots freed, an alert written, then the process ends.
    The warehouse needs nothing: what a step had not committed is rolled back when it is next opened."""
    name = signal.Signals(signum).name
    alert = None
    try:
        run = close_run(instance, run_id, f"中断 interrupted by {name}")
        if run is not None:
            alert = write_alert(instance, run, home, landing)
        clear_scratch(home)
        print(
            f"已中断 INTERRUPTED by {name}：运行 {run_id} 已标记为失败并释放槽位；重新运行同一命令即可重做这一晚。"
            f"{f' 告警 alert: {alert}' if alert else ''}",
            file=sys.stderr,
            flush=True,
        )
    finally:  # whatever happened above, end now: the run's thread may be inside DuckDB
        os._exit(128 + signum)


def _report(instance: dg.DagsterInstance, result, home: Path, landing: Path, as_of: dt.date) -> int:
    built = {e.asset_key for e in result.get_asset_materialization_events() if e.asset_key is not None}
    try:
        with connect(home / "warehouse.duckdb", read_only=True) as con:
            print_summary(ingest_summary(con, result.run_id), ingest_summary(con))
            # only what this run built is this night's: an earlier run's rows for the date are not
            if GATE in built:
                print_gate(con, as_of)
            if SCORECARDS in built:
                print_freshness(con, as_of)
            if WARNINGS in built:
                print_warnings(con, as_of)
            if SUPERVISION in built:
                print_feedback(con, as_of)
    except Exception as exc:  # noqa: BLE001 — the warehouse cannot be read now (damaged, full disk): said in one
        # line; the run's own outcome and alert below must still be reported
        text = safe_message(exc)
        print(f"（汇总无法读取 the summary could not be read: {text}）", file=sys.stderr)
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    for e in failed:
        level = "警告 WARN " if e.severity == dg.AssetCheckSeverity.WARN else "错误 ERROR"
        print(f"{level} check {e.asset_key.to_user_string()} · {e.check_name}")
    if result.success:
        exports = home / "exports" / as_of.isoformat()
        print(
            f"完成 done. 仓库 warehouse: {home / 'warehouse.duckdb'}\n导出 exports: {exports}"
            f"\n查看 browse: jiuzhu ui --home {home}   (run {result.run_id})"
        )
        return EXIT_OK
    failures = result.get_step_failure_events()
    for event in failures:
        print(f"失败 FAILED step {event.step_key}: {error_text(event.step_failure_data.error)}", file=sys.stderr)
    done = len({e.step_key for e in result.get_step_success_events()})
    skipped = len({e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SKIPPED})
    fault = diagnose(" ".join(error_text(e.step_failure_data.error) for e in failures), home)
    if fault is not None:
        print(fault.line, file=sys.stderr)
    print(
        f"运行失败：{len(failures)} 个步骤失败，{done} 个步骤完成，{skipped} 个依赖它们的步骤未运行（上面列出的汇总只含本次完成的部分）。"
        f"请在 `jiuzhu ui --home {home}` 中查看运行 {result.run_id} 的日志，修复后重新运行同一命令（已加载的文件不会重复加载）。",
        file=sys.stderr,
    )
    print(f"告警 alert: {write_alert(instance, result.dagster_run, home, landing)}", file=sys.stderr)
    return EXIT_FAILED


def print_warnings(con, as_of: dt.date) -> None:
    """The night's list in one line, and the rules that could not be evaluated."""
    total, new, escalated = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE status = 'new'), count(*) FILTER (WHERE status = 'escalated')
           FROM monitoring.warnings WHERE as_of_date = ?""",
        [as_of],
    ).fetchall()[0]
    resolved = con.execute(
        "SELECT count(*) FROM monitoring.resolved_warnings WHERE as_of_date = ?", [as_of]
    ).fetchall()[0][0]
    blocked = con.execute(
        "SELECT rule_code, reason FROM monitoring.rule_status WHERE as_of_date = ? AND NOT evaluated ORDER BY 1",
        [as_of],
    ).fetchall()
    print(f"预警 warnings: {total}（新增 new {new}，升级 escalated {escalated}，解除 resolved {resolved}）")
    for code, reason in blocked:
        print(f"未能评估 NOT EVALUATED {code}: {reason}")


def print_feedback(con, as_of: dt.date) -> None:
    """The township loop in one line: deadlines kept, and answers that could not be taken (to date)."""
    supervision = con.execute(
        """SELECT overdue, open_warnings, answered_on_time_share FROM monitoring.township_supervision
           WHERE as_of_date = ? AND township_code = '合计'""",
        [as_of],
    ).fetchall()
    by_reason, again = not_taken_summary(con, as_of)
    if supervision:
        overdue, open_warnings, on_time = supervision[0]
        shown = percent(on_time) or "—"
        rejected = ", ".join(f"{code} ×{n}" for code, n in by_reason) or 0
        resent = f"；重复报送（只计一次） re-sent, counted once: {again}" if again else ""
        print(
            f"镇街反馈 feedback: 逾期未反馈 overdue {overdue} / {open_warnings}，按期反馈率 answered on time {shown}"
            f"；未采用的反馈行（累计） rows not taken to date: {rejected}{resent}"
        )


def print_gate(con, as_of: dt.date) -> None:
    """Feeds tonight's rules cannot use, and why (audit.feed_gate)."""
    rows = con.execute(
        "SELECT feed, problems FROM audit.feed_gate WHERE as_of_date = ? AND NOT usable ORDER BY feed", [as_of]
    ).fetchall()
    for feed, problems in rows:
        print(f"不可用 NOT USABLE tonight: {feed} — {problems}")


def print_freshness(con, as_of: dt.date) -> None:
    """Departments that stopped delivering: one line per feed whose newest loaded extract is older
    than its spec's max_age on the as-of date, or that never delivered (transform/audit/freshness.py)."""
    from transform.audit.freshness import freshness

    for f in freshness(con, as_of):
        if not f.fresh:
            print(f"逾期 STALE {f.feed} — {f.message_en}")


def print_summary(tonight: list[dict], to_date: list[dict]) -> None:
    """Per feed: files loaded / rejected / duplicate / waiting tonight, data rows, rows quarantined, top reasons."""
    from jiuzhu.config import load_feeds

    by_feed = {r["feed"]: r for r in tonight}
    totals = {r["feed"]: r for r in to_date}
    print(
        f"{'feed':<16}{'loaded':>7}{'rejected':>9}{'dup':>5}{'wait':>5}{'rows':>11}{'quarant.':>9}   top reasons (tonight)"
    )
    for feed in sorted(set(load_feeds()) | set(totals) | set(by_feed)):
        t = by_feed.get(feed)
        if t is None:
            known = totals.get(feed, {}).get("rows_read", 0)
            print(f"{feed:<16}{'—':>7}{'':>9}{'':>5}{'':>5}{'':>11}{'':>9}   no new files (rows to date: {known})")
            continue
        print(
            f"{feed:<16}{t['files_loaded']:>7}{t['files_rejected']:>9}{t['files_duplicate']:>5}{t['files_waiting']:>5}"
            f"{t['rows_read']:>11}{t['rows_quarantined']:>9}   {t['top_reasons'] or ''}"
        )
    print(
        "reasons: audit.files (rejected files) and audit.quarantine (rows: file, row number, reason, original values)"
    )
