"""Build staging.<feed> from raw.<feed>: standardise every row, quarantine what cannot be
standardised, and mark which rows are current on the as-of date.

staging.<feed> holds every standardised row of every file (all versions, all
snapshots), so that any past night can be reproduced; ``is_current`` says which
rows are the truth on the run's as-of date:
- incremental feeds: the latest version of each natural key among files
  extracted on or before the date (a later extract corrects an earlier one);
- snapshot feeds: the rows of the newest snapshot on or before the date (all its
  files of that extract date together: main file and 补录 supplements).
Incremental feeds also carry ``superseded_on``: the extract date of the key's next version (none:
the latest), so that the rows in force on any date D are a filter, ``extract_date <= D AND
(superseded_on IS NULL OR superseded_on > D)`` (transform.as_of), not a window over the history.
Incremental feeds with an ID column also keep ``staging.<feed>_persons``: one row per ID number
of their current rows, with the latest named row, maintained for the ID numbers whose rows changed.
Core reads who the feed knows, and by what name, from it rather than from every current row
(rs_insurance holds a row per person, insurance and month since the first extract).
A natural key twice in one extract is quarantined as DUPLICATE_KEY, or DUPLICATE_ROW where the
row is the same as the one that stands (the last row stands, transform/staging/spec_sql.py), so
staging holds each key once per extract.

A night standardises only what changed since the last one (staging.standardised_files): the
extract dates with a new file or a superseded one, each date whole, as duplicates are judged per
date. is_current is then recomputed only for the keys whose versions or whose known-by-the-night
status changed. A feed whose rules changed (staging.feed_versions) is rebuilt from all of raw, so
old and new rules are never mixed. Both ways give the same rows and quarantine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import duckdb

from jiuzhu.config import Feed
from transform.sql import dates_sql
from transform.staging.spec_sql import LINEAGE, original_values_json, output_columns, same_key_sql, standardise_sql
from warehouse.macros import install_macros, macro_sql
from warehouse.resource import quote_ident as q
from warehouse.resource import table_exists, transaction


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
    """is_current of an incremental feed's rows over the parameter $as_of: the newest version of each key
    among those extracted by then (a snapshot feed's current rows are one extract date's)."""
    key = ", ".join(q(f) for f in feed.key_fields)
    known = "extract_date <= $as_of::DATE"
    return (
        f"{known} AND row_number() OVER (PARTITION BY {key}, {known} "
        "ORDER BY extract_date DESC, file_id DESC, source_row DESC) = 1 AS is_current"
    )


def _snapshot_currency(in_force: dt.date | None) -> str:
    """is_current of a snapshot feed's row: whether it is of the extract date in force (a date from the
    warehouse, written in; none yet: no row is current)."""
    day = "NULL" if in_force is None else f"DATE {in_force.isoformat()!r}"
    return f"coalesce(extract_date = {day}, false)"


def _superseded_sql(feed: Feed) -> str:
    """superseded_on of an incremental feed's rows: the extract date of the key's next version, in the
    order that decides which version stands (extract date, then file, then row)."""
    key = ", ".join(q(f) for f in feed.key_fields)
    return f"lead(extract_date) OVER (PARTITION BY {key} ORDER BY extract_date, file_id, source_row) AS superseded_on"


def persons_table(feed: Feed) -> str | None:
    """The table of the persons of ``feed``'s current rows (None: the feed keeps none)."""
    return f"staging.{feed.name}_persons" if feed.kind == "incremental" and feed.identifies_persons else None


def persons_sql(feed: Feed, rows: str, only: str = "true", named: bool = True) -> str:
    """Each ID number of ``rows`` (a relation over the feed's rows; ``only``: a condition on them) and
    its latest named row, ``named`` (NULL: no row names the person, or not asked for)."""
    if named and "name" in {c.field for c in feed.columns}:
        latest = (
            "arg_max({'name': name, 'extract_date': extract_date, 'file_id': file_id, 'source_row': source_row}, "
            "(extract_date, file_id, source_row)) FILTER (WHERE name IS NOT NULL)"
        )
    else:
        latest = "NULL::STRUCT(name VARCHAR, extract_date DATE, file_id BIGINT, source_row BIGINT)"
    return (
        f"SELECT id_number, {latest} AS named FROM {rows} x WHERE id_number IS NOT NULL AND {only} GROUP BY id_number"
    )


