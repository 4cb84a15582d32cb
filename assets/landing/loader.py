"""Ingest of one feed's new files into raw.<feed>, with audit.files and audit.quarantine.

Every file ends loaded, rejected (with a reason) or duplicate; every data row of
a loaded file ends in raw.<feed> or audit.quarantine, never both, never neither
(rows_read = rows_loaded + rows_quarantined). Each file is written in one
transaction, so a crash leaves no half-loaded file behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from assets.landing.csv_reader import CellTable, drop_cells, read_csv_cells
from assets.landing.excel_reader import read_excel_cells
from assets.landing.files import LandedFile, list_feed_files, sha256_of
from assets.landing.header import require_columns
from assets.landing.problems import FileProblem, safe_message
from assets.landing.sniff import sniff_format
from jiuzhu.config import Feed
from warehouse.resource import quote_ident, raw_table

log = logging.getLogger(__name__)

CELLS = "_jz_cells"
# A summary line at the bottom of a sheet: its first filled cell says so.
TOTAL_ROW_PATTERN = r"^\s*(合\s*计|总\s*计|小\s*计)"


@dataclass
class FileOutcome:
    file_name: str
    status: str
    reason_code: str | None = None
    reason: str | None = None
    rows_read: int | None = None
    rows_loaded: int = 0
    rows_quarantined: int = 0


@dataclass
class FeedReport:
    feed: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    later_files: int = 0  # extract date after the as-of date: left for a later night

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def rows_loaded(self) -> int:
        return sum(o.rows_loaded for o in self.outcomes)

    @property
    def rows_quarantined(self) -> int:
        return sum(o.rows_quarantined for o in self.outcomes)

    def top_reasons(self, n: int = 3) -> list[tuple[str, int]]:
        return Counter(o.reason_code for o in self.outcomes if o.reason_code).most_common(n)


def ingest_feed(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    landing: Path,
    as_of: dt.date | None,
    run_id: str | None = None,
) -> FeedReport:
    report = FeedReport(feed.name)
    seen = con.execute(
        "SELECT file_name, sha256, status, rows_read FROM audit.files WHERE feed = ? ORDER BY file_id", [feed.name]
    ).fetchall()
    handled = {(name, sha) for name, sha, _, _ in seen}
    # A re-delivery is a duplicate of a file whose rows were loaded. Files without
    # rows (a header-only increment, a rejected file) are judged on their own again.
    first_by_sha: dict[str, str] = {}
    for name, sha, status, rows_read in seen:
        if status == "loaded" and rows_read:
            first_by_sha.setdefault(sha, name)

    with tempfile.TemporaryDirectory(prefix="jiuzhu-ingest-") as tmp:
        for landed in list_feed_files(landing, feed.name):
            if as_of is not None and landed.extract_date is not None and landed.extract_date > as_of:
                report.later_files += 1
                continue
            started = time.perf_counter()
            sha = sha256_of(landed.path)
            if (landed.file_name, sha) in handled:
                continue  # ingested on an earlier night: nothing to do
            outcome = _ingest_file(con, feed, landed, sha, first_by_sha.get(sha), Path(tmp), run_id, started)
            handled.add((landed.file_name, sha))
            if outcome.status == "loaded" and outcome.rows_read:
                first_by_sha.setdefault(sha, landed.file_name)
            report.outcomes.append(outcome)
            log.info("%s/%s: %s %s", feed.name, landed.file_name, outcome.status, outcome.reason_code or "")
    return report


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    landed: LandedFile,
    sha: str,
    original: str | None,
    workdir: Path,
    run_id: str | None,
    started: float,
) -> FileOutcome:
    meta = {"format": None, "encoding": None, "sheet": None, "header_row": None, "started": started}
    if original is not None:
        outcome = FileOutcome(landed.file_name, "duplicate", "DUPLICATE", f"与已接收的文件“{original}”内容完全相同（重复报送），未再次加载")
        _record_file(con, feed, landed, sha, outcome, meta, run_id)
        return outcome
    try:
        # Parsing works in temp tables outside the transaction (DuckDB numbers the
        # rows of a table created inside one differently); the writes are atomic.
        table = _read_cells(con, feed, landed, workdir, meta)
        require_columns(table.header, feed)
        con.execute("BEGIN TRANSACTION")
        try:
            outcome = _load(con, feed, landed, sha, table, run_id, meta)
            con.execute("COMMIT")
            return outcome
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except FileProblem as problem:
        outcome = FileOutcome(landed.file_name, "rejected", problem.code, problem.reason, problem.rows_read)
    except Exception as exc:  # one bad file never stops the feed, let alone the night
        # the message only: parser errors may quote the row, and rows hold personal data
        log.error("%s/%s could not be read: %s", feed.name, landed.file_name, safe_message(exc))
        outcome = FileOutcome(landed.file_name, "rejected", "READ_ERROR", f"读取失败：{safe_message(exc)}")
    finally:
        drop_cells(con, CELLS)
    _record_file(con, feed, landed, sha, outcome, meta, run_id)
    return outcome


def _read_cells(con, feed: Feed, landed: LandedFile, workdir: Path, meta: dict) -> CellTable:
    if landed.extract_date is None:
        raise FileProblem("NO_DATE", "文件名中没有提取日期（应含 YYYYMMDD，例如 医保结算明细_20261127.csv）")
    fmt = sniff_format(landed.path)
    meta["format"] = fmt
    if fmt == "csv":
        table = read_csv_cells(con, landed.path, feed, workdir, CELLS)
    else:
        table = read_excel_cells(con, landed.path, feed, CELLS)
    suffix = landed.path.suffix.lower().lstrip(".")
    if suffix and suffix != fmt and not (suffix == "txt" and fmt == "csv"):
        table.notes.append(f"扩展名为 .{suffix}，内容实为 {fmt}，已按内容读取")
    meta.update(encoding=table.encoding, sheet=table.sheet, header_row=table.header_row)
    return table


def _load(con, feed: Feed, landed: LandedFile, sha: str, table: CellTable, run_id: str | None, meta: dict) -> FileOutcome:
    file_id = _next_file_id(con)
    targets, sources = ["file_id", "source_file", "source_row", "sha256", "extract_date"], ["?", "?", "_row", "?", "?"]
    for col in feed.column_names:
        pos = table.header.position(col)
        if pos is not None:
            targets.append(quote_ident(col))
            sources.append(f"c{pos}")
    extras = table.header.extras
    if extras:
        targets.append("extra_columns")
        pairs = ", ".join(f"'{name.replace(chr(39), chr(39) * 2)}', c{i}" for i, name in extras)
        sources.append(f"json_object({pairs})")
    rows_loaded = con.execute(
        f"""INSERT INTO {raw_table(feed)} ({', '.join(targets)})
            SELECT {', '.join(sources)} FROM {CELLS} WHERE {_is_data_row(len(table.header.canonical))}""",
        [file_id, landed.file_name, sha, landed.extract_date],
    ).fetchall()[0][0]
    quarantine = table.quarantine
    rows_quarantined = 0 if quarantine is None else quarantine.height
    rows_read = rows_loaded + rows_quarantined
    notes = list(table.notes)
    reason_code = None
    if rows_read == 0:
        if feed.kind == "snapshot":
            # an empty snapshot would mean "nobody is on the roster": never take that as the truth
            raise FileProblem("HEADER_ONLY", "名册快照只有表头、没有数据行，不能作为当日名册，整个文件未使用", rows_read=0)
        reason_code = "HEADER_ONLY"  # an increment with nothing new that day: fine, but say so
        notes.insert(0, "只有表头，没有数据行（当日无新记录）")
    if rows_quarantined:
        con.register("_jz_quarantine", quarantine)
        con.execute(
            """INSERT INTO audit.quarantine
               SELECT ?, ?, _row, reason_code, reason, raw::JSON, ?, 'ingest', ?, now()::TIMESTAMP FROM _jz_quarantine""",
            [feed.name, landed.file_name, file_id, run_id],
        )
        con.unregister("_jz_quarantine")
    outcome = FileOutcome(
        landed.file_name, "loaded", reason_code, "；".join(notes) or None, rows_read, rows_loaded, rows_quarantined
    )
    _insert_file_row(con, file_id, feed, landed, sha, outcome, meta, run_id)
    return outcome


def _is_data_row(width: int) -> str:
    """SQL predicate: not a blank row and not a 合计/总计 row.

    Written so that the common case costs one coalesce per row: the trims and
    the regular expression run only on rows that could be blank or a total.
    """
    cells = [f"c{i}" for i in range(width)]
    first = f"coalesce({', '.join(cells)})"
    return (
        f"{first} IS NOT NULL"
        f" AND (trim({first}) <> '' OR trim(concat_ws('', {', '.join(cells)})) <> '')"
        f" AND NOT (strpos({first}, '计') > 0 AND regexp_matches(coalesce({', '.join(f'nullif(trim({c}), {chr(39) * 2})' for c in cells)}, ''), '{TOTAL_ROW_PATTERN}'))"
    )


def _next_file_id(con) -> int:
    return con.execute("SELECT nextval('audit.file_id_seq')").fetchall()[0][0]


def _record_file(con, feed, landed, sha, outcome, meta, run_id) -> None:
    _insert_file_row(con, _next_file_id(con), feed, landed, sha, outcome, meta, run_id)


def _insert_file_row(con, file_id, feed: Feed, landed: LandedFile, sha: str, o: FileOutcome, meta: dict, run_id) -> None:
    con.execute(
        """INSERT INTO audit.files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)""",
        [
            file_id, feed.name, landed.file_name, sha, landed.extract_date, o.status, o.reason_code, o.reason,
            o.rows_read, o.rows_loaded if o.status == "loaded" else 0,
            o.rows_quarantined if o.status == "loaded" else 0,
            meta["format"], meta["encoding"], meta["sheet"], meta["header_row"], landed.size_bytes,
            round(time.perf_counter() - meta["started"], 4), run_id,
        ],
    )
