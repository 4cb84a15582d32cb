"""Township feedback, checked before the warning list uses it (issue: the township loop).

A feedback row the night has not seen before either stands or is quarantined once, with a
reason the township can act on (audit.quarantine, stage 'feedback'; shown in the quality
workbook of zj_feedback and on its scorecard):

- FEEDBACK_UNKNOWN_WARNING: no earlier night issued that 预警编号 (a typo, most likely);
- FEEDBACK_OTHER_TOWNSHIP: the warning belongs to another township than the workbook's
  (``returned_by``: the township the returned file's name says, jiuzhu.config.township_workbook_name;
  it is part of the feed's key, so such a row never displaces the genuine answer of the same
  预警编号 and 核查日期, config/feeds.yaml);
- FEEDBACK_BEFORE_WARNING: the 核查日期 is before the warning was first issued.

A 核查日期 after the file was saved and a 核查结果 outside the list were quarantined by staging
already (DATE_IMPOSSIBLE, ENUM_INVALID). ``valid_feedback`` is what stands: the rows known on
the night (point in time, the latest version of each answer, 预警编号 + 核查日期 + the returning
township: a re-sent answer does not count twice) less every row ever quarantined. Feedback on a
warning that has ended is kept: it is recorded against that warning.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from transform.as_of import relations

REASONS = {
    "FEEDBACK_UNKNOWN_WARNING": "预警编号不存在（此前没有下发过这个编号，可能填错）",
    "FEEDBACK_OTHER_TOWNSHIP": "预警编号属于其他镇街，不是本镇街工作簿中的预警",
    "FEEDBACK_BEFORE_WARNING": "核查日期早于该预警首次下发的日期",
}


def check_feedback(con: duckdb.DuckDBPyConnection, as_of: dt.date, run_id: str | None = None) -> int:
    """Quarantine tonight's newly seen feedback rows that cannot be taken; returns how many."""
    r = relations(as_of)
    reasons = " ".join(f"WHEN '{code}' THEN '{text}'" for code, text in REASONS.items())
    return con.execute(
        f"""INSERT INTO audit.quarantine (feed, file_name, row_number, reason_code, reason, raw, file_id, stage,
                                          run_id, quarantined_at)
            WITH fb AS (SELECT * FROM {r["zj_feedback"]}),
            issued AS (  -- every warning an earlier night issued, with its township and first night
                SELECT warning_id, any_value(township_code) AS township_code, min(first_flagged_on) AS first_flagged_on
                FROM monitoring.warnings WHERE as_of_date < $d GROUP BY warning_id
            ),
            judged AS (
                SELECT fb.*, CASE
                    WHEN i.warning_id IS NULL THEN 'FEEDBACK_UNKNOWN_WARNING'
                    WHEN fb.returned_by <> i.township_code THEN 'FEEDBACK_OTHER_TOWNSHIP'
                    WHEN fb.check_date < i.first_flagged_on THEN 'FEEDBACK_BEFORE_WARNING' END AS reason_code
                FROM fb LEFT JOIN issued i USING (warning_id)
                WHERE NOT EXISTS (SELECT 1 FROM audit.quarantine q
                                  WHERE q.file_id = fb.file_id AND q.row_number = fb.source_row)
            )
            SELECT 'zj_feedback', source_file, source_row, reason_code, CASE reason_code {reasons} END,
                   json_object('预警编号', warning_id, '户编号', household_id, '核查日期', check_date::VARCHAR,
                               '核查结果', check_result, '帮扶措施', measure),
                   file_id, 'feedback', $run_id, now()::TIMESTAMP
            FROM judged WHERE reason_code IS NOT NULL ORDER BY file_id, source_row""",
        {"d": as_of, "run_id": run_id},
    ).fetchall()[0][0]


def valid_feedback(as_of: dt.date) -> str:
    """A SQL subquery: the feedback rows that stand on the night (see the module's docstring)."""
    return (
        f"(SELECT * FROM {relations(as_of)['zj_feedback']} fb WHERE NOT EXISTS ("
        "SELECT 1 FROM audit.quarantine q WHERE q.file_id = fb.file_id AND q.row_number = fb.source_row))"
    )