def _persons_sql(feed: Feed, only: str = "true") -> str:
    return persons_sql(feed, f"(SELECT * FROM staging.{feed.name} WHERE is_current)", only)


# Bump when this module changes what staging holds: every feed is then rebuilt once.
STAGING_FORMAT = "3"  # 2: superseded_on; 3: <feed>_persons


def rules_version(feed: Feed) -> str:
    """The version of the rules that standardise ``feed``: its spec, its SQL, the macros."""
    text = "\n".join([STAGING_FORMAT, repr(feed), standardise_sql(feed), macro_sql()])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_staging(
    con: duckdb.DuckDBPyConnection, feed: Feed, as_of: dt.date, run_id: str | None = None, rebuild: bool = False
) -> StagingReport:
    """staging.<feed> and its quarantine for the night ``as_of``: brought up to date from the files
    that changed, or rebuilt from all of raw (``rebuild``, or when the rules or the table changed)."""
    install_macros(con)
    in_force = snapshot_in_force(con, feed.name, as_of) if feed.kind == "snapshot" else None
    version = rules_version(feed)
    state = con.execute("SELECT version, as_of FROM staging.feed_versions WHERE feed = ?", [feed.name]).fetchall()
    table = f"staging.{feed.name}"
    if rebuild or not table_exists(con, table) or not state or state[0][0] != version:
        _rebuild(con, feed, as_of, in_force, run_id, version)
    else:
        _catch_up(con, feed, as_of, in_force, run_id, state[0][1])
    rows, current_rows = con.execute(f"SELECT count(*), count(*) FILTER (WHERE is_current) FROM {table}").fetchall()[0]
    reasons = con.execute(
        """SELECT reason_code, count(*) FROM audit.quarantine WHERE stage = 'staging' AND feed = ?
           GROUP BY 1 ORDER BY 2 DESC, 1""",
        [feed.name],
    ).fetchall()
    return StagingReport(feed.name, rows, current_rows, sum(n for _, n in reasons), reasons, in_force)


REASON_COLUMNS = "_reason_code, _reason"  # what standardise_sql says of a row it could not standardise
QUARANTINED_COLUMNS = f"file_id, source_file, source_row, {REASON_COLUMNS}"  # what _quarantine reads of one


def _standardise(con: duckdb.DuckDBPyConnection, feed: Feed, scratch: str, only: str = "true") -> None:
    # Into a temp table: a night's changed dates, read once into staging.<feed> (DuckDB spills a temp
    # table to the spill folder beyond its memory limit; one on disk was compressed and written for nothing)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {scratch} AS {standardise_sql(feed, only)}")


def _standardise_by_date(con: duckdb.DuckDBPyConnection, feed: Feed, scratch: str, currency: str) -> None:
    """All of raw.<feed>, one extract date after another (raw holds each date's rows together, so each
    reads only its own blocks): the standardised rows into ``scratch``, the quarantined ones into the temp
    table _jz_quarantined. The rows land in date order, so a snapshot's rows stay together in staging
    and a past night reads only its blocks; and one date at a time holds one date's rows in memory, not
    the history's. ``currency``: the columns of currency, as SQL.

    Each date is standardised into a temp table and split from there, so that ``scratch`` is only ever
    appended to: deleting the quarantined rows from it and dropping its reason columns afterwards made the
    next checkpoint write the roster's whole history again (11-14 s of a first night at the county default)."""
    dates = con.execute(f"SELECT DISTINCT extract_date FROM raw.{feed.name} ORDER BY 1").fetchall()
    none = standardise_sql(feed, "false")
    con.execute(f"CREATE OR REPLACE TABLE {scratch} AS SELECT * EXCLUDE ({REASON_COLUMNS}), {currency} FROM ({none})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jz_quarantined AS SELECT {QUARANTINED_COLUMNS} FROM ({none})")
    for (day,) in dates:  # a date from the table itself, written in as a literal the scan can skip blocks by
        only = f"r.extract_date = DATE {day.isoformat()!r}"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _jz_day AS SELECT *, {currency} FROM ({standardise_sql(feed, only)})"
        )
        con.execute(
            f"INSERT INTO {scratch} BY NAME SELECT * EXCLUDE ({REASON_COLUMNS}) FROM _jz_day WHERE _reason_code IS NULL"
        )
        con.execute(
            f"""INSERT INTO _jz_quarantined BY NAME SELECT {QUARANTINED_COLUMNS} FROM _jz_day
                WHERE _reason_code IS NOT NULL"""
        )
    con.execute("DROP TABLE IF EXISTS _jz_day")


