"""CSV files into a DuckDB temp table of text cells, each row with its line number.

DuckDB parses the file (all columns VARCHAR, strict field count, malformed rows
to a rejects table). DuckDB does not report the line number of a good row, so
the record boundaries are found with NumPy over the file's bytes — newlines,
and quote parity for values that span lines — and matched to the parsed rows
in order. No Python loop touches the rows.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from ingest.header import HeaderMatch, find_header
from ingest.problems import FileProblem
from ingest.sniff import as_utf8, detect_encoding
from jiuzhu.config import Feed, IngestLimits

DELIMITERS = (",", "\t", "|", ";")
_HEAD_BYTES = 64 << 10
REJECTS = "_jz_rejects"
REJECT_SCANS = "_jz_reject_scans"


@dataclass
class CellTable:
    """Rows of one file in the temp table ``name``: ``_row`` then c0..c{n-1} as text."""

    name: str  # a temp table or view; drop_cells() removes it and what it reads
    header: HeaderMatch
    header_row: int  # as a person counts rows (1-based)
    encoding: str | None = None
    sheet: str | None = None
    quarantine: pl.DataFrame | None = None  # _row, reason_code, reason, raw (JSON text)
    notes: list[str] = field(default_factory=list)
    # the file cannot hold a NUL byte or a value over the length limit (none in its bytes, no line that
    # long): the loader then skips looking at every value for them
    values_checked: bool = False


def _head_rows(path: Path, delimiter: str) -> list[list[str]]:
    with path.open("rb") as fh:
        text = fh.read(_HEAD_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [ln.rstrip("\r") for ln in text.split("\n")[:15]]
    return [next(csv.reader([ln], delimiter=delimiter), []) for ln in lines]


def _find_header(path: Path, feed: Feed) -> tuple[HeaderMatch, str]:
    best: tuple[HeaderMatch, str] | None = None
    problem: FileProblem | None = None
    for delim in DELIMITERS:
        try:
            m = find_header(_head_rows(path, delim), feed)
        except FileProblem as p:
            problem = problem or p
            continue
        if best is None or m.score > best[0].score:
            best = (m, delim)
    if best is None:
        raise problem or FileProblem("NO_HEADER", "找不到表头")
    return best


@dataclass
class _Lines:
    starts: np.ndarray  # byte offset of each physical line
    empty: np.ndarray  # the line has no characters (a lone CR counts as none); DuckDB skips these
    quote_odd: np.ndarray  # the line holds an odd number of '"'
    ends_with_newline: bool
    longest: int = 0  # bytes of the longest physical line
    nul_bytes: int = 0


def _scan_lines(path: Path, block: int = 64 << 20) -> _Lines:
    """Line starts, empty lines and quote parity per line, block by block over a memory map."""
    size = path.stat().st_size
    if size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Lines(empty, empty.astype(bool), empty.astype(bool), False, 0)
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    newlines, quotes, nul = [], [], 0
    for lo in range(0, size, block):
        chunk = buf[lo : lo + block]
        newlines.append(np.flatnonzero(chunk == 10) + lo)
        quotes.append(np.flatnonzero(chunk == 34) + lo)
        nul += int(np.count_nonzero(chunk == 0))
    nl = np.concatenate(newlines)
    quote_pos = np.concatenate(quotes)
    starts = np.concatenate(([0], nl + 1))
    if starts[-1] == size:
        starts = starts[:-1]
    ends = np.append(nl, size)[: starts.size]
    length = ends - starts
    empty = length == 0
    one = np.flatnonzero(length == 1)
    empty[one] = buf[starts[one]] == 13
    per_line = np.searchsorted(quote_pos, ends) - np.searchsorted(quote_pos, starts)
    ends_with_newline = bool(buf[size - 1] == 10)
    del buf
    return _Lines(starts, empty, (per_line % 2).astype(bool), ends_with_newline, int(length.max(initial=0)), nul)


def _record_lines(lines: _Lines, first_line: int, quote_aware: bool) -> tuple[np.ndarray, np.ndarray]:
    """(line number, start byte) of each record from ``first_line`` on (1-based lines)."""
    idx = np.arange(lines.starts.size)
    keep = ~lines.empty & (idx + 1 >= first_line)
    if quote_aware:
        inside_before = (np.cumsum(lines.quote_odd) - lines.quote_odd) % 2 == 1
        keep &= ~inside_before
    return idx[keep] + 1, lines.starts[keep]


def read_csv_cells(
    con: duckdb.DuckDBPyConnection, path: Path, feed: Feed, workdir: Path, name: str, limits: IngestLimits
) -> CellTable:
    encoding = detect_encoding(path)
    src = as_utf8(path, encoding, workdir)
    lines = _scan_lines(src)
    if lines.longest > limits.max_line_bytes:
        raise FileProblem(
            "TOO_LARGE",
            f"文件中有一行长 {lines.longest / (1 << 20):.1f} MB，超过 "
            f"{limits.max_line_bytes / (1 << 20):.0f} MB 的上限（可能不是正常的数据文件），整个文件未读取",
        )
    header, delim = _find_header(src, feed)
    ncols = len(header.canonical)
    header_line = header.index + 1
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(ncols)) + "}"
    con.execute(f"DROP TABLE IF EXISTS {REJECTS}; DROP TABLE IF EXISTS {REJECT_SCANS}; DROP TABLE IF EXISTS _jz_parsed")
    con.execute(
        f"""CREATE TEMP TABLE _jz_parsed AS SELECT * FROM read_csv(?, columns={columns},
            header=false, skip={header_line}, delim=?, quote='"', escape='"', auto_detect=false,
            strict_mode=true, null_padding=false, store_rejects=true, max_line_size={limits.max_line_bytes},
            rejects_table='{REJECTS}', rejects_scan='{REJECT_SCANS}')""",
        [str(src), delim],
    )
    n_ok = con.execute("SELECT count(*) FROM _jz_parsed").fetchall()[0][0]
    rejects = con.sql(
        f"""SELECT line_byte_position AS pos, min(error_type)::VARCHAR AS error_type,
                   first(csv_line) AS csv_line
            FROM {REJECTS} GROUP BY line_byte_position ORDER BY pos"""
    ).pl()

    table = CellTable(
        name=name,
        header=header,
        header_row=header_line,
        encoding=encoding,
        values_checked=lines.nul_bytes == 0 and lines.longest <= limits.max_field_chars,
    )
    record_lines = _number_records(lines, header_line + 1, rejects, n_ok, table)

    blank_reject = rejects["csv_line"].str.strip_chars().fill_null("") == ""
    bad = rejects.filter(~blank_reject)
    if bad.height:
        last_start = int(lines.starts[-1]) if lines.starts.size else 0
        truncated = not lines.ends_with_newline and bool(
            bad.filter(pl.col("pos") >= last_start)["error_type"].is_in(["MISSING COLUMNS", "UNQUOTED VALUE"]).any()
        )
        if truncated and feed.kind == "snapshot":
            # a snapshot cut short would silently shrink the roster: the whole file waits for a resend
            raise FileProblem(
                "TRUNCATED",
                f"最后一行（第 {lines.starts.size} 行）不完整且文件没有以换行结束：文件可能传输中断。"
                "名册快照必须完整，整个文件未使用，请重新报送",
            )
        table.quarantine = bad.with_columns(
            pl.Series("_row", record_lines["reject_rows"][~blank_reject.to_numpy()], dtype=pl.Int64),
            (pl.col("pos") >= last_start if truncated else pl.lit(False)).alias("_truncated"),
        ).select(
            "_row",
            pl.when(pl.col("_truncated"))
            .then(pl.lit("TRUNCATED_ROW"))
            .when(pl.col("error_type").is_in(["MISSING COLUMNS", "TOO MANY COLUMNS"]))
            .then(pl.lit("FIELD_COUNT"))
            .otherwise(pl.lit("CSV_PARSE"))
            .alias("reason_code"),
            pl.when(pl.col("_truncated"))
            .then(pl.lit("最后一行不完整且文件没有以换行结束（可能传输中断），请核对后重新报送该行"))
            .when(pl.col("error_type") == "MISSING COLUMNS")
            .then(pl.lit(f"字段数少于表头的 {ncols} 列"))
            .when(pl.col("error_type") == "TOO MANY COLUMNS")
            .then(pl.lit(f"字段数多于表头的 {ncols} 列"))
            .otherwise(pl.lit("无法解析的行（引号不配对或非法字符）"))
            .alias("reason"),
            # the line as delivered, up to the length the quarantine keeps of any value
            pl.struct(pl.col("csv_line").str.slice(0, limits.kept_field_chars).alias("原始行"))
            .struct.json_encode()
            .alias("raw"),
        )

    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {_row_expression(con, record_lines['ok_rows'])} AS _row, * FROM _jz_parsed"
    )
    con.execute(f"DROP TABLE IF EXISTS {REJECTS}; DROP TABLE IF EXISTS {REJECT_SCANS}")
    if src != path:
        src.unlink(missing_ok=True)
    return table


MAX_CASE_SEGMENTS = 64


def _row_expression(con: duckdb.DuckDBPyConnection, ok_rows: np.ndarray) -> str:
    """SQL for each parsed row's line number, from its position (rowid) in _jz_parsed.

    DuckDB keeps the file's order in _jz_parsed, and line = position + offset,
    where the offset changes only after a rejected, blank or multi-line record.
    A few such places become a CASE on rowid (free); many, a join on position.
    """
    if ok_rows.size == 0:
        return "rowid"
    offset = ok_rows - np.arange(ok_rows.size)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(offset)) + 1))
    if starts.size <= MAX_CASE_SEGMENTS:
        whens = " ".join(f"WHEN rowid >= {int(k)} THEN {int(offset[k])}" for k in starts[::-1][:-1])
        return f"rowid + CASE {whens} ELSE {int(offset[0])} END" if whens else f"rowid + {int(offset[0])}"
    con.execute("DROP TABLE IF EXISTS _jz_line_numbers")
    con.register("_jz_line_frame", pl.DataFrame({"_i": np.arange(ok_rows.size, dtype=np.int64), "_row": ok_rows}))
    con.execute("CREATE TEMP TABLE _jz_line_numbers AS SELECT * FROM _jz_line_frame")
    con.unregister("_jz_line_frame")
    return "(SELECT l._row FROM _jz_line_numbers l WHERE l._i = _jz_parsed.rowid)"


def _number_records(lines: _Lines, first_line: int, rejects: pl.DataFrame, n_ok: int, table: CellTable) -> dict:
    """Line numbers of the good rows and of the rejected ones.

    Tries the quote-aware reading of record boundaries first when some line has
    an odd number of quotes, then the one-record-per-line reading; the one whose
    record count agrees with DuckDB's is right.
    """
    reject_pos = rejects["pos"].to_numpy().astype(np.int64) if rejects.height else np.zeros(0, dtype=np.int64)
    modes = (True, False) if lines.quote_odd.any() else (False,)
    for quote_aware in modes:
        rec_line, rec_start = _record_lines(lines, first_line, quote_aware)
        if rec_start.size == 0:
            if n_ok == 0:
                return {
                    "ok_rows": np.zeros(0, dtype=np.int64),
                    "reject_rows": np.zeros(reject_pos.size, dtype=np.int64),
                }
            continue
        # DuckDB reports a position inside the rejected record: take the record containing it.
        which = np.clip(np.searchsorted(rec_start, reject_pos, side="right") - 1, 0, rec_start.size - 1)
        rejected = np.zeros(rec_start.size, dtype=bool)
        rejected[which] = True
        ok_lines = rec_line[~rejected]
        if ok_lines.size == n_ok:
            return {"ok_rows": ok_lines.astype(np.int64), "reject_rows": rec_line[which].astype(np.int64)}
    # Could not line up DuckDB's rows with the file's lines (odd quoting): number the
    # rows in order after the header and say so, rather than fail the file.
    table.notes.append("行号为近似值（文件中有跨行或不配对的引号）")
    return {
        "ok_rows": np.arange(first_line, first_line + n_ok, dtype=np.int64),
        "reject_rows": np.full(reject_pos.size, first_line + n_ok, dtype=np.int64),
    }


def drop_cells(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Remove a file's temp cells, whichever reader made them."""
    kinds = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'", [name]
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {name}")
    con.execute("DROP TABLE IF EXISTS _jz_parsed; DROP TABLE IF EXISTS _jz_line_numbers")
