"""Build staging.<feed> from raw.<feed>: standardise every row, quarantine what cannot be
standardised, and mark which rows are current on the as-of date.

staging.<feed> holds every standardised row of every file (all versions, all
snapshots), so that any past night can be reproduced; ``is_current`` says which
rows are the truth on the run's as-of date:
- incremental feeds: the latest version of each natural key among files
  extracted on or before the date (a later extract corrects an earlier one);
- snapshot feeds: the rows of the newest snapshot on or before the date (all its
  files of that extract date together: main file and 补录 supplements).
A natural key twice in one extract is quarantined as DUPLICATE_KEY, or DUPLICATE_ROW where the
row is the same as the one that stands (the last row stands, transform/staging/spec_sql.py), so
staging holds each key once per extract.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from jiuzhu.config import Feed
from transform.staging.spec_sql import LINEAGE, original_values_json, output_columns, standardise_sql
from warehouse.macros import install_macros
from warehouse.resource import quote_ident as q
from warehouse.resource import transaction


@dataclass
class StagingReport:
    feed: str
    rows: int
    current_rows: int
    quarantined: int
    reasons: list[tuple[str, int]]
    in_force: dt.date | None  # snapshot feeds: the extract date in force


def snapshot_in_force(con: duckdb.DuckDBPyConnection, feed: str, as_of: dt.date) -> dt.date | None:
    """The newest extract date on or before ``as_of`` of a loaded file with rows."""
    return con.execute(
        """SELECT max(extract_date) FROM audit.files
           WHERE feed = ? AND status = 'loaded' AND rows_read > 0 AND extract_date <= ?""",
        [feed, as_of],
    ).fetchall()[0][0]


def _currency_sql(feed: Feed) -> str:
    """is_current, over the parameter $in_force (snapshot feeds) or $as_of (incremental feeds)."""
    key = ", ".join(q(f) for f in feed.key_fields)
    newest_first = "file_id DESC, source_row DESC"
    if feed.kind == "snapshot":
        # each key once per extract date (duplicates are quarantined): the snapshot's rows are current
        current = "coalesce(extract_date = $in_force::DATE, false) AS is_current"
    else:
        known = "extract_date <= $as_of::DATE"
        current = (
            f"{known} AND row_number() OVER (PARTITION BY {key}, {known} "
            f"ORDER BY extract_date DESC, {newest_first}) = 1 AS is_current"
        )
    return current


def build_staging(
    con: duckdb.DuckDBPyConnection, feed: Feed, as_of: dt.date, run_id: str | None = None
) -> StagingReport:
    install_macros(con)
    in_force = snapshot_in_force(con, feed.name, as_of) if feed.kind == "snapshot" else None
    current = _currency_sql(feed)
    night = {"in_force": in_force} if feed.kind == "snapshot" else {"as_of": as_of}
    columns = ", ".join([*LINEAGE, *(q(c) for c in output_columns(feed))])
    table, scratch = f"staging.{feed.name}", f"staging._standardised_{feed.name}"
    # Standardise once into a table on disk (not a temp table: the roster's history is
    # millions of rows and DuckDB spills a disk table under its memory limit).
    con.execute(f"CREATE OR REPLACE TABLE {scratch} AS {standardise_sql(feed)}")
    try:
        with transaction(con):
            con.execute(
                f"""CREATE OR REPLACE TABLE {table} AS
                    SELECT {columns}, {current} FROM {scratch} WHERE _reason_code IS NULL""",
                night,
            )
            if feed.reversal:
                _link_reversals(con, feed, feed.reversal)
            con.execute("DELETE FROM audit.quarantine WHERE stage = 'staging' AND feed = ?", [feed.name])
            con.execute(
                f"""INSERT INTO audit.quarantine (feed, file_name, row_number, reason_code, reason, raw, file_id, stage,
                                                 run_id, quarantined_at)
                   SELECT ?, s.source_file, s.source_row, s._reason_code, s._reason, {original_values_json(feed)},
                          s.file_id, 'staging', ?, now()::TIMESTAMP
                   FROM {scratch} s JOIN raw.{feed.name} r USING (file_id, source_row)
                   WHERE s._reason_code IS NOT NULL""",
                [feed.name, run_id],
            )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {scratch}")
    rows, current_rows = con.execute(f"SELECT count(*), count(*) FILTER (WHERE is_current) FROM {table}").fetchall()[0]
    reasons = con.execute(
        """SELECT reason_code, count(*) FROM audit.quarantine WHERE stage = 'staging' AND feed = ?
           GROUP BY 1 ORDER BY 2 DESC, 1""",
        [feed.name],
    ).fetchall()
    return StagingReport(feed.name, rows, current_rows, sum(n for _, n in reasons), reasons, in_force)


def _link_reversals(con: duckdb.DuckDBPyConnection, feed: Feed, reversal: dict) -> None:
    """A reversal row cancels the row it names: the cancelled row learns which one (reversed_by).
    ``reversal``: the feed's spec of its reversal rows."""
    fields = {c.name: c.field for c in feed.columns}
    pointer, target = q(fields[reversal["column"]]), q(fields[reversal["cancels"]])
    table = f"staging.{feed.name}"
    con.execute(f"ALTER TABLE {table} ADD COLUMN reversed_by VARCHAR")
    con.execute(
        f"""UPDATE {table} s SET reversed_by = r.by FROM (
                SELECT {pointer} AS cancels, max({target}) AS by FROM {table}
                WHERE is_current AND {pointer} IS NOT NULL GROUP BY 1) r
            WHERE s.{target} = r.cancels AND s.is_current"""
    )
