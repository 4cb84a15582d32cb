"""Training rows for the risk model: household features at month ends over the history,
each computed only from what was known that night (kept in model.feature_history,
transform/model/history.py), with labels from what happened next.

A household is positive at date D if, within the six months after D, one of its
members (as of D) started 低保, 特困 or 临时救助, or a township verified a warning for
it as 情况属实. Labels use everything known on the training night; features never
do (they are core's features for D itself).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from models.income import FRESH_DAYS
from models.risk import MAX_FIT_ROWS, WEIGHT, negative_rate, split_dates
from transform.model.history import FEATURES, MEMBERS, ensure_history, reconstructed_from, records_from
from transform.sql import dates_sql
from warehouse.resource import table_exists

HORIZON_MONTHS = 6
# training month ends with a roster in force (each with its six months of outcomes behind it: about
# 18 months after the county connected) from which training drops the ones rebuilt from a bulk delivery
REAL_MONTHS_ENOUGH = 12
MAX_REBUILT_MONTHS = 24  # at most this many month ends before the first roster are rebuilt (a long delivery)
SAMPLE = "training_sample"  # a temporary view: the rows training reads
ROWS = "model.training_rows"  # a view: every training night's kept features, with its label
POSITIVES = "model.training_positives"  # the households of each training night whose label is true
SEED = 7


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
    """Month ends with at least some history before them and a complete label window after.

    A county that delivered its history in bulk has records from well before its first roster: the
    month ends from ``min_history_months`` after the records begin count (at most MAX_REBUILT_MONTHS
    before the roster), those before the roster rebuilt from the records' own dates
    (transform/model/history.py), until REAL_MONTHS_ENOUGH month ends had a roster in force and
    training uses those alone."""
    first = con.execute("SELECT min(extract_date) FROM audit.files WHERE status = 'loaded'").fetchall()[0][0]
    roster = reconstructed_from(con)
    if first is None or roster is None:  # no roster: no household to train on
        return []
    start = first
    records = records_from(con, roster)
    if records is not None and _add_months(records, min_history_months) <= roster:  # delivered in bulk
        start = max(records, _add_months(roster, -MAX_REBUILT_MONTHS - min_history_months))
    dates = month_ends(_add_months(start, min_history_months), _add_months(as_of, -HORIZON_MONTHS))
    real = [d for d in dates if d >= roster]
    return real if len(real) >= REAL_MONTHS_ENOUGH else dates


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return dt.date(year, month, min(d.day, days[month - 1]))


def build_training_rows(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, dates: list[dt.date], progress: bool = True, rebuild: bool = False
) -> tuple[int, list[dt.date]]:
    """(Re)build model.training_rows (ROWS) for ``dates`` from the kept month ends (built first where missing or
    stale, transform/model/history.py; all of them: ``rebuild``); labels as known on ``as_of``.
    Returns the rows and the month ends that had to be built."""
    built = ensure_history(con, dates, progress, rebuild)
    # the positives are kept (a few thousand rows), and the training rows are a view over the history
    # with them: a copy of the history (2.4M wide rows at the county default) took 16 of 18 s to write
    # the dates are bound: $as_of (labels as known tonight), $dates (the training nights)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {POSITIVES} AS
        WITH nights AS (SELECT unnest($dates::DATE[]) AS as_of_date), outcomes AS ({outcomes_sql("nights")})
        SELECT as_of_date, household_id FROM outcomes WHERE entered_on IS NOT NULL OR coalesce(verified, false)""",
        {"as_of": as_of, "dates": dates},
    )
    if table_exists(con, ROWS):  # a table before (a view cannot replace it)
        con.execute(f"DROP TABLE {ROWS}")
    # a view takes no parameters: the dates are written in (ISO dates only)
    con.execute(
        f"""CREATE OR REPLACE VIEW {ROWS} AS
            SELECT f.*, p.household_id IS NOT NULL AS label
            FROM {FEATURES} f LEFT JOIN {POSITIVES} p USING (as_of_date, household_id)
            WHERE f.as_of_date IN ({dates_sql(dates)})"""
    )
    return con.execute(f"SELECT count(*) FROM {ROWS}").fetchall()[0][0], built


