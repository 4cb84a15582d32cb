"""Synthetic townships answer the workbooks of a night: staff fill in the 反馈 sheet of the
workbook they received (after a visit, some late, a few never) and drop it into the landing
zone's zj_feedback/ folder under its own name, as a township would. A few answers carry the
mistakes real ones do: a mistyped 预警编号, a warning of another township pasted in, a check
date in the future or before the warning began, a result typed outside the list.

    answer_workbooks(exports / "2026-11-14", landing, answered_by=date(2026, 11, 28), seed=7)

The workbook is written again with every sheet's values (the reader needs values, not
formatting); its modification time is the day it was returned, 17:00 Beijing time.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import xlsxwriter
from python_calamine import CalamineWorkbook

from jiuzhu.calendar import COUNTY_TZ
from jiuzhu.config import load_policy, township_of_workbook
from synth import vocab

SHEET = "反馈"
RESULTS = ("情况属实", "情况不属实", "已在保", "无法联系")
RESULT_SHARES = (0.55, 0.2, 0.1, 0.15)
MEASURES = {
    "情况属实": ("纳入低保", "临时救助", "医疗救助", "就业帮扶", "持续监测"),
    "情况不属实": ("无",),
    "已在保": ("持续监测",),
    "无法联系": ("持续监测",),
}
ANSWERED_SHARE = 0.8
MISTAKES = {"typo": 0.04, "other_township": 0.03, "date_future": 0.02, "date_before": 0.02, "result": 0.02}


def _header_row(cells: list[list]) -> int:
    return next(i for i, row in enumerate(cells) if row and row[0] == "预警编号")


def answer_workbooks(exports: Path, landing: Path, answered_by: dt.date, seed: int = 7) -> list[dict]:
    """Answer the township workbooks of one night's exports; returns what was planted, per row."""
    rng = np.random.default_rng(seed)
    response_days = load_policy(answered_by).episodes.response_days  # the townships aim for the policy's days
    books = sorted(
        p for p in exports.glob("*.xlsx") if township_of_workbook(p.name)
    )  # not the centre's, nor the template
    all_ids = []
    sheets_of: dict[Path, dict[str, list[list[Any]]]] = {}  # cells of the workbooks the night wrote
    for path in books:
        wb = CalamineWorkbook.from_path(str(path))
        sheets_of[path] = {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}
        cells = sheets_of[path].get(SHEET, [])
        if cells:
            all_ids += [(path, r[0]) for r in cells[_header_row(cells) + 1 :] if r and r[0]]
    planted = []
    folder = landing / "zj_feedback"
    folder.mkdir(parents=True, exist_ok=True)
    for path in books:
        sheets = sheets_of[path]
        cells = sheets.get(SHEET, [])
        if not cells:
            continue
        top = _header_row(cells)
        header = cells[top]
        col = {name: header.index(name) for name in header}
        returned = None
        for row in cells[top + 1 :]:
            if not row or not row[0] or rng.random() > ANSWERED_SHARE:
                continue
            due = dt.date.fromisoformat(str(row[col["应反馈日期"]])[:10])
            days = int(response_days.get(row[col["等级"]], 15))
            # most answer within the response days, some late (up to twice as long)
            checked = due - dt.timedelta(days=days) + dt.timedelta(days=int(rng.integers(1, 2 * days + 1)))
            checked = visited = min(checked, answered_by)
            result = RESULTS[int(rng.choice(len(RESULTS), p=RESULT_SHARES))]
            mistake = next((m for m, share in MISTAKES.items() if rng.random() < share), None)
            original = warning_id = row[0]
            if mistake == "typo":  # two digits of the number swapped
                warning_id = (
                    warning_id[:-2] + warning_id[-1] + warning_id[-2]
                    if warning_id[-1] != warning_id[-2]
                    else warning_id[:-1] + str((int(warning_id[-1]) + 1) % 10)
                )
            elif mistake == "other_township":
                others = [w for p, w in all_ids if p != path]
                if others:
                    warning_id = others[int(rng.integers(0, len(others)))]
                else:
                    mistake = None
            elif mistake == "date_future":
                checked = answered_by + dt.timedelta(days=int(rng.integers(3, 30)))
            elif mistake == "date_before":
                checked = due - dt.timedelta(days=days + int(rng.integers(5, 60)))
            elif mistake == "result":
                result = "属实"
            row[0] = warning_id
            row[col["核查日期"]] = checked.isoformat()
            row[col["核查结果"]] = result
            measures = MEASURES.get(result, ("持续监测",))
            row[col["帮扶措施"]] = measures[int(rng.integers(0, len(measures)))]
            row[col["核查人"]] = vocab.CHECKERS[int(rng.integers(0, len(vocab.CHECKERS)))]
            row[col["联系电话"]] = f"1380536{int(rng.integers(0, 10000)):04d}"
            planted.append(
                {
                    "file": path.name,
                    "warning_id": warning_id,
                    "original": original,
                    "mistake": mistake,
                    "check_date": checked.isoformat(),
                    "result": result,
                }
            )
            returned = max(returned or visited, visited)  # sent back after the last visit, whatever was typed
        if returned is None:
            continue  # nothing answered yet: nothing sent back
        sent = dt.datetime.combine(min(returned + dt.timedelta(days=1), answered_by), dt.time(17), tzinfo=COUNTY_TZ)
        save_returned(sheets, folder / path.name, sent)
    return planted


def save_returned(sheets: dict[str, list[list[Any]]], out: Path, sent: dt.datetime) -> None:
    """A workbook as a township returns it: every sheet's values, last saved at ``sent``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(out), {"strings_to_numbers": False, "strings_to_formulas": False})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                if v not in (None, ""):
                    ws.write(i, j, v if isinstance(v, (int, float)) else str(v))
    wb.close()
    os.utime(out, (sent.timestamp(), sent.timestamp()))
