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
import json
from collections import Counter

import duckdb

from transform.as_of import relations
from transform.staging.spec_sql import RESENT, file_township_sql

REASONS = {
    "FEEDBACK_UNKNOWN_WARNING": "预警编号不存在（此前没有下发过这个编号，可能填错）",
    "FEEDBACK_OTHER_TOWNSHIP": "预警编号属于其他镇街，不是本镇街工作簿中的预警",
    "FEEDBACK_BEFORE_WARNING": "核查日期早于该预警首次下发的日期",
}
# What a township does about a row of its returned workbook that was not taken, by reason code
TO_DO = {
    "FEEDBACK_UNKNOWN_WARNING": "预警编号不存在：请核对后在下次反馈中更正",
    "FEEDBACK_OTHER_TOWNSHIP": "该预警属于其他镇街，本镇街无需反馈；如确属本镇街，请联系县社会救助综合服务中心",
    "FEEDBACK_BEFORE_WARNING": "核查日期早于预警下发日期：请填写入户核查的实际日期，在下次反馈中更正",
    "DATE_IMPOSSIBLE": "核查日期晚于报送日期（或早于1900年）：请核对后在下次反馈中更正",
    "DATE_INVALID": "核查日期无法识别：请按 2026-12-03 的格式填写，在下次反馈中更正",
    "ENUM_INVALID": "核查结果或帮扶措施不在下拉列表中：请从列表中选择，在下次反馈中更正",
    "REQUIRED_MISSING": "预警编号、核查日期、核查结果须填写：请补填后在下次反馈中报送",
    "DUPLICATE_KEY": "同一预警、同一核查日期填写了不同内容，以较晚报送的一行为准：如不对，请在下次反馈中更正",
}
OTHERWISE = "请按原因核对后在下次反馈中更正"
FILE_TO_DO = "整份文件未读取：请按原因处理后重新报送该工作簿"

# The rows of returned files that were not taken, up to the night: each distinct row once (a
# township that sends a wrong row again is told once, with how often it came), its newest copy
# first; a row sent again the same day as it stood (DUPLICATE_ROW) was taken, and is not listed.
NOT_TAKEN_SQL = """
WITH q AS (
    SELECT {township} AS township_code, coalesce(f.display_name, q.file_name) AS file_name, f.extract_date,
           q.file_id, q.row_number, q.reason_code, q.reason, q.raw
    FROM audit.quarantine q JOIN audit.files f USING (file_id)
    WHERE q.feed = 'zj_feedback' AND f.extract_date <= $d AND q.reason_code <> '{resent}'
)
SELECT township_code, file_name, extract_date, row_number, reason_code, reason, raw,
       count(*) OVER (PARTITION BY township_code, reason_code, raw::VARCHAR) AS times_sent
FROM q
QUALIFY row_number() OVER (PARTITION BY township_code, reason_code, raw::VARCHAR
                           ORDER BY extract_date DESC, file_id DESC, row_number) = 1
UNION ALL  -- returned files not read at all
SELECT {file_township}, coalesce(display_name, file_name), extract_date, NULL, reason_code, reason, NULL, 1
FROM audit.files WHERE feed = 'zj_feedback' AND status = 'rejected' AND coalesce(extract_date, $d) <= $d
ORDER BY township_code, extract_date DESC NULLS LAST, file_name, row_number NULLS FIRST, reason_code
"""


def check_feedback(con: duckdb.DuckDBPyConnection, as_of: dt.date, run_id: str | None = None) -> int:
    """Quarantine tonight's newly seen feedback rows that cannot be taken; returns how many."""
    r = relations()
    reasons = " ".join(f"WHEN '{code}' THEN '{text}'" for code, text in REASONS.items())
    return con.execute(
        f"""INSERT INTO audit.quarantine (feed, file_name, row_number, reason_code, reason, raw, file_id, stage,
                                          run_id, quarantined_at)
            WITH fb AS (SELECT * FROM {r["zj_feedback"]}),
            issued AS (  -- every warning an earlier night issued, with its township and first night
                SELECT warning_id, any_value(township_code) AS township_code, min(first_flagged_on) AS first_flagged_on
                FROM monitoring.warnings WHERE as_of_date < $as_of GROUP BY warning_id
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
        {"as_of": as_of, "run_id": run_id},
    ).fetchall()[0][0]


def valid_feedback() -> str:
    """A SQL subquery: the feedback rows that stand on the night ``$as_of`` (see the module's docstring)."""
    return (
        f"(SELECT * FROM {relations()['zj_feedback']} fb WHERE NOT EXISTS ("
        "SELECT 1 FROM audit.quarantine q WHERE q.file_id = fb.file_id AND q.row_number = fb.source_row))"
    )


def not_taken(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[dict]:
    """The rows (and whole files) of returned workbooks that were not taken, up to the night, each
    with the returning township (None: a file whose name names none), what to do, and how many
    times it came (NOT_TAKEN_SQL); townships by code, newest first."""
    cur = con.execute(
        NOT_TAKEN_SQL.format(
            township=file_township_sql("q.file_name"), file_township=file_township_sql("file_name"), resent=RESENT
        ),
        {"d": as_of},
    )
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        r = dict(zip(names, row))
        raw = r.pop("raw")
        r["values"] = json.loads(raw) if raw is not None else {}  # the row as returned (as the quarantine keeps it)
        r["to_do"] = FILE_TO_DO if r["row_number"] is None else TO_DO.get(r["reason_code"], OTHERWISE)
        out.append(r)
    return out


def not_taken_summary(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> tuple[list[tuple[str, int]], int]:
    """(rows not taken up to the night by reason, each distinct row once, most first; rows that
    were only sent again: the same day as the row that stands, or a row not taken sent again)."""
    rows = [r for r in not_taken(con, as_of) if r["row_number"] is not None]
    by_reason = Counter(r["reason_code"] for r in rows)
    again = con.execute(
        """SELECT count(*) FROM audit.quarantine q JOIN audit.files f USING (file_id)
           WHERE q.feed = 'zj_feedback' AND f.extract_date <= ? AND q.reason_code = ?""",
        [as_of, RESENT],
    ).fetchall()[0][0]
    return sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])), again + sum(r["times_sent"] - 1 for r in rows)