def outcomes_sql(nights: str) -> str:
    """SQL: what happened to each household of each night of ``nights`` (a relation with as_of_date) in
    the HORIZON_MONTHS after it, as known on $as_of: ``entered_on``, the first date a member on that
    night started assistance (低保, 特困, 临时救助), and ``verified``, whether a township found one of its
    warnings true (情况属实) then. A household with neither has no row. The risk model's label, and
    each rule's record (transform/monitoring/backtest.py)."""
    return f"""
        WITH windows AS (
            SELECT as_of_date, as_of_date + INTERVAL ({HORIZON_MONTHS}) MONTH AS horizon FROM {nights}
        ), entered AS (
            SELECT m.as_of_date, m.household_id, min(a.start_date) AS entered_on
            FROM {MEMBERS} m
            JOIN windows n USING (as_of_date)
            JOIN (SELECT jz_person_key(id_number) AS person_key, start_date FROM staging.mz_assistance
                  WHERE extract_date <= $as_of AND id_number IS NOT NULL
                    AND category IN ('城市低保', '农村低保', '特困供养', '临时救助')) a USING (person_key)
            WHERE a.start_date > n.as_of_date AND a.start_date <= n.horizon
            GROUP BY ALL
        ), verified AS (
            SELECT DISTINCT n.as_of_date, w.household_id, true AS verified
            FROM staging.zj_feedback fb
            JOIN monitoring.warnings w ON w.warning_id = fb.warning_id
            JOIN windows n ON fb.check_date > n.as_of_date AND fb.check_date <= n.horizon
            WHERE fb.is_current AND fb.check_result = '情况属实'
        )
        SELECT as_of_date, household_id, e.entered_on, v.verified
        FROM entered e FULL JOIN verified v USING (as_of_date, household_id)"""


def sample_training_rows(con: duckdb.DuckDBPyConnection, seed: int = SEED, max_rows: int = MAX_FIT_ROWS) -> int:
    """The temporary view SAMPLE over model.training_rows: the rows training reads, with their WEIGHT
    (models/risk.py); returns how many training rows there are in all.

    Sampled here, not in pandas: the frame holds about MAX_FIT_ROWS sampled rows and four months, not
    every month end of the history (at 48 months, 7.9M rows read whole took training to 9.5 GiB).
    Kept whole: every positive, the calibration month and the held-out months (judged on every
    household), and every household verified recently enough to teach the income estimate
    (models/income.py). A negative of the other months is kept when the hash of its household and
    date falls under the rate: the same rows whatever order DuckDB's threads read them in."""
    dates = [d for (d,) in con.execute(f"SELECT DISTINCT as_of_date FROM {ROWS} ORDER BY 1").fetchall()]
    train_dates, test_dates = split_dates(dates)
    rows, positives = con.execute(
        f"SELECT count(*), count(*) FILTER (label) FROM {ROWS} WHERE as_of_date IN (SELECT unnest($d))",
        {"d": train_dates},
    ).fetchall()[0]
    rate = negative_rate(positives, rows - positives, max_rows)
    # a view takes no parameters: the dates and the rate are written in (numbers and ISO dates only)
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {SAMPLE} AS
        WITH drawn AS (
            SELECT *, (md5_number_lower(concat_ws('|', {int(seed)}, household_id, as_of_date)) >> 11)::DOUBLE
                      / 9007199254740992.0 < {rate!r} AS sampled
            FROM {ROWS}
        )
        SELECT * EXCLUDE (sampled),
               CASE WHEN as_of_date IN ({dates_sql(test_dates)}) THEN 0.0
                    WHEN label THEN 1.0 WHEN sampled THEN {1 / rate!r} ELSE 0.0 END AS {WEIGHT}
        FROM drawn
        WHERE label OR sampled OR as_of_date IN ({dates_sql([*train_dates[-1:], *test_dates])})
           OR (verification_date >= as_of_date - INTERVAL {FRESH_DAYS} DAY AND per_capita_monthly_income >= 0)"""
    )
    return (
        rows
        + con.execute(f"SELECT count(*) FROM {ROWS} WHERE as_of_date IN ({dates_sql(test_dates)})").fetchall()[0][0]
    )
