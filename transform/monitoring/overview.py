"""The night's warning list at a glance, for the Dagster UI: hits per rule, warnings per
township and level, and the most urgent warnings without personal data."""

from __future__ import annotations

import datetime as dt

import duckdb

from models.rules import LEVEL_ORDER

PREVIEW_ROWS = 10
# The UI preview of the list: no name, address, phone or full ID number, and no reasons text either
# (it tells of illness, disability, deaths and medical spending: health details of a person).
PREVIEW_SQL = f"""
    SELECT warning_id, township_name, village, level, rule_codes, status, first_flagged_on, risk_score, person_masked_id
    FROM monitoring.warnings WHERE as_of_date = ?
    ORDER BY CASE level {" ".join(f"WHEN '{lv}' THEN {i}" for i, lv in enumerate(LEVEL_ORDER))} END,
             risk_score DESC NULLS LAST, township_code, warning_id
    LIMIT ?"""


def hits_by_rule(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[tuple[str, int | None, bool]]:
    """(rule_code, hits, evaluated) for every rule of the night."""
    return con.execute(
        "SELECT rule_code, hits, evaluated FROM monitoring.rule_status WHERE as_of_date = ? ORDER BY rule_code", [as_of]
    ).fetchall()


def warnings_by_township_and_level(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[tuple[str, str, int]]:
    """(township_name, level, warnings) of the night."""
    return con.execute(
        """SELECT township_name, level, count(*) FROM monitoring.warnings WHERE as_of_date = ?
           GROUP BY ALL ORDER BY 1, 2""",
        [as_of],
    ).fetchall()


def most_urgent_warnings(con: duckdb.DuckDBPyConnection, as_of: dt.date, limit: int = PREVIEW_ROWS) -> list[tuple]:
    """The first warnings, most urgent first (level, then score), without personal data."""
    return con.execute(PREVIEW_SQL, [as_of, limit]).fetchall()
