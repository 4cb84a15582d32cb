"""Excel workbooks (.xlsx, .xls) into the same temp table of text cells as CSV files.

python-calamine reads both formats. Of several sheets, the one whose header
names the most spec columns holds the data (others are 说明, 汇总 …). Numbers
are written out as the digits Excel holds: an 18-digit ID number stored as a
number has already lost its last digits, and its text shows that (e.g.
``3.707251980010113e+17``), so staging can quarantine it instead of guessing.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import polars as pl
from python_calamine import CalamineWorkbook

from assets.landing.csv_reader import CellTable
from assets.landing.header import HeaderMatch, find_header
from assets.landing.problems import FileProblem, safe_message
from jiuzhu.config import Feed


def cell_text(value: object) -> str | None:
    """A cell as the text a person would read, or None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # calamine's type for a bare duration cell
        return str(value)
    return str(value)


def _open(path: Path) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every kind of damage
        raise FileProblem("CORRUPT", f"Excel 文件已损坏，无法打开（{safe_message(exc)}）") from exc


def read_excel_cells(con: duckdb.DuckDBPyConnection, path: Path, feed: Feed, name: str) -> CellTable:
    wb = _open(path)
    best: tuple[HeaderMatch, str, list[list]] | None = None
    problem: FileProblem | None = None
    for sheet in wb.sheet_names:
        try:
            rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except Exception as exc:
            problem = problem or FileProblem("CORRUPT", f"工作表“{sheet}”无法读取（{safe_message(exc)}）")
            continue
        head = [[cell_text(v) or "" for v in r] for r in rows[:15]]
        try:
            m = find_header(head, feed)
        except FileProblem as p:
            problem = problem or p
            continue
        if best is None or m.score > best[0].score:
            best = (m, sheet, rows)
    if best is None:
        raise problem or FileProblem("NO_HEADER", "工作簿中没有找到数据表")
    header, sheet, rows = best

    data = rows[header.index + 1 :]
    width = max([len(header.canonical)] + [len(r) for r in data])
    canonical = header.canonical + (None,) * (width - len(header.canonical))
    delivered = header.delivered + ("",) * (width - len(header.delivered))
    header = HeaderMatch(header.index, canonical, delivered, header.score)

    first_row = header.index + 2  # Excel rows count from 1, and the data start under the header
    columns = {"_row": pl.Series(range(first_row, first_row + len(data)), dtype=pl.Int64)}
    for j in range(width):
        columns[f"c{j}"] = pl.Series([cell_text(r[j]) if j < len(r) else None for r in data], dtype=pl.String)
    frame = pl.DataFrame(columns)
    con.register("_jz_excel", frame)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _jz_excel")
    con.unregister("_jz_excel")
    table = CellTable(name=name, header=header, header_row=header.index + 1, sheet=sheet)
    if len(wb.sheet_names) > 1:
        table.notes.append(f"数据取自工作表“{sheet}”（共 {len(wb.sheet_names)} 个工作表）")
    return table
