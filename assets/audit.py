"""The night's ingest summary: per feed, files loaded / rejected / duplicate and rows
loaded / quarantined, with the most frequent reasons. The CLI prints the same figures."""

# no `from __future__ import annotations`: Dagster reads these type hints at definition time
from pathlib import Path

import dagster as dg
import duckdb

from assets.raw import raw_assets
from ingest.loader import record_unknown_entries
from assets.staging import staging_assets
from jiuzhu.config import load_feeds
from assets.common import WAREHOUSE_POOL, NightSettings
from assets.common import Warehouse

SUMMARY_SQL = """
WITH f AS (
    SELECT * FROM audit.files WHERE ($run_id IS NULL OR run_id = $run_id)
), waiting AS (  -- files this run saw still being written (none for the totals to date)
    SELECT feed, count(*) AS n FROM audit.files_waiting WHERE $run_id IS NOT NULL AND run_id = $run_id GROUP BY feed
), feeds AS (
    SELECT feed FROM f UNION SELECT feed FROM waiting
), q AS (
    SELECT q.feed, q.reason_code FROM audit.quarantine q JOIN f USING (file_id)
), reasons AS (
    SELECT feed, reason_code, count(*) AS n FROM (
        SELECT feed, reason_code FROM f WHERE status = 'rejected' UNION ALL SELECT * FROM q
    ) GROUP BY ALL
), top AS (
    SELECT feed, string_agg(reason_code || ' ×' || n, ', ' ORDER BY n DESC, reason_code) AS top_reasons
    FROM (SELECT *, row_number() OVER (PARTITION BY feed ORDER BY n DESC, reason_code) AS k FROM reasons)
    WHERE k <= 3 GROUP BY feed
), quarantined AS (
    SELECT feed, count(*) AS n FROM q GROUP BY feed
)
SELECT feed,
       count(f.file_id) FILTER (WHERE status = 'loaded')    AS files_loaded,
       count(f.file_id) FILTER (WHERE status = 'rejected')  AS files_rejected,
       count(f.file_id) FILTER (WHERE status = 'duplicate') AS files_duplicate,
       count(f.file_id) FILTER (WHERE status = 'superseded') AS files_superseded,
       coalesce(any_value(waiting.n), 0)::BIGINT AS files_waiting,
       coalesce(sum(rows_read) FILTER (WHERE status = 'loaded'), 0)::BIGINT AS rows_read,
       coalesce(any_value(quarantined.n), 0)::BIGINT AS rows_quarantined,
       any_value(top.top_reasons)                   AS top_reasons
FROM feeds LEFT JOIN f USING (feed) LEFT JOIN top USING (feed) LEFT JOIN quarantined USING (feed)
LEFT JOIN waiting USING (feed)
GROUP BY feed ORDER BY feed
"""


def ingest_summary(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> list[dict]:
    """One dict per feed; only files first seen in ``run_id`` when given."""
    cur = con.execute(SUMMARY_SQL, {"run_id": run_id})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def summary_markdown(rows: list[dict]) -> str:
    if not rows:
        return "没有新文件 (no new files)"
    out = ["| feed | 加载文件 | 拒收文件 | 重复文件 | 等待写完 | 数据行 | 隔离行 | 主要原因 |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['feed']} | {r['files_loaded']} | {r['files_rejected']} | {r['files_duplicate']} | {r['files_waiting']} "
            f"| {r['rows_read']} | {r['rows_quarantined']} | {r['top_reasons'] or ''} |"
        )
    return "\n".join(out)


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
def ingest_summary_asset(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        # files outside every feed's folder: recorded, so that nothing goes missing without a trace
        unknown = record_unknown_entries(con, Path(night.landing), load_feeds(), context.run.run_id)
        tonight = ingest_summary(con, context.run.run_id)
        to_date = ingest_summary(con)
    return dg.MaterializeResult(
        metadata={
            "tonight": dg.MetadataValue.md(summary_markdown(tonight)),
            "to_date": dg.MetadataValue.md(summary_markdown(to_date)),
            "files_rejected_tonight": sum(r["files_rejected"] for r in tonight),
            "files_outside_any_feed_tonight": len(unknown),
            "files_waiting_tonight": sum(r["files_waiting"] for r in tonight),
            "rows_quarantined_tonight": sum(r["rows_quarantined"] for r in tonight),
        }
    )
