"""The supervision workbook of the county's 社会救助综合服务中心 (item 12: 督查、转办交办): per township
and in total, what is open and overdue, answered on time, how long answers take, what the visits
found; and the overdue warnings one by one (numbers and dates only: the centre looks the
household up in the township's list)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import duckdb

from exports.excel import HEADER_FORMAT, TITLE_FORMAT, open_workbook, write_sheet
from exports.export_log import log_export
from jiuzhu.config import load_county

FILE = "社会救助综合服务中心_督办汇总.xlsx"
COLUMNS = [  # (header, key of monitoring.township_supervision, width)
    ("镇街", "township_name", 16),
    ("在办预警", "open_warnings", 9),
    ("逾期未反馈", "overdue", 10),
    ("已到期或已反馈", "due_so_far", 12),
    ("按期反馈", "answered_on_time", 9),
    ("按期反馈率", "on_time", 10),
    ("已反馈", "answered", 8),
    ("反馈用时中位数（天）", "median_days_to_feedback", 14),
    ("情况属实", "found_true", 9),
    ("情况不属实", "found_not_true", 10),
    ("已在保", "already_assisted", 8),
    ("无法联系", "unreachable", 9),
    ("属实率", "true_share", 8),
    ("最久未反馈的预警", "oldest_unanswered", 22),
    ("已等待（天）", "oldest_unanswered_days", 11),
    ("未采用的反馈行（累计）", "not_taken", 12),
]
OVERDUE_SQL = """
SELECT warning_id, township_name, level, first_flagged_on, due_on, ($d - due_on)::INTEGER AS days_overdue
FROM monitoring.warnings WHERE as_of_date = $d AND first_feedback_on IS NULL AND due_on < $d
ORDER BY due_on, township_code, warning_id
"""


def percent(share: float | None) -> str | None:
    """A share as the county reads it (78%); None where there is none yet."""
    return None if share is None else f"{share:.0%}"


def write_supervision_workbook(
    con: duckdb.DuckDBPyConnection,
    rows: list[dict],
    as_of: dt.date,
    out_dir: Path,
    run_id: str | None = None,
    not_taken: Sequence[dict] = (),
) -> Path:
    """The workbook, logged in audit.export_log; ``not_taken``: the rows of returned workbooks that
    were not taken (transform.monitoring.feedback.not_taken), counted per township and in total."""
    county = load_county()
    counted = Counter(r["township_code"] for r in not_taken if r["row_number"] is not None)
    # the townships' rows, then the county's (build_supervision's order)
    not_taken_shown = [counted[r["township_code"]] for r in rows[:-1]] + [sum(counted.values())]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE
    wb = open_workbook(path)
    header = wb.add_format(HEADER_FORMAT)
    title = wb.add_format(TITLE_FORMAT)
    shown = [
        r
        | {
            "on_time": percent(r["answered_on_time_share"]),
            "true_share": percent(r["found_true_share"]),
            "not_taken": n,
        }
        for r, n in zip(rows, not_taken_shown)
    ]
    write_sheet(
        wb,
        "督办汇总",
        [h for h, _, _ in COLUMNS],
        ([r.get(k) for _, k, _ in COLUMNS] for r in shown),
        widths=[w for _, _, w in COLUMNS],
        header_format=header,
        title_format=title,
        title=[
            f"{county.name}低收入人口监测预警 镇街核查反馈督办汇总 — 截至 {as_of}",
            f"{county.centre}：按期反馈＝首次核查日期不晚于应反馈日期；属实率＝反馈为情况属实的预警占已反馈预警的比例；"
            "未采用的反馈行＝镇街报送的反馈中未被采用的行（原因列在该镇街工作簿的“未采用的反馈”表中）。",
        ],
        printed=f"督办汇总 截至 {as_of}",
    )
    overdue = con.execute(OVERDUE_SQL, {"d": as_of}).fetchall()
    write_sheet(
        wb,
        "逾期未反馈",
        ["预警编号", "镇街", "等级", "首次预警", "应反馈日期", "逾期天数"],
        overdue,
        widths=[22, 16, 6, 12, 12, 9],
        header_format=header,
        title_format=title,
        autofilter=True,
        title=[f"逾期未反馈的预警 — 截至 {as_of}（请督促各镇街核查后在反馈表中填写）"],
        printed=f"逾期未反馈 截至 {as_of}",
    )
    wb.close()
    log_export(con, as_of, path, "supervision", county.centre, len(rows) + len(overdue), run_id)
    return path
