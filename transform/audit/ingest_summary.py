"""The ingest summary: per feed, files loaded / rejected / duplicate / superseded / still being
written and rows read / quarantined, with the most frequent reasons; for one run's files or to
date. The Dagster asset (assets/audit.py) and the CLI's summary show the same figures."""

from __future__ import annotations

import duckdb

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
