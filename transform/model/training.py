"""Training rows for the risk model: household features at monthly dates over the history,
each computed only from what was known that night, with labels from what happened next.

A household is positive at date D if, within the six months after D, one of its
members (as of D) started 低保, 特困 or 临时救助, or a township verified a warning for
it as 情况属实. Labels use everything known on the training night; features never
do (they are built by build_core for D itself).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from jiuzhu.config import load_policy
from transform.core.build import build_core
from transform.model.frames import DETAIL

HORIZON_MONTHS = 6
SCHEMA, RESTRICTED = "train_core", "train_restricted"


def month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    out: list[dt.date] = []
    d = dt.date(first.year, first.month, 1)
    while True:
        nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        end = nxt - dt.timedelta(days=1)
        if end > last:
            return out
        if end >= first:
            out.append(end)
        d = nxt


def training_dates(con: duckdb.DuckDBPyConnection, as_of: dt.date, min_history_months: int = 6) -> list[dt.date]:
    """Month ends with at least some history before them and a complete label window after."""
    first = con.execute("SELECT min(extract_date) FROM audit.files WHERE status = 'loaded'").fetchall()[0][0]
    if first is None:
        return []
    start = _add_months(first, min_history_months)
    last = _add_months(as_of, -HORIZON_MONTHS)
    return month_ends(start, last)


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return dt.date(year, month, min(d.day, days[month - 1]))


def build_training_rows(con: duckdb.DuckDBPyConnection, as_of: dt.date, dates: list[dt.date]) -> int:
    """(Re)build model.training_rows for ``dates``; labels as known on ``as_of``."""
    con.execute("CREATE SCHEMA IF NOT EXISTS model")
    con.execute("DROP TABLE IF EXISTS model.training_rows")
    for d in dates:
        build_core(con, d, load_policy(d), schema=SCHEMA, restricted=RESTRICTED)
        end = _add_months(d, HORIZON_MONTHS)
        # the dates are bound: $as_of (labels as known tonight), $d (the training night), $end (D + 6 months)
        label_sql = f"""
            WITH entered AS (  -- a member started assistance in (D, D + 6 months], as known tonight
                SELECT DISTINCT m.household_id
                FROM {SCHEMA}.household_members m
                JOIN {RESTRICTED}.person_ids k USING (person_key)
                JOIN staging.mz_assistance a ON a.id_number = k.id_number
                WHERE a.extract_date <= $as_of AND a.category IN ('城市低保', '农村低保', '特困供养', '临时救助')
                  AND a.start_date > $d AND a.start_date <= $end
            ), verified AS (  -- or a township found a warning true in that window
                SELECT DISTINCT w.household_id FROM staging.zj_feedback fb
                JOIN monitoring.warnings w ON w.warning_id = fb.warning_id
                WHERE fb.is_current AND fb.check_result = '情况属实'
                  AND fb.check_date > $d AND fb.check_date <= $end
            )
            -- every feature; not the columns naming members for the reasons: kept month after month, they would
            -- pile up names and health dates the model never reads
            SELECT COLUMNS(c -> NOT ends_with(c, '{DETAIL}')), (f.household_id IN (SELECT household_id FROM entered)
                         OR f.household_id IN (SELECT household_id FROM verified)) AS label
            FROM {SCHEMA}.household_features f"""
        nights = {"as_of": as_of, "d": d, "end": end}
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'model' AND table_name = 'training_rows'"
        ).fetchall()[0][0]
        if exists:
            con.execute(f"INSERT INTO model.training_rows BY NAME {label_sql}", nights)
        else:
            con.execute(f"CREATE TABLE model.training_rows AS {label_sql}", nights)
    for table in (
        "persons",
        "household_members",
        "households",
        "persons_outside_roster",
        "assistance",
        "household_features",
        "linkage_suggestions",
    ):
        con.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")
    con.execute(f"DROP TABLE IF EXISTS {RESTRICTED}.person_ids")
    return con.execute("SELECT count(*) FROM model.training_rows").fetchall()[0][0]
