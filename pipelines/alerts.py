"""An alert for every failed run: ``<home>/alerts/<UTC timestamp>_<run id[:8]>.md`` and a log line.

Two writers, one function (``write_alert``): the run failure sensor below, for the runs the
Dagster daemon launches (the 01:30 schedule, the landing-zone sensor), and `jiuzhu run`
(pipelines/nightly.py), whose in-process run the sensor never sees (it has no code location).
One file per run: a second call for the same run returns the file already written.

Personal data rule: an alert names the job, the failed steps and assets, the feed and its
file names, the error's class and its message through ``safe_message`` (long digit runs
masked, parsers' quoted lines cut off) with quoted Chinese text masked as well — never a
row's content, an ID number or a person's name.
"""

# no `from __future__ import annotations`: Dagster reads the sensor's type hints at definition time
import datetime as dt
import logging
import os
import re
from pathlib import Path
from typing import Any

import dagster as dg

from assets.common import PARTITION_TAG, Warehouse
from ingest.files import list_feed_files
from ingest.problems import safe_message
from jiuzhu.calendar import yesterday_in_county
from jiuzhu.config import load_feeds
from jiuzhu.pii import mask_id_runs
from pipelines.faults import ALERTS_DIR, diagnose, write_alert_file
from warehouse.pii_lookup import masker
from warehouse.resource import connect

log = logging.getLogger("jiuzhu.alerts")

MAX_FILES_LISTED = 20
# quoted text with Chinese characters in an error message may be a value (a name, an address)
_QUOTED_CJK = re.compile(r"(['\"“‘「])([^'\"”’」\n]*[\u3400-\u9fff][^'\"”’」\n]*)(['\"”’」])")
_FILE_LIKE = re.compile(r"[/\\]|\.(csv|xlsx|xls|txt|duckdb|yaml|json)$", re.IGNORECASE)


def scrub(text: str) -> str:
    """Quoted Chinese text that is not a file name or a path becomes <值> (on top of safe_message)."""

    def mask(m: re.Match) -> str:
        return m.group(0) if _FILE_LIKE.search(m.group(2)) else f"{m.group(1)}<值>{m.group(3)}"

    return _QUOTED_CJK.sub(mask, text)


def error_text(error) -> str:
    """The innermost error (Dagster wraps the real one) as 'Class: message', fit for an alert."""
    if error is None:
        return "unknown error"
    while error.cause is not None:
        error = error.cause
    first = (error.message or "").split("\n")[0]
    # SerializableErrorInfo.message starts with 'module.Class: '; safe_message adds the class itself
    prefix = f"{error.cls_name}: "
    if prefix in first:
        first = first.split(prefix, 1)[1]
    named = type(error.cls_name or "Error", (Exception,), {})
    return scrub(safe_message(named(first)))


def _step_targets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, list[tuple[dg.AssetKey, str | None]]]:
    """Per step of the run, the assets it materialises and the checks it evaluates (asset key,
    check name or None), from the run's execution plan; {} if the plan cannot be read."""
    targets: dict[str, list] = {}
    snapshot_id = run.execution_plan_snapshot_id
    if snapshot_id is None:  # a run created without a plan (launched runs always have one)
        log.warning("alert: the run has no execution plan; steps are named by their keys")
        return {}
    try:
        plan = instance.get_execution_plan_snapshot(snapshot_id)
        for step in plan.steps:
            for output in step.outputs:
                props = output.properties
                if props is not None and props.asset_check_key is not None:
                    targets.setdefault(step.key, []).append(
                        (props.asset_check_key.asset_key, props.asset_check_key.name)
                    )
                elif props is not None and props.asset_key is not None:
                    targets.setdefault(step.key, []).append((props.asset_key, None))
    except Exception as exc:  # noqa: BLE001 — the alert is written for an error already; this one must not mask it
        log.warning(
            "alert: the run's execution plan could not be read (%s); steps are named by their keys",
            scrub(safe_message(exc)),
        )
        return {}
    return targets


def _targets_of_step(step_key: str, targets: dict) -> list[tuple[dg.AssetKey, str | None]]:
    # without the plan: an asset's op is named by its key joined with '__'
    return targets.get(step_key) or [(dg.AssetKey(step_key.split("__")), None)]


def _describe(pairs: list[tuple[dg.AssetKey, str | None]]) -> str:
    parts = []
    for asset in dict.fromkeys(a for a, _ in pairs):
        checks = [c for a, c in pairs if a == asset and c]
        materialised = any(a == asset and c is None for a, c in pairs)
        text = f"资产 asset `{asset.to_user_string()}`"
        if checks:
            text += f"{' +' if materialised else ''} 检查 check(s) {', '.join(f'`{c}`' for c in checks)}"
        parts.append(text)
    return "; ".join(parts)