def _quarantine(con: duckdb.DuckDBPyConnection, feed: Feed, scratch: str, run_id: str | None) -> None:
    """The rows of ``scratch`` that could not be standardised into audit.quarantine (``scratch``: the
    standardised rows, or those of them that were quarantined)."""
    con.execute(
        f"""INSERT INTO audit.quarantine (feed, file_name, row_number, reason_code, reason, raw, file_id, stage,
                                         run_id, quarantined_at)
           SELECT ?, s.source_file, s.source_row, s._reason_code, s._reason, {original_values_json(feed)},
                  s.file_id, 'staging', ?, now()::TIMESTAMP
           FROM {scratch} s JOIN raw.{feed.name} r USING (file_id, source_row)
           WHERE s._reason_code IS NOT NULL""",
        [feed.name, run_id],
    )


def _record(con: duckdb.DuckDBPyConnection, feed: Feed, as_of: dt.date, version: str) -> None:
    """What staging.<feed> now holds: the loaded files, standardised by ``version``, current for ``as_of``."""
    con.execute("DELETE FROM staging.feed_versions WHERE feed = ?", [feed.name])
    con.execute(
        "INSERT INTO staging.feed_versions (feed, version, as_of) VALUES (?, ?, ?)", [feed.name, version, as_of]
    )
    con.execute("DELETE FROM staging.standardised_files WHERE feed = ?", [feed.name])
    con.execute(
        """INSERT INTO staging.standardised_files (feed, file_id, extract_date)
           SELECT feed, file_id, extract_date FROM audit.files WHERE feed = ? AND status = 'loaded'""",
        [feed.name],
    )


def _rebuild(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    as_of: dt.date,
    in_force: dt.date | None,
    run_id: str | None,
    version: str,
) -> None:
    """staging.<feed> and its quarantine from all of raw.<feed>. The standardised rows become the
    table where they lie (a roster's history is millions of rows: a copy cost as much as
    standardising them); currency is set only where it differs from the usual value."""
    table, scratch = f"staging.{feed.name}", f"staging._standardised_{feed.name}"
    # most keys of an incremental feed have one version: current until a night knows of a later one
    currency = (
        f"{_snapshot_currency(in_force)} AS is_current"
        if feed.kind == "snapshot"
        else "true AS is_current, NULL::DATE AS superseded_on"
    )
    if feed.reversal:  # linked below; made with the table, not added after (an ALTER: see _standardise_by_date)
        currency += ", NULL::VARCHAR AS reversed_by"
    try:
        _standardise_by_date(con, feed, scratch, currency)
        if feed.kind == "incremental":  # the keys' other versions, and those extracted after the night
            key = ", ".join(q(f) for f in feed.key_fields)
            con.execute(
                f"""UPDATE {scratch} t SET is_current = c.is_current, superseded_on = c.superseded_on FROM (
                        SELECT file_id, source_row, {_currency_sql(feed)}, {_superseded_sql(feed)}
                        FROM (SELECT {key}, extract_date, file_id, source_row FROM {scratch})
                        QUALIFY NOT is_current OR superseded_on IS NOT NULL
                    ) c
                    WHERE t.file_id = c.file_id AND t.source_row = c.source_row""",
                {"as_of": as_of},
            )
        with transaction(con):
            con.execute("DELETE FROM audit.quarantine WHERE stage = 'staging' AND feed = ?", [feed.name])
            _quarantine(con, feed, "_jz_quarantined", run_id)
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"ALTER TABLE {scratch} RENAME TO {feed.name}")
            if feed.reversal:
                _link_reversals(con, feed)
            if persons := persons_table(feed):
                con.execute(f"CREATE OR REPLACE TABLE {persons} AS {_persons_sql(feed)}")
            _record(con, feed, as_of, version)
    finally:
        for leftover in (scratch, "_jz_quarantined", "_jz_day"):
            con.execute(f"DROP TABLE IF EXISTS {leftover}")


