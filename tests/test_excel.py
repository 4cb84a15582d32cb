"""The one Excel writer (exports/excel.py): what a cell holds once the workbook is opened again."""

from __future__ import annotations

import datetime as dt
import zipfile

import pytest
from python_calamine import CalamineWorkbook

from exports.excel import open_workbook, write_sheet


@pytest.mark.parametrize("constant_memory", [False, True])
def test_numbers_stay_numbers_text_stays_text_and_formulas_never_run(tmp_path, constant_memory):
    path = tmp_path / "book.xlsx"
    wb = open_workbook(path, constant_memory=constant_memory)
    rows = [[7, "=1+1", "13800000001", None, dt.date(2026, 11, 28)], [2.5, "-3", "http://x.invalid", True, ""]]
    _, written = write_sheet(wb, "表", ["a", "b", "c", "d", "e"], iter(rows), widths=[5, 6, 7, 8, 9], autofilter=True)
    wb.close()
    assert written == 2
    got = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("表").to_python()
    assert got[0] == ["a", "b", "c", "d", "e"]
    assert got[1] == [7, "'=1+1", "13800000001", "", "2026-11-28"]  # a formula-like text gets its apostrophe
    assert got[2] == [2.5, "'-3", "http://x.invalid", "True", ""]
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "hyperlink" not in sheet  # no formula, no link
    assert '<autoFilter ref="A1:E3"/>' in sheet and 'ySplit="1"' in sheet  # filter over the rows, header frozen


def test_no_autofilter_without_rows_and_no_frozen_header_when_asked(tmp_path):
    path = tmp_path / "book.xlsx"
    wb = open_workbook(path)
    write_sheet(wb, "空", ["a"], [], autofilter=True, freeze=False)
    wb.close()
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "autoFilter" not in sheet and "ySplit" not in sheet
