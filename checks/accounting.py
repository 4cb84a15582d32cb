"""Nothing lost: for every loaded file, the rows read are exactly the rows loaded
plus the rows quarantined, and the warehouse holds exactly those rows (a superseded file
keeps its rows in raw, for the record).

Blocking: if this fails the ingest itself is wrong, and nothing built on the
feed can be trusted until it is fixed.
"""

# no `from __future__ import annotations`: Dagster reads these type hints at definition time
import dagster as dg

from assets.common import Warehouse
from jiuzhu.config import Feed, load_feeds
from warehouse.resource import raw_table

ACCOUNTING_SQL = """
WITH raw_counts AS (
    SELECT file_id, count(*) AS n FROM {raw} GROUP BY file_id
), quarantine_counts AS (
    SELECT file_id, count(*) AS n FROM audit.quarantine WHERE feed = $feed AND stage = 'ingest' GROUP BY file_id
)
SELECT f.file_name,
       f.rows_read, f.rows_loaded, f.rows_quarantined,
       coalesce(r.n, 0) AS in_raw, coalesce(q.n, 0) AS in_quarantine
FROM audit.files f
LEFT JOIN raw_counts r USING (file_id)
LEFT JOIN quarantine_counts q USING (file_id)
WHERE f.feed = $feed AND (
      (f.status IN ('loaded', 'superseded') AND (f.rows_read IS DISTINCT FROM f.rows_loaded + f.rows_quarantined
                                OR coalesce(r.n, 0) <> f.rows_loaded
                                OR coalesce(q.n, 0) <> f.rows_quarantined))
   OR (f.status IN ('rejected', 'duplicate') AND (coalesce(r.n, 0) > 0 OR coalesce(q.n, 0) > 0)))
ORDER BY f.file_id
"""


def build_accounting_check(feed: Feed) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw", feed.name]),
        name="every_row_accounted_for",
        blocking=True,
        description="每个已加载文件：读取行数 = 加载行数 + 隔离行数，且与仓库中的行一致；被拒收或重复的文件没有留下任何行。",
    )
    def every_row_accounted_for(warehouse: Warehouse) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            broken = con.execute(ACCOUNTING_SQL.format(raw=raw_table(feed)), {"feed": feed.name}).fetchall()
            files, rows = con.execute(
                "SELECT count(*), coalesce(sum(rows_read), 0) FROM audit.files WHERE feed = ? AND status = 'loaded'",
                [feed.name],
            ).fetchall()[0]
        return dg.AssetCheckResult(
            passed=not broken,
            metadata={
                "loaded_files": files,
                "rows_read": int(rows),
                "files_not_adding_up": dg.MetadataValue.json([list(map(str, b)) for b in broken[:20]]),
            },
        )

    return every_row_accounted_for


accounting_checks = [build_accounting_check(feed) for feed in load_feeds().values()]
