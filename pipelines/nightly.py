"""One night, end to end: materialise the nightly job in the home's Dagster instance and
tell the operator what was loaded, what was rejected and why."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import dagster as dg

from assets.audit import ingest_summary
from pipelines.alerts import error_text, write_alert
from pipelines.definitions import NIGHTLY_JOB, build_definitions
from pipelines.instance import open_instance
from warehouse.resource import connect

QUIET_DAGSTER = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_night(landing: Path, home: Path, as_of: dt.date, policy: Path | None = None) -> int:
    instance = open_instance(home, landing)
    defs = build_definitions(home=str(home), landing=str(landing), policy=str(policy.resolve()) if policy else "")
    job = defs.resolve_job_def(NIGHTLY_JOB)
    print(f"jiuzhu 夜间运行 nightly run — as of {as_of}, landing {landing}, home {home}", flush=True)
    # the night is the job's partition, as for the schedule and a backfill from the UI
    result = job.execute_in_process(
        instance=instance, run_config=QUIET_DAGSTER, raise_on_error=False, partition_key=as_of.isoformat()
    )
    warehouse = home / "warehouse.duckdb"
    if warehouse.exists():
        with connect(warehouse, read_only=True) as con:
            print_summary(ingest_summary(con, result.run_id), ingest_summary(con))
            print_gate(con, as_of)
            print_freshness(con, as_of)
            print_warnings(con, as_of)
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    for e in failed:
        level = "警告 WARN " if e.severity == dg.AssetCheckSeverity.WARN else "错误 ERROR"
        print(f"{level} check {e.asset_key.to_user_string()} · {e.check_name}")
    if result.success:
        exports = home / "exports" / as_of.isoformat()
        print(f"完成 done. 仓库 warehouse: {warehouse}\n导出 exports: {exports}"
              f"\n查看 browse: jiuzhu ui --home {home}   (run {result.run_id})")
        return 0
    for event in result.get_step_failure_events():
        print(f"失败 FAILED step {event.step_key}: {error_text(event.step_failure_data.error)}", file=sys.stderr)
    print(
        "运行失败：以上步骤出错，其他部门的数据已照常处理。请在 `jiuzhu ui --home "
        f"{home}` 中查看运行 {result.run_id} 的日志，修复后重新运行同一命令（已加载的文件不会重复加载）。",
        file=sys.stderr,
    )
    print(f"告警 alert: {write_alert(instance, result.dagster_run, home, landing)}", file=sys.stderr)
    return 1


def print_warnings(con, as_of: dt.date) -> None:
    """The night's list in one line, and the rules that could not be evaluated."""
    try:
        total, new, escalated = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE status = 'new'), count(*) FILTER (WHERE status = 'escalated')
               FROM monitoring.warnings WHERE as_of_date = ?""", [as_of]).fetchall()[0]
        resolved = con.execute("SELECT count(*) FROM monitoring.resolved_warnings WHERE as_of_date = ?", [as_of]).fetchall()[0][0]
        blocked = con.execute(
            "SELECT rule_code, reason FROM monitoring.rule_status WHERE as_of_date = ? AND NOT evaluated ORDER BY 1", [as_of]
        ).fetchall()
    except Exception:  # the list was not built tonight (an earlier step failed)
        return
    print(f"预警 warnings: {total}（新增 new {new}，升级 escalated {escalated}，解除 resolved {resolved}）")
    for code, reason in blocked:
        print(f"未能评估 NOT EVALUATED {code}: {reason}")


def print_gate(con, as_of: dt.date) -> None:
    """Feeds tonight's rules cannot use, and why (audit.feed_gate)."""
    try:
        rows = con.execute(
            "SELECT feed, problems FROM audit.feed_gate WHERE as_of_date = ? AND NOT usable ORDER BY feed", [as_of]
        ).fetchall()
    except Exception:  # the gate did not run (an earlier step failed): nothing to report here
        return
    for feed, problems in rows:
        print(f"不可用 NOT USABLE tonight: {feed} — {problems}")


def print_freshness(con, as_of: dt.date) -> None:
    """Departments that stopped delivering: one line per feed whose newest loaded extract is older
    than its spec's max_age on the as-of date, or that never delivered (warehouse/freshness.py)."""
    from warehouse.freshness import freshness

    try:
        stale = [f for f in freshness(con, as_of) if not f.fresh]
    except Exception:  # no audit tables yet (the night failed before ingest): nothing to report here
        return
    for f in stale:
        print(f"逾期 STALE {f.feed} — {f.message_en}")


def print_summary(tonight: list[dict], to_date: list[dict]) -> None:
    """Per feed: files loaded / rejected / duplicate tonight, data rows, rows quarantined, top reasons."""
    from jiuzhu.config import load_feeds

    by_feed = {r["feed"]: r for r in tonight}
    totals = {r["feed"]: r for r in to_date}
    print(f"{'feed':<16}{'loaded':>7}{'rejected':>9}{'dup':>5}{'rows':>11}{'quarant.':>9}   top reasons (tonight)")
    for feed in sorted(set(load_feeds()) | set(totals)):
        t = by_feed.get(feed)
        if t is None:
            known = totals.get(feed, {}).get("rows_read", 0)
            print(f"{feed:<16}{'—':>7}{'':>9}{'':>5}{'':>11}{'':>9}   no new files (rows to date: {known})")
            continue
        print(
            f"{feed:<16}{t['files_loaded']:>7}{t['files_rejected']:>9}{t['files_duplicate']:>5}"
            f"{t['rows_read']:>11}{t['rows_quarantined']:>9}   {t['top_reasons'] or ''}"
        )
    print("reasons: audit.files (rejected files) and audit.quarantine (rows: file, row number, reason, original values)")
