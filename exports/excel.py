"""The one Excel writer: every workbook jiuzhu writes (township and department lists, quality
workbooks) is opened, laid out and filled here, so that every cell is safe to hand to someone
who opens it in a spreadsheet.

A text that starts like a formula (``=HYPERLINK(…)``, a DDE payload ``=cmd|' /C calc'!A0``,
``+``, ``-``, ``@``, or a tab or carriage return before one) would run when the cell is edited
or the sheet is saved as CSV and opened again: it gets a leading apostrophe, and every writer
stores text as text (xlsxwriter's conversion of strings to formulas, numbers or links is off).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from jiuzhu.config import load_county, load_policy_document

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# xlsxwriter options for every workbook jiuzhu writes: text stays text
WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}
# the look every workbook shares: the header row of a sheet, and the title lines above it
HEADER_FORMAT = {"bold": True, "bg_color": "#D9D9D9", "border": 1, "text_wrap": True}
TITLE_FORMAT = {"bold": True, "font_size": 12}


def neutralise(value):
    """A text cell that starts like a formula gets a leading apostrophe, so no spreadsheet runs it."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def open_workbook(path: Path, constant_memory: bool = False) -> xlsxwriter.Workbook:
    """A workbook that stores text as text; ``constant_memory`` streams rows to disk (a long list
    of rows, written in order)."""
    options = {"constant_memory": True, **WORKBOOK_OPTIONS} if constant_memory else WORKBOOK_OPTIONS
    return xlsxwriter.Workbook(str(path), options)


def title_lines(recipient: str, as_of: dt.date, what: str, how: str) -> list[str]:
    """What a sheet that goes out to a township or a department says above its header: whose,
    what and of which night, under which policy item; then ``how`` to act on it, and whom to call."""
    county, doc = load_county(), load_policy_document()
    return [
        f"{county.name}低收入人口监测预警 — {recipient} — {what}，截至 {as_of}"
        f"（依据：{doc.number}《{doc.title}》第13条“早发现、早上报、早救助”）",
        f"{how}县联系人：{county.centre}，{county.contact}",
    ]


def write_cell(ws: Worksheet, row: int, col: int, value, fmt: Format | None = None) -> None:
    """A number as a number, a date as YYYY-MM-DD text, anything else as neutralised text; None
    leaves the cell empty (only its format, if any)."""
    if value is None:
        ws.write_blank(row, col, None, fmt)  # without a format xlsxwriter writes nothing
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        ws.write_number(row, col, value, fmt)
    elif isinstance(value, (dt.date, dt.datetime)):
        ws.write_string(row, col, value.isoformat()[:10], fmt)
    else:
        ws.write_string(row, col, str(neutralise(value)), fmt)


def write_sheet(
    wb: xlsxwriter.Workbook,
    name: str,
    header: Sequence[str],
    rows: Iterable[Sequence],
    *,
    widths: Sequence[float] | None = None,
    header_format: Format | None = None,
    row_formats: Sequence[Format | None] | None = None,
    freeze: bool = True,
    autofilter: bool = False,
    title: Sequence[str] = (),
    title_format: Format | None = None,
    printed: str | None = None,
    fit_rows: bool = False,
) -> tuple[Worksheet, int]:
    """A sheet with ``title`` lines, then a header row (frozen with the lines above it unless
    ``freeze`` is off), column widths, and one row of cells per item of ``rows`` (each row in its
    ``row_formats`` entry); an autofilter over the rows when asked and there are any. With
    ``printed`` (the page header's text) it prints on A4 landscape, fit to the page width, the
    title and header rows repeated on every page, gridlines and page numbers. With ``fit_rows``
    (and ``widths``; the formats wrap text) each row is as tall as its longest text wrapped at
    the column widths, set in the file: neither LibreOffice nor every Excel fits rows on opening,
    and a reason cut at its cell's edge is lost on paper. Returns the sheet and the number of
    rows written."""
    ws = wb.add_worksheet(name)
    top = len(title)
    for i, line in enumerate(title):
        write_cell(ws, i, 0, line, title_format)
    fit = fit_rows and widths is not None
    if fit:
        ws.set_row(top, row_height(header, widths))
    for j, text in enumerate(header):
        ws.write_string(top, j, text, header_format)
        if widths is not None:
            ws.set_column(j, j, widths[j])
    if freeze:
        ws.freeze_panes(top + 1, 0)
    written = 0
    for i, cells in enumerate(rows, start=1):
        fmt = row_formats[i - 1] if row_formats is not None else None
        if fit:
            cells = list(cells)
            ws.set_row(top + i, row_height(cells, widths))
        for j, value in enumerate(cells):
            write_cell(ws, top + i, j, value, fmt)
        written = i
    if autofilter and written:
        ws.autofilter(top, 0, top + written, len(header) - 1)
    if printed is not None:
        print_setup(ws, printed, repeat_to=top)
    return ws, written


LINE_HEIGHT = 15  # points: one line of the default 11-point font
_WIDE = re.compile("[\u2e80-\U0010ffff]")  # what Excel counts as two characters wide
MAX_LINES = 27  # Excel's tallest row is 409 points


def text_lines(value, width: float) -> int:
    """How many lines ``value`` takes wrapped in a column ``width`` characters wide (a Chinese
    character is two of them, as Excel counts)."""
    if value is None:
        return 1
    per_line = max(int(width * 0.8), 1)  # fonts that render wider than Excel's (LibreOffice's CJK) still fit
    text = str(value)
    if 2 * len(text) <= per_line and "\n" not in text:  # one line, however wide its characters
        return 1
    # a part's width: two per wide character, one per other (counted by a regex: a night writes 350,000 cells)
    return sum(max(1, -(-(2 * len(part) - len(_WIDE.sub("", part))) // per_line)) for part in text.split("\n"))


def row_height(cells: Sequence, widths: Sequence[float] | None) -> float:
    """The height (points) of a row whose cells wrap at ``widths``."""
    lines = max((text_lines(v, w) for v, w in zip(cells, widths or ())), default=1)
    return LINE_HEIGHT * min(lines, MAX_LINES)


def print_setup(ws: Worksheet, page_header: str, repeat_to: int = 0) -> None:
    """A4 landscape, fit to the page width (as many pages down as needed), rows 0..``repeat_to``
    repeated on every page, gridlines printed, the header text on top and page numbers below."""
    ws.set_paper(9)  # A4
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0, repeat_to)
    ws.hide_gridlines(0)  # shown on screen and printed
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.set_header(f"&L{page_header.replace('&', '&&')}")
    ws.set_footer("&C第 &P 页，共 &N 页")
