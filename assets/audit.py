"""The night's ingest summary: per feed, files loaded / rejected / duplicate and rows
loaded / quarantined, with the most frequent reasons (transform/audit/ingest_summary.py).
The CLI prints the same figures."""

# no `from __future__ import annotations`: Dagster reads these type hints at definition time
from pathlib import Path

import dagster as dg

from assets.common import WAREHOUSE_POOL, NightSettings, Warehouse
from assets.raw import raw_assets
from assets.staging import staging_assets
from exports.ui_metadata import ingest_summary_markdown
from ingest.loader import record_unknown_entries
from jiuzhu.config import load_feeds
from transform.audit.ingest_summary import ingest_summary


@dg.asset(
    key=["audit", "ingest_summary"],
    group_name="audit",
    owners=["team:civil_affairs"],
    tags={"layer": "audit"},
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    deps=[a.key for a in raw_assets + staging_assets],
    description=(
        "今晚的接收情况汇总：每个部门数据的加载、拒收、重复、仍在写入的文件数，数据行和隔离行数（接收和标准化两步），以及主要原因；"
        "不属于任何部门目录的文件也在此记录为拒收。\n\n"
        "Tonight's ingest per feed (files loaded / rejected / duplicate, data rows read, rows quarantined "
        "at ingest or standardisation, top reasons), and the totals to date. Details: audit.files, audit.quarantine."
    ),
)
def ingest_summary_asset(
    context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings
) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        # files outside every feed's folder: recorded, so that nothing goes missing without a trace
        unknown = record_unknown_entries(con, Path(night.landing), load_feeds(), context.run.run_id)
        tonight = ingest_summary(con, context.run.run_id)
        to_date = ingest_summary(con)
    return dg.MaterializeResult(
        metadata={
            "tonight": dg.MetadataValue.md(ingest_summary_markdown(tonight)),
            "to_date": dg.MetadataValue.md(ingest_summary_markdown(to_date)),
            "files_rejected_tonight": sum(r["files_rejected"] for r in tonight),
            "files_outside_any_feed_tonight": len(unknown),
            "files_waiting_tonight": sum(r["files_waiting"] for r in tonight),
            "rows_quarantined_tonight": sum(r["rows_quarantined"] for r in tonight),
        }
    )
