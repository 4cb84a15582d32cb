"""Layer 1 — raw: one ingest asset per feed, all made by one factory from the feed spec.

Each asset takes the feed's new files from the landing zone into raw.<feed>,
every value as delivered text with its file, row number, sha256 and extract
date, and accounts for every file and row in audit.files / audit.quarantine.
"""

# no `from __future__ import annotations`: Dagster reads these type hints at definition time
from pathlib import Path

import dagster as dg

from assets.common import NightSettings, Warehouse, feed_asset_args, night_of
from ingest.files import Fingerprints
from ingest.loader import FeedReport, ingest_feed
from jiuzhu.config import Feed, load_feeds
from warehouse.resource import raw_table

STATUS_ZH = {"loaded": "已加载", "rejected": "已拒收", "duplicate": "重复报送"}  # tonight's outcomes


def _files_table(report: FeedReport) -> str:
    """Tonight's files as a Markdown table for the UI (masked file names and counts, no row content)."""
    if not report.outcomes and not report.waiting:
        return "今晚没有新文件 (no new files tonight)"
    lines = [
        "| 文件 file | 状态 status | 数据行 rows read | 加载 loaded | 隔离 quarantined | 原因 reason |",
        "|---|---|---|---|---|---|",
    ]
    for o in report.outcomes:
        reason = (o.reason or "").replace("|", "/")
        lines.append(
            f"| {o.display_name} | {STATUS_ZH[o.status]} | {o.rows_read if o.rows_read is not None else '—'} "
            f"| {o.rows_loaded} | {o.rows_quarantined} | {reason} |"
        )
    lines += [
        f"| {name} | 等待 waiting | — | 0 | 0 | 仍在写入，下次再读 still being written |" for name in report.waiting
    ]
    return "\n".join(lines)


def build_raw_asset(feed: Feed) -> dg.AssetsDefinition:
    @dg.asset(
        **feed_asset_args(
            feed,
            "raw",
            f"{feed.department}「{feed.title}」原始数据：每个文件的每一行按原样保存（文本），附文件名、行号、"
            f"sha256 和提取日期。\n\nRaw {feed.kind} feed `{feed.name}` from {feed.department}: every row "
            "of every new file kept as delivered text, with its file, row number, sha256 and extract date; "
            "rejected files and unreadable rows are accounted for in audit.files and audit.quarantine.",
        )
    )
    def raw_feed(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
        as_of = night_of(context, night)
        with warehouse.connect() as con:
            report = ingest_feed(
                con,
                feed,
                Path(night.landing),
                as_of,
                context.run.run_id,
                scratch=warehouse.scratch,
                fingerprints=Fingerprints(warehouse.landing_fingerprints),
            )
            total = con.execute(f"SELECT count(*) FROM {raw_table(feed)}").fetchall()[0][0]
        for o in report.outcomes:
            if o.status == "rejected":
                context.log.warning(f"{feed.name}/{o.display_name} 已拒收 rejected [{o.reason_code}] {o.reason}")
        if report.waiting:
            context.log.warning(
                f"{feed.name}: {len(report.waiting)} 个文件仍在写入，留待下次 file(s) still being written wait"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(total),
                "as_of": dg.MetadataValue.text(as_of.isoformat()),
                "files_loaded": report.count("loaded"),
                "files_rejected": report.count("rejected"),
                "files_duplicate": report.count("duplicate"),
                "files_after_as_of": report.later_files,
                "files_waiting": len(report.waiting),
                "rows_loaded": report.rows_loaded,
                "rows_quarantined": report.rows_quarantined,
                "files": dg.MetadataValue.md(_files_table(report)),
            }
        )

    return raw_feed


raw_assets = [build_raw_asset(feed) for feed in load_feeds().values()]