def _feed_of(asset: dg.AssetKey, feeds: list[str]) -> str | None:
    path = asset.path
    if len(path) >= 2 and path[0] == "raw":
        rest = "__".join(path[1:])
        # the raw asset itself, or (read from a step key) one of its checks: <feed>_<check name>
        return next((f for f in sorted(feeds, key=len, reverse=True) if rest == f or rest.startswith(f + "_")), None)
    return None


def _failures(instance: dg.DagsterInstance, run_id: str) -> tuple[list[tuple[str, str]], str | None, str | None]:
    """(step key, error text) per failed step; the run failure's message and reason."""
    steps = []
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
        event = record.event_log_entry.dagster_event
        if event is None or event.step_key is None:  # typed optional; a step failure carries both
            continue
        steps.append((event.step_key, error_text(event.step_failure_data.error)))
    run_message, reason = None, None
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    run_event = records[-1].event_log_entry.dagster_event if records else None
    if run_event is not None:
        data = run_event.job_failure_data  # None when the run was marked failed from outside (recovery, a signal)
        reason = data.failure_reason.value if data is not None and data.failure_reason else None
        run_message = (
            error_text(data.error)
            if data is not None and data.error is not None and not steps
            else scrub(run_event.message or "")
        )
    return steps, run_message, reason


def _feed_files(home: Path, landing: Path | None, feed: str, run_id: str) -> list[str]:
    """Lines about a failed feed's files: those this run recorded in audit.files, and those
    in the landing zone that audit.files does not know yet (masked names only, never contents)."""
    lines, known, mask = [], None, mask_id_runs
    warehouse = home / "warehouse.duckdb"
    pending = []
    if landing is not None:
        try:
            pending = [f.file_name for f in list_feed_files(landing, feed)]
        except OSError as exc:
            lines.append(f"  - 接收目录无法读取 landing zone not readable: {scrub(safe_message(exc))}")
    if warehouse.is_file():
        try:
            with connect(warehouse, read_only=True) as con:
                rows = con.execute(
                    """SELECT coalesce(display_name, file_name), status, reason_code FROM audit.files
                       WHERE feed = ? AND run_id = ? ORDER BY file_id""",
                    [feed, run_id],
                ).fetchall()
                known = {
                    r[0] for r in con.execute("SELECT file_name FROM audit.files WHERE feed = ?", [feed]).fetchall()
                }
                mask = masker(con, pending)
            for name, status, code in rows[:MAX_FILES_LISTED]:
                lines.append(f"  - 本次已处理 handled in this run: `{name}` — {status}{f' ({code})' if code else ''}")
        except Exception as exc:  # the warehouse is locked by another run, damaged, or its key is missing
            lines.append(f"  - audit.files 无法读取 could not be read: {scrub(safe_message(exc))}")
    if landing is not None:
        pending = [name for name in pending if known is None or name not in known]
        label = "尚未入库 not yet in audit.files" if known is not None else "接收目录中的文件 files in the landing zone"
        for name in pending[:MAX_FILES_LISTED]:
            lines.append(f"  - {label}: `{mask(name)}`")
        if len(pending) > MAX_FILES_LISTED:
            lines.append(f"  - … 另有 and {len(pending) - MAX_FILES_LISTED} more")
    return lines


def _night_config(run: dg.DagsterRun) -> dict:
    """The run's config of the `night` resource (the landing sensor's runs set landing and as_of)."""
    config: Any = run.run_config or {}  # nested as the launch gave it
    return ((config.get("resources") or {}).get("night") or {}).get("config") or {}


def _landing_of(run: dg.DagsterRun, landing: Path | None) -> Path | None:
    if landing is not None:
        return landing
    configured = _night_config(run)
    value = configured.get("landing")
    if isinstance(value, str) and value:
        return Path(value)
    env = os.environ.get("JIUZHU_LANDING")
    return Path(env) if env else None


def _as_of_of(run: dg.DagsterRun) -> str | None:
    """The night the run covered: its partition (`jiuzhu run`, the 01:30 schedule, a backfill), the
    landing sensor's tag, or the day before a schedule tick (Beijing time)."""
    configured = _night_config(run)
    as_of = run.tags.get(PARTITION_TAG) or run.tags.get("jiuzhu/as_of") or configured.get("as_of")
    if as_of:
        return as_of
    tick = run.tags.get("dagster/scheduled_execution_time")
    if tick:
        try:
            return yesterday_in_county(dt.datetime.fromisoformat(tick)).isoformat()
        except ValueError:
            return None
    return None


def existing_alert(home: Path, run_id: str) -> Path | None:
    folder = home / ALERTS_DIR
    return next(iter(sorted(folder.glob(f"*_{run_id[:8]}.md"))), None) if folder.is_dir() else None


