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


@pytest.mark.parametrize("constant_memory", [False, True])
def test_a_long_reason_makes_its_row_tall_enough_to_be_read_on_paper(tmp_path, constant_memory):
    """No spreadsheet fits rows when it opens a file: a row is as tall as its longest wrapped text."""
    import re

    path = tmp_path / "book.xlsx"
    wb = open_workbook(path, constant_memory=constant_memory)
    reason = "核对人均月收入 816 元，低于低保标准的 1.5 倍（1,020 元），" * 4  # about 4 lines at width 40
    write_sheet(wb, "表", ["预警编号", "预警原因"], [["YJ-1", "短"], ["YJ-2", reason]], widths=[19, 40], fit_rows=True)
    wb.close()
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    heights = {int(r): float(h) for r, h in re.findall(r'<row r="(\d+)"[^>]*\sht="([\d.]+)"', sheet)}
    assert heights.get(2, 15) == 15  # one line (the default height is not written)
    assert heights[3] >= 15 * 6  # every line of the reason, as LibreOffice's wider CJK font sets it
