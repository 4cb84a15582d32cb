"""Excel workbooks (.xlsx, .xls) into the same temp table of text cells as CSV files.

A workbook is first checked without being read (workbook_guard: zip directory,
declared ranges), then read by python-calamine in a child interpreter
(excel_child) under a memory limit and a timeout, so that a file which makes the
reader abort or run out of memory or time is one rejected file (TOO_LARGE,
CORRUPT), not a dead night. The parent is never forked: it holds DuckDB's and
Dagster's threads. The child stays for the next workbook (starting one costs
about 0.3 s, which a night of many small workbooks paid again and again) and is
replaced when it dies.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import pickle
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import cast

import duckdb

from ingest.csv_reader import CellTable
from ingest.excel_child import CELLS_FILE, OUT_OF_MEMORY, OUT_OF_MEMORY_SIGNS, RESULT_FILE
from ingest.header import HeaderMatch
from ingest.problems import FileProblem
from ingest.workbook_guard import UNREAD, check_workbook, size_text
from jiuzhu.config import Feed, IngestLimits

# The directory holding this code's `assets` package: the child runs this very code, not an installed copy.
CODE_ROOT = Path(__file__).resolve().parents[2]
CHILD_MODULE = "ingest.excel_child"
STDERR_TAIL = 64 << 10
_CLASS_NAME = re.compile(rb"^([A-Za-z_][\w.]{0,80}(?:Error|Exception|Exit|Interrupt))(?::|$)")


class WorkbookReaderError(Exception):
    """The reading process failed in a way that says nothing about the file (recorded as READ_ERROR)."""


def read_excel_cells(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    feed: Feed,
    name: str,
    fmt: str,
    limits: IngestLimits,
    workdir: Path | None = None,
) -> CellTable:
    """The workbook's cells into the temp table ``name``; the reader's files (they hold the cells)
    live in ``workdir``, the run's scratch folder, emptied after a crash."""
    check_workbook(path, fmt, limits)
    with tempfile.TemporaryDirectory(prefix="jiuzhu-excel-", dir=workdir) as tmp:
        out = Path(tmp)
        result = _run_reader(path, feed, out, limits)
        if "problem" in result:
            raise FileProblem(*result["problem"])
        if "error" in result:
            raise WorkbookReaderError(result["error"])
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_parquet(?)", [str(out / CELLS_FILE)])
    index, canonical, delivered, score = result["header"]
    header = HeaderMatch(index, tuple(canonical), tuple(delivered), score)
    return CellTable(name=name, header=header, header_row=index + 1, sheet=result["sheet"], notes=result["notes"])


class _Reader:
    """One reader process (excel_child), reused for the workbooks this process reads; a reader
    that died, or ran out of time, is replaced for the next file."""

    def __init__(self, module: str, memory: int):
        env = {**os.environ, "RUST_BACKTRACE": "0"}  # a backtrace after a failed allocation can deadlock
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE_ROOT), os.environ.get("PYTHONPATH")]))
        self.key = (module, memory)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, str(memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=CODE_ROOT,
            env=env,
        )
        # pipes, buffered (bufsize -1): never None, and reads can take what is there (read1)
        self.requests = cast(io.BufferedWriter, self.proc.stdin)
        self.replies = cast(io.BufferedReader, self.proc.stdout)
        self.errors = cast(io.BufferedReader, self.proc.stderr)
        self.stderr = (
            bytearray()
        )  # the tail of what it printed: looked at for signs of running out of memory, never shown
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self) -> None:
        while chunk := self.errors.read1(1 << 16):
            self.stderr += chunk
            del self.stderr[:-STDERR_TAIL]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()

    def read(self, path: Path, feed: Feed, out: Path, limits: IngestLimits) -> dict:
        self.stderr.clear()
        request = pickle.dumps((str(path.absolute()), str(out), feed))
        try:
            self.requests.write(len(request).to_bytes(8, "big") + request)
            self.requests.flush()
            ready, _, _ = select.select([self.replies], [], [], limits.reader_timeout_seconds)
        except BrokenPipeError:  # it died before it could take the request
            ready = [self.replies]
        if not ready:
            self.stop()
            raise FileProblem(
                "TOO_LARGE",
                f"读取工作簿超过 {limits.reader_timeout_seconds:g} 秒仍未完成，已中止（数据范围或内容过大）{UNREAD}",
            )
        if not self.replies.readline():  # it died on this file
            self.proc.wait()
            self.drain.join(5)  # what it printed last
            raise _failure(self.proc.returncode, bytes(self.stderr), limits)
        return json.loads((out / RESULT_FILE).read_text(encoding="utf-8"))


_READER: _Reader | None = None


def _run_reader(path: Path, feed: Feed, out: Path, limits: IngestLimits) -> dict:
    """excel_child's result.json for ``path``, or the exception its death means for the file."""
    global _READER
    if _READER is None or not _READER.alive() or _READER.key != (CHILD_MODULE, limits.reader_memory_bytes):
        if _READER is not None:
            _READER.stop()
        _READER = _Reader(CHILD_MODULE, limits.reader_memory_bytes)
    return _READER.read(path, feed, out, limits)


@atexit.register
def _stop_reader() -> None:
    if _READER is not None:
        _READER.stop()


def _failure(returncode: int, stderr: bytes, limits: IngestLimits) -> Exception:
    """What a dead reader means for the file. Only a signal's or exception class's name is kept."""
    out_of_memory = returncode == OUT_OF_MEMORY or returncode == -signal.SIGKILL  # SIGKILL: the kernel's OOM killer
    if out_of_memory or any(sign.encode() in stderr for sign in OUT_OF_MEMORY_SIGNS):
        return FileProblem(
            "TOO_LARGE",
            f"读取工作簿所需内存超过 {size_text(limits.reader_memory_bytes)} 的上限，已中止（数据范围过大或疑似压缩炸弹）{UNREAD}",
        )
    if returncode < 0:
        return FileProblem("CORRUPT", f"Excel 文件已损坏：读取程序异常终止（{_signal_name(-returncode)}）{UNREAD}")
    last = stderr.strip().splitlines()[-1:] or [b""]
    found = _CLASS_NAME.match(last[0])
    kind = f"，{found.group(1).decode()}" if found else ""
    return WorkbookReaderError(f"读取进程异常退出（退出码 {returncode}{kind}）")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"信号 {number}"