def _next_step(run: dg.DagsterRun, home: Path, landing: Path | None, as_of: str | None) -> list[str]:
    """What the operator does now, in Chinese and English."""
    sensor_run = bool(run.tags.get("jiuzhu/feed"))
    rerun = f"jiuzhu run --landing {landing or '<接收目录 landing>'} --home {home}"
    if as_of and not sensor_run:  # a sensor run is as of today; the night that re-does it is as of yesterday
        rerun += f" --as-of {as_of}"
    lines = []
    if run.tags.get("dagster/will_retry") == "true":
        lines += [
            "- Dagster 守护进程会自动重试这次运行（只重跑失败的步骤）；重试仍失败时会再写一份告警。",
            "- The Dagster daemon retries this run automatically (from the failed steps); if the retry fails too, "
            "another alert is written.",
        ]
    lines += [
        f"- 在 `jiuzhu ui --home {home}` 中查看运行 `{run.run_id}` 的日志，排除原因（文件、磁盘空间、权限、数据库被占用等）后重新运行：",
        f"  `{rerun}`",
        "  已加载的文件不会重复加载。",
    ]
    if sensor_run:
        lines.append("  或在界面中对该运行选择“重新执行（从失败处）”；今晚 01:30 的夜间运行也会接收这些文件。")
    lines.append(
        f"- Read the log of run `{run.run_id}` in `jiuzhu ui --home {home}`, fix the cause (a file, disk space, "
        "permissions, the warehouse held by another process), then re-run the command above. Files already "
        "loaded are not loaded again."
    )
    if sensor_run:
        lines.append(
            "  Or re-execute the run from failure in the UI; the nightly run at 01:30 also picks these files up."
        )
    return lines


def write_alert(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    home: Path,
    landing: Path | None = None,
    now: dt.datetime | None = None,
) -> Path:
    """Write the alert of a failed run (once per run) and log one line; returns the file."""
    home = Path(home)
    found = existing_alert(home, run.run_id)
    if found is not None:
        return found
    run = instance.get_run_by_id(run.run_id) or run  # the retry decision is tagged after the failure
    landing = _landing_of(run, landing)
    as_of = _as_of_of(run)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    steps, run_message, reason = _failures(instance, run.run_id)
    feeds = list(load_feeds())
    targets = _step_targets(instance, run)

    lines = [
        f"# 运行失败 Run failed: {run.job_name}",
        "",
        f"- 时间 time (UTC): {now:%Y-%m-%d %H:%M:%S}",
        f"- 作业 job: `{run.job_name}`",
        f"- 运行 run: `{run.run_id}`",
    ]
    if as_of:
        lines.append(f"- 数据日期 as of: {as_of}")
    if reason:
        lines.append(f"- 失败类型 failure reason: {reason}")
    if run.tags.get("dagster/retry_number"):
        lines.append(f"- 自动重试 automatic retry number: {run.tags['dagster/retry_number']}")
    if run.tags.get("jiuzhu/feed"):
        lines.append(f"- 触发 triggered by: 接收目录传感器 landing-zone sensor, feed `{run.tags['jiuzhu/feed']}`")
    lines += ["", "## 失败的步骤 Failed steps", ""]
    failed_feeds: list[str] = []
    failed_targets = []
    for step_key, message in steps:
        pairs = _targets_of_step(step_key, targets)
        failed_targets.append(_describe(pairs))
        lines.append(f"- 步骤 step `{step_key}` — {failed_targets[-1]}")
        for feed in dict.fromkeys(f for f in (_feed_of(a, feeds) for a, _ in pairs) if f):
            lines.append(f"  - 部门数据 feed: `{feed}`")
            if feed not in failed_feeds:
                failed_feeds.append(feed)
        lines.append(f"  - 错误 error: {message}")
    if not steps:
        lines.append(
            f"- 运行本身失败（没有失败的步骤）the run itself failed (no step failed): {run_message or 'unknown'}"
        )
    for feed in failed_feeds:
        files = _feed_files(home, landing, feed, run.run_id)
        if files:
            lines += ["", f"## 文件 Files of `{feed}`", "", *files]
    fault = diagnose(" ".join([m for _, m in steps] + [run_message or ""]), home)
    lines += ["", "## 下一步 Next step", ""]
    if fault is not None:  # a known cause first: a full disk, a damaged or locked warehouse
        lines += [f"- {fault.code}: {fault.zh}", f"  {fault.en}"]
    lines += _next_step(run, home, landing, as_of)

    path = write_alert_file(home, f"{now:%Y%m%dT%H%M%SZ}_{run.run_id[:8]}", lines)
    what = "; ".join(failed_targets) or (run_message or "run failed")
    log.error("ALERT 运行失败 run %s of job %s failed: %s — alert %s", run.run_id, run.job_name, what, path)
    return path


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "运行失败时在 <home>/alerts/ 写一份告警（作业、失败的步骤和资产、部门数据与文件名、错误、下一步），不含个人信息。"
        "\n\nWrites an alert file under <home>/alerts/ for every failed run of this code location."
    ),
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, warehouse: Warehouse):
    path = write_alert(context.instance, context.dagster_run, Path(warehouse.home))
    context.log.error(f"告警 alert written: {path}")
