"""Reading one workbook with python-calamine, in a child process: ``python -m ingest.excel_child``.

calamine is Rust: a workbook that makes it allocate more than there is aborts
the process (``memory allocation of … bytes failed``), and no ``except`` catches
that. So the reading happens here, under a memory limit set before the file is
opened, and the parent (excel_reader) turns a dead child into one rejected file.

Of several sheets, the one whose header names the most spec columns holds the
data (others are 说明, 汇总 …). Numbers are written out as the digits Excel
holds: an 18-digit ID number stored as a number has already lost its last digits,
and its text shows that (e.g. ``3.707251980010113e+17``), so staging can
quarantine it instead of guessing.

Protocol: argv is the memory limit in bytes; requests come on stdin (see main), one
after another. For each the child writes ``cells.parquet`` (``_row``, then c0..c{n-1}
as text), which DuckDB in the parent reads straight into its temp table, and
``result.json`` (the header match, sheet and notes, or a FileProblem's code and
reason), then says "done" on stdout. Its stderr may quote cells: the parent never
shows it.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import os
import pickle
import resource
import sys
from pathlib import Path

import polars as pl
from python_calamine import CalamineWorkbook

from ingest.header import HeaderMatch, find_header
from ingest.problems import FileProblem, safe_message
from jiuzhu.config import Feed

CELLS_FILE = "cells.parquet"
RESULT_FILE = "result.json"
OUT_OF_MEMORY = 3  # exit status after running out of memory in Python (calamine aborts instead: SIGABRT)
# How a reader that ran out of memory says so (Rust, Python, the C library); the parent looks for them on stderr.
OUT_OF_MEMORY_SIGNS = (
    "memory allocation of",
    "MemoryError",
    "Cannot allocate memory",
    "Resource temporarily unavailable",
)


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
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 — calamine raises its own error types for every kind of damage: recorded as CORRUPT
        raise FileProblem("CORRUPT", f"Excel 文件已损坏，无法打开（{safe_message(exc)}）") from exc


def read_workbook(path: Path, feed: Feed, out: Path) -> dict:
    """Write the data sheet's cells to ``out``/cells.arrow; return what result.json holds."""
    wb = _open(path)
    best: tuple[HeaderMatch, str, list[list]] | None = None
    problem: FileProblem | None = None
    for sheet in wb.sheet_names:
        try:
            rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 — calamine's own error types: one damaged sheet, recorded as CORRUPT
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

    first_row = header.index + 2  # Excel rows count from 1, and the data start under the header
    columns = {"_row": pl.Series(range(first_row, first_row + len(data)), dtype=pl.Int64)}
    for j in range(width):
        columns[f"c{j}"] = pl.Series([cell_text(r[j]) if j < len(r) else None for r in data], dtype=pl.String)
    pl.DataFrame(columns).write_parquet(out / CELLS_FILE, compression="snappy", statistics=False)
    notes = [f"数据取自工作表“{sheet}”（共 {len(wb.sheet_names)} 个工作表）"] if len(wb.sheet_names) > 1 else []
    return {
        "header": [header.index, canonical, delivered, header.score],
        "sheet": sheet,
        "notes": notes,
        "cells": len(data) * width,
    }


def limit_memory(max_bytes: int) -> None:
    """Cap the heap (RLIMIT_DATA), and write no core file: it would hold the workbook's cells.

    RLIMIT_DATA counts what malloc and Rust take (brk and private writable
    mappings), not address space merely reserved: under RLIMIT_AS polars's
    threads and allocator alone need about 1 GB before any file is read.
    Polars's thread pool starts first, so that running short later fails an
    allocation (a clear sign) rather than a thread start.
    """
    pl.thread_pool_size()
    resource.setrlimit(resource.RLIMIT_DATA, (max_bytes, max_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


HEAVY_CELLS = 2_000_000  # after a workbook this large the reader leaves, and the next file gets a fresh process


def read_one(path: Path, feed: Feed, out: Path) -> dict:
    """One request: what result.json holds (a dead process is the parent's to interpret)."""
    try:
        return read_workbook(path, feed, out)
    except FileProblem as p:
        return {"problem": [p.code, p.reason]}
    except BaseException as exc:
        if isinstance(exc, MemoryError) or any(sign in str(exc) for sign in OUT_OF_MEMORY_SIGNS):
            os._exit(OUT_OF_MEMORY)  # no cleanup: there may be no memory for it
        if type(exc).__name__ == "PanicException":  # a panic in the Rust reader: the file drove it somewhere broken
            return {"problem": ["CORRUPT", "Excel 文件已损坏：读取程序无法解析其内容，整个文件未读取"]}
        if isinstance(exc, Exception):  # a fault of the reading code, not of the file: the parent records READ_ERROR
            return {"error": safe_message(exc)}
        raise


def main(argv: list[str]) -> None:
    """Serve requests until stdin closes: each is an 8-byte length and a pickled (workbook, output
    folder, feed) from the parent (trusted); the answer is result.json in that folder and a line
    on stdout. One process reads many workbooks (starting one costs about 0.3 s)."""
    limit_memory(int(argv[1]))
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while len(head := stdin.read(8)) == 8:
        path, out, feed = pickle.loads(stdin.read(int.from_bytes(head, "big")))
        result = read_one(Path(path), feed, Path(out))
        (Path(out) / RESULT_FILE).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        stdout.write("done\n")
        stdout.flush()
        if result.get("cells", 0) > HEAVY_CELLS:
            return  # give the memory of a big sheet back: the parent starts a fresh reader when needed
        gc.collect()


if __name__ == "__main__":
    main(sys.argv)