def _catch_up(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    as_of: dt.date,
    in_force: dt.date | None,
    run_id: str | None,
    last_as_of: dt.date,
) -> None:
    """staging.<feed> brought from the night ``last_as_of`` to ``as_of``: the extract dates whose
    files changed standardised again, then currency and reversal links where they can change."""
    table, scratch = f"staging.{feed.name}", "_jz_standardised"
    # the extract dates with a loaded file not yet standardised, or a standardised one no longer loaded,
    # written in as literals (they come from the warehouse): a scan skips the blocks of other dates
    dates = con.execute(
        """WITH loaded AS (SELECT file_id, extract_date FROM audit.files WHERE feed = $feed AND status = 'loaded'),
                done AS (SELECT file_id, extract_date FROM staging.standardised_files WHERE feed = $feed)
           SELECT DISTINCT extract_date FROM ((FROM loaded EXCEPT FROM done) UNION ALL (FROM done EXCEPT FROM loaded))
           WHERE extract_date IS NOT NULL ORDER BY 1""",
        {"feed": feed.name},
    ).fetchall()
    changed = f"extract_date IN ({dates_sql(d for (d,) in dates)})" if dates else "false"
    any_changed = bool(dates)
    if feed.kind == "incremental":
        # keys whose versions are about to be removed: their earlier versions may stand again
        key = ", ".join(q(f) for f in feed.key_fields)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _jz_keys AS SELECT DISTINCT {key} FROM {table} WHERE {changed}")
        if persons_table(feed):  # and the persons of the rows about to be removed: one may be left with none
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _jz_ids AS SELECT DISTINCT id_number FROM {table} WHERE {changed}"
            )
        if _keyed_by_cancelled(feed):  # and the rows that reversals about to be removed cancel
            pointer = _reversal_fields(feed)[0]
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _jz_cancelled AS SELECT DISTINCT {pointer} AS id FROM {table}
                    WHERE {changed} AND {pointer} IS NOT NULL"""
            )
    columns = ", ".join([*LINEAGE, *(q(c) for c in output_columns(feed))])
    if any_changed:
        _standardise(con, feed, scratch, f"r.{changed}")
    try:
        with transaction(con):
            if any_changed:
                con.execute(f"DELETE FROM {table} WHERE {changed}")
                con.execute(
                    f"""DELETE FROM audit.quarantine WHERE stage = 'staging' AND feed = $feed AND file_id IN
                        (SELECT file_id FROM audit.files WHERE feed = $feed AND {changed})""",
                    {"feed": feed.name},
                )
                con.execute(
                    f"""INSERT INTO {table} ({columns}, is_current)
                        SELECT {columns}, false FROM {scratch} WHERE _reason_code IS NULL"""
                )
                _quarantine(con, feed, scratch, run_id)
            if feed.kind == "snapshot":
                current = _snapshot_currency(in_force)
                con.execute(f"UPDATE {table} SET is_current = {current} WHERE is_current IS DISTINCT FROM {current}")
            else:
                _recompute_currency(con, feed, changed, as_of, last_as_of)
            if _keyed_by_cancelled(feed):
                _relink_reversals(con, feed)
            elif feed.reversal:
                con.execute(f"UPDATE {table} SET reversed_by = NULL WHERE reversed_by IS NOT NULL")
                _link_reversals(con, feed)
            _record(con, feed, as_of, rules_version(feed))
    finally:
        con.execute(f"DROP TABLE IF EXISTS {scratch}")


def _recompute_currency(
    con: duckdb.DuckDBPyConnection, feed: Feed, changed: str, as_of: dt.date, last_as_of: dt.date
) -> None:
    """is_current and superseded_on of an incremental feed, over the keys where they can have changed
    since ``last_as_of``: those with a version removed (_jz_keys) or added on a changed date, and those
    with a version extracted between the two nights (known on one, not the other). Each key's own
    versions decide."""
    table = f"staging.{feed.name}"
    key = ", ".join(q(f) for f in feed.key_fields)
    low, high = min(as_of, last_as_of), max(as_of, last_as_of)
    con.execute(
        f"""INSERT INTO _jz_keys BY NAME SELECT DISTINCT {key} FROM {table}
            WHERE {changed} OR extract_date > $low::DATE AND extract_date <= $high::DATE""",
        {"low": low, "high": high},
    )
    same_key = same_key_sql(feed, "s", "k")
    con.execute(
        f"""UPDATE {table} t SET is_current = c.is_current, superseded_on = c.superseded_on FROM (
                SELECT file_id, source_row, {_currency_sql(feed)}, {_superseded_sql(feed)} FROM (
                    SELECT s.* FROM {table} s SEMI JOIN (SELECT DISTINCT * FROM _jz_keys) k ON {same_key})
            ) c
            WHERE t.file_id = c.file_id AND t.source_row = c.source_row
              AND (t.is_current IS DISTINCT FROM c.is_current OR t.superseded_on IS DISTINCT FROM c.superseded_on)""",
        {"as_of": as_of},
    )
    if persons := persons_table(feed):  # the persons of the keys whose currency was recomputed, and of removed rows
        con.execute(
            f"""INSERT INTO _jz_ids (id_number) SELECT DISTINCT s.id_number FROM {table} s
                SEMI JOIN (SELECT DISTINCT * FROM _jz_keys) k ON {same_key}"""
        )
        ids = "id_number IN (SELECT id_number FROM _jz_ids)"
        con.execute(f"DELETE FROM {persons} WHERE {ids}")
        con.execute(f"INSERT INTO {persons} BY NAME {_persons_sql(feed, ids)}")


def _reversal_fields(feed: Feed) -> tuple[str, str]:
    """(the column of a reversal row naming the row it cancels, the column it names), quoted."""
    if feed.reversal is None:
        raise ValueError(f"{feed.name} has no reversal rows")
    fields = {c.name: c.field for c in feed.columns}
    return q(fields[feed.reversal["column"]]), q(fields[feed.reversal["cancels"]])


def _keyed_by_cancelled(feed: Feed) -> bool:
    """Whether a night can link reversals only where they can have changed: an incremental feed keyed by
    the column reversals name (a settlement by its number), so that the keys whose currency changed say
    which rows to look at."""
    if not feed.reversal or feed.kind != "incremental":
        return False
    return [q(f) for f in feed.key_fields] == [_reversal_fields(feed)[1]]


def _relink_reversals(con: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    """reversed_by again where it can have changed since the last night: the rows of the keys whose
    currency was recomputed (_jz_keys), and the rows that any version of those keys, or a removed row
    (_jz_cancelled), names as cancelled. The other rows' links are as the whole history would give."""
    pointer, target = _reversal_fields(feed)
    table = f"staging.{feed.name}"
    con.execute(
        f"""INSERT INTO _jz_cancelled (id)
            SELECT {target} FROM _jz_keys
            UNION SELECT {pointer} FROM {table} WHERE {pointer} IS NOT NULL AND {target} IN (SELECT {target} FROM _jz_keys)"""
    )
    only = "IN (SELECT id FROM _jz_cancelled)"
    con.execute(f"UPDATE {table} SET reversed_by = NULL WHERE reversed_by IS NOT NULL AND {target} {only}")
    _link_reversals(con, feed, only)


def _link_reversals(con: duckdb.DuckDBPyConnection, feed: Feed, only: str | None = None) -> None:
    """A reversal row cancels the row it names: the cancelled row learns which one (reversed_by).
    ``only``: a condition on the cancelled row's ID (None: every row)."""
    pointer, target = _reversal_fields(feed)
    table = f"staging.{feed.name}"
    within, within_target = (f" AND {pointer} {only}", f" AND s.{target} {only}") if only else ("", "")
    con.execute(
        f"""UPDATE {table} s SET reversed_by = r.by FROM (
                SELECT {pointer} AS cancels, max({target}) AS by FROM {table}
                WHERE is_current AND {pointer} IS NOT NULL{within} GROUP BY 1) r
            WHERE s.{target} = r.cancels AND s.is_current{within_target}"""
    )
