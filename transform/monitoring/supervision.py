"""Supervision of the townships (items 12 and 16 of 乐办字〔2021〕21号): per township and in total,
what is open and overdue, what was answered within its deadline, how long answers take, what
the visits found, and the oldest warning still unanswered.

Every warning issued up to the night counts once, as it stood on its latest night (a warning
that ended keeps the answer it had); results are each warning's latest answer that stands
(transform/monitoring/feedback.py).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from transform.monitoring.feedback import valid_feedback
from warehouse.resource import transaction

TOTAL = "合计"

SUPERVISION_SQL = """
WITH latest AS (  -- each warning issued so far, on its latest night
    SELECT * FROM monitoring.warnings WHERE as_of_date <= $as_of
    QUALIFY row_number() OVER (PARTITION BY warning_id ORDER BY as_of_date DESC) = 1
), answers AS (
    SELECT warning_id, min(check_date) AS first_answer, arg_max(check_result, (check_date, file_id, source_row)) AS result
    FROM {feedback} WHERE check_date <= $as_of GROUP BY warning_id
), w AS (
    SELECT l.*, a.first_answer, a.result, l.as_of_date = $as_of AS open,
           l.as_of_date = $as_of AND a.first_answer IS NULL AND l.due_on < $as_of AS is_overdue,
           a.first_answer IS NOT NULL OR l.due_on < $as_of AS is_due
    FROM latest l LEFT JOIN answers a USING (warning_id)
)
SELECT $as_of AS as_of_date, coalesce(township_code, '{total}') AS township_code,
       CASE WHEN township_code IS NULL THEN '{total}' ELSE any_value(township_name) END AS township_name,
       count(*) FILTER (WHERE open) AS open_warnings,
       count(*) FILTER (WHERE is_overdue) AS overdue,
       count(*) FILTER (WHERE is_due) AS due_so_far,
       count(*) FILTER (WHERE first_answer <= due_on) AS answered_on_time,
       round(count(*) FILTER (WHERE first_answer <= due_on) / nullif(count(*) FILTER (WHERE is_due), 0), 4)
           AS answered_on_time_share,
       count(first_answer) AS answered,
       median(first_answer - first_flagged_on) AS median_days_to_feedback,
       count(*) FILTER (WHERE result = '情况属实') AS found_true,
       count(*) FILTER (WHERE result = '情况不属实') AS found_not_true,
       count(*) FILTER (WHERE result = '已在保') AS already_assisted,
       count(*) FILTER (WHERE result = '无法联系') AS unreachable,
       round(count(*) FILTER (WHERE result = '情况属实') / nullif(count(first_answer), 0), 4) AS found_true_share,
       arg_min(warning_id, (first_flagged_on, warning_id)) FILTER (WHERE open AND first_answer IS NULL) AS oldest_unanswered,
       ($as_of - min(first_flagged_on) FILTER (WHERE open AND first_answer IS NULL))::INTEGER AS oldest_unanswered_days
FROM w GROUP BY GROUPING SETS ((township_code), ())
"""


def build_supervision(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[dict]:
    """monitoring.township_supervision for the night (a re-run replaces it); returns its rows,
    townships by code, the total last."""
    with transaction(con):
        con.execute("DELETE FROM monitoring.township_supervision WHERE as_of_date = ?", [as_of])
        con.execute(
            "INSERT INTO monitoring.township_supervision BY NAME "
            + SUPERVISION_SQL.format(feedback=valid_feedback(), total=TOTAL),
            {"as_of": as_of},
        )
    cur = con.execute(
        "SELECT * FROM monitoring.township_supervision WHERE as_of_date = ? ORDER BY township_code = ?, township_code",
        [as_of, TOTAL],
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
