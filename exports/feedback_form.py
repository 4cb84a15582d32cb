"""The 反馈 sheet: the form a township answers in the workbook it received (FEEDS.md zj_feedback).

Each open warning is a row, pre-filled with what identifies it and by when it must be answered;
staff fill in the answer columns (results and measures from drop-down lists) and drop the
workbook into the landing zone's zj_feedback/ folder. The reader takes this sheet (it names the
most zj_feedback columns), skips the rows not answered yet, and the night checks the rest.
The answer columns and their lists are the feed spec's (config/feeds.yaml): one home.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from xlsxwriter.workbook import Workbook

from exports.excel import open_workbook, title_lines, write_sheet
from jiuzhu.config import load_feeds

SHEET = "反馈"
# pre-filled from the warning: (header, key of the export row, width)
GIVEN = [
    ("预警编号", "warning_id", 22),
    ("户编号", "household_id", 18),
    ("姓名", "name", 10),
    ("等级", "level", 6),
    ("预警规则", "rules", 14),
    ("应反馈日期", "due_on", 12),
]
WIDTHS = {"核查日期": 12, "核查结果": 12, "帮扶措施": 12, "措施说明": 30, "核查人": 10, "联系电话": 14, "备注": 30}
HOW = (
    "填写方法：入户核查后填写右侧各列（核查结果、帮扶措施从下拉列表中选择），保存后将本工作簿放入接收目录的 "
    "zj_feedback 文件夹；未填写的行不计入。"
)
BLANK_ROWS = 300  # rows of a blank template that carry the drop-down lists


def answer_columns() -> list[str]:
    return list(load_feeds()["zj_feedback"].answer_columns)


def write_feedback_sheet(
    wb: Workbook, rows: list[dict], township: str, as_of: dt.date, formats: dict, blank_rows: int = 0
) -> int:
    """The 反馈 sheet of a township workbook (``rows``: its open warnings, most urgent first), or of
    the blank template (no rows, ``blank_rows`` rows with the lists). Returns the rows written."""
    answers = answer_columns()
    header = [h for h, _, _ in GIVEN] + answers
    widths = [w for _, _, w in GIVEN] + [WIDTHS.get(a, 14) for a in answers]
    cells = [[row.get(key) for _, key, _ in GIVEN] + [None] * len(answers) for row in rows]
    title = title_lines(township, as_of, "核查反馈表", HOW)
    ws, written = write_sheet(
        wb,
        SHEET,
        header,
        cells,
        widths=widths,
        header_format=formats["header"],
        title=title,
        title_format=formats.get("title"),
        printed=f"{township} 核查反馈表 截至 {as_of}",
    )
    first, last = len(title) + 1, len(title) + max(written, blank_rows)
    spec = load_feeds()["zj_feedback"]
    for j, column in enumerate(answers, start=len(GIVEN)):
        values, is_date = spec.column(column).values, spec.column(column).type == "date"
        answer = formats.get("answer_date" if is_date else "answer")
        for row in range(first, max(last, first) + 1):  # the cells to fill in, not the title above them
            ws.write_blank(row, j, None, answer)
        if values:
            ws.data_validation(
                first,
                j,
                max(last, first),
                j,
                {
                    "validate": "list",
                    "source": list(values),
                    "error_type": "stop",
                    "input_title": column,
                    "input_message": "请从下拉列表中选择",
                    "error_title": "不在列表中",
                    "error_message": f"{column}只能是：{'、'.join(values)}",
                },
            )
        elif is_date:
            ws.data_validation(
                first,
                j,
                max(last, first),
                j,
                {
                    "validate": "date",
                    "criteria": "between",
                    "minimum": dt.date(2000, 1, 1),
                    "maximum": dt.date(2099, 12, 31),
                    "error_type": "stop",
                    "input_title": column,
                    "input_message": "入户核查的日期，例如 2026-12-03",
                    "error_title": "不是日期",
                    "error_message": "请填写日期，例如 2026-12-03",
                },
            )
    return written


def write_template(path: Path, as_of: dt.date, formats_of) -> None:
    """A blank 反馈 sheet (for warnings a township learns of by phone, or a lost workbook)."""
    wb = open_workbook(path)
    write_feedback_sheet(wb, [], "（镇街）", as_of, formats_of(wb), blank_rows=BLANK_ROWS)
    wb.close()
