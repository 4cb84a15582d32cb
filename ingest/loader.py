"""Ingest of one feed's new files into raw.<feed>, with audit.files and audit.quarantine.

Every file ends loaded, rejected (with a reason), duplicate, or superseded by a later version
under its name; every data row of a loaded file ends in raw.<feed> or audit.quarantine, never
both, never neither (rows_read = rows_loaded + rows_quarantined). Each file is written in one
transaction, so a crash leaves no half-loaded file behind.

Each file is handled inside its own error boundary — its name, its permissions, its hash,
its reading — so that no file a department can send stops the others. A file still being
written waits for a later night (``settle``); a new file is copied while it is hashed and
read from that copy, so the bytes recorded are the bytes loaded.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.csv_reader import CellTable, drop_cells, read_csv_cells
from ingest.excel_reader import read_excel_cells
from ingest.files import (
    ROOT_FEED,
    Fingerprints,
    LandedFile,
    copy_and_hash,
    identity,
    list_feed_files,
    settle,
    unknown_entries,
)
from ingest.header import require_columns
from ingest.problems import FileProblem, safe_message
from ingest.sniff import sniff_format
from ingest.workbook_guard import UNREAD, size_text
from jiuzhu.config import ROSTER_FEED, Feed, IngestLimits, load_ingest_limits
from warehouse.pii_lookup import masker, refresh_roster_names
from warehouse.resource import quote_ident, raw_table, transaction

log = logging.getLogger(__name__)

CELLS = "_jz_cells"
# A summary line at the bottom of a sheet: its first filled cell says so.
TOTAL_ROW_PATTERN = r"^\s*(合\s*计|总\s*计|小\s*计)"
NOT_READ = ""  # audit.files.sha256 of a file that was refused or could not be read
INTO_QUARANTINE = (
    "INSERT INTO audit.quarantine (feed, file_name, row_number, reason_code, reason, raw, file_id, stage, "
    "run_id, quarantined_at)"
)


@dataclass
class FileOutcome:
    file_name: str
    status: str  # loaded | rejected | duplicate; "waiting" is never recorded
    reason_code: str | None = None
    reason: str | None = None
    rows_read: int | None = None
    rows_loaded: int = 0
    rows_quarantined: int = 0
    display_name: str = ""  # the name masked, for everything outside the warehouse


@dataclass
class FeedReport:
    feed: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    later_files: int = 0  # extract date after the as-of date: left for a later night
    waiting: list[str] = field(default_factory=list)  # masked names of files still being written

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def rows_loaded(self) -> int:
        return sum(o.rows_loaded for o in self.outcomes)

    @property
    def rows_quarantined(self) -> int:
        return sum(o.rows_quarantined for o in self.outcomes)


@dataclass
class _Known:
    """What audit.files already says about a feed's files."""

    handled: set[tuple[str, str]]  # (file name, sha256) handled on an earlier night
    first_by_sha: dict[str, str]  # sha256 → display name of the first loaded file with those bytes
    versions: dict[str, list[int]]  # file name → file_ids of its loaded or rejected versions

    @classmethod
    def of(cls, con, feed: str) -> _Known:
        seen = con.execute(
            """SELECT file_id, file_name, sha256, status, rows_read, coalesce(display_name, file_name)
               FROM audit.files WHERE feed = ? ORDER BY file_id""",
            [feed],
        ).fetchall()
        known = cls({(name, sha) for _, name, sha, _, _, _ in seen}, {}, {})
        for file_id, name, sha, status, rows_read, shown in seen:
            # A re-delivery is a duplicate of a file whose rows were loaded. Files without
            # rows (a header-only increment, a rejected file) are judged on their own again.
            if status == "loaded" and rows_read:
                known.first_by_sha.setdefault(sha, shown)
            if status in ("loaded", "rejected"):
                known.versions.setdefault(name, []).append(file_id)
        return known


def ingest_feed(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    landing: Path,
    as_of: dt.date | None,
    run_id: str | None = None,
    scratch: Path | None = None,
    fingerprints: Fingerprints | None = None,
    sleep=time.sleep,
) -> FeedReport:
    """Load the feed's new files; ``scratch`` holds the copies being read (default: the system's
    temp folder), ``fingerprints`` remembers the sha256 of files already seen."""
    limits = load_ingest_limits()
    fingerprints = fingerprints or Fingerprints(None)
    known = _Known.of(con, feed.name)
    report = FeedReport(feed.name)
    todo: list[tuple[LandedFile, os.stat_result | None]] = []
    for landed in list_feed_files(landing, feed.name):
        if as_of is not None and landed.extract_date is not None and landed.extract_date > as_of:
            report.later_files += 1
            continue
        if landed.refused:
            if (landed.file_name, NOT_READ) not in known.handled:
                todo.append((landed, None))
            continue
        try:
            st = landed.path.stat()
        except OSError:
            st = None  # its own boundary below says why
        if st is not None:
            sha = fingerprints.known(landed.path, st)
            if sha is not None and (landed.file_name, sha) in known.handled:
                continue  # ingested on an earlier night: nothing to do
        todo.append((landed, st))
    _, moving = settle([(f, st) for f, st in todo if st is not None], limits.settle_seconds, sleep=sleep)
    still = {f.path for f in moving}
    display = masker(con, [f.file_name for f, _ in todo])
    report.waiting += [display(f.file_name) for f in moving]
    with tempfile.TemporaryDirectory(prefix="jiuzhu-ingest-", dir=scratch) as tmp:
        for landed, st in todo:
            if landed.path in still:
                continue
            outcome = _ingest_file(con, feed, landed, st, known, Path(tmp), run_id, limits, fingerprints, display)
            if outcome is None:
                continue
            if outcome.status == "waiting":
                report.waiting.append(outcome.display_name)
                continue
            report.outcomes.append(outcome)
            log.info("%s/%s: %s %s", feed.name, outcome.display_name, outcome.status, outcome.reason_code or "")
    for name in report.waiting:
        log.info("%s/%s: 仍在写入，留待下次 still being written, waits", feed.name, name)
    _record_waiting(con, feed.name, report.waiting, run_id)
    if feed.name == ROSTER_FEED:
        refresh_roster_names(con)
    fingerprints.save(landing / feed.name)  # the folder list_feed_files read
    return report


def _ingest_file(
    con,
    feed: Feed,
    landed: LandedFile,
    st,
    known: _Known,
    workdir: Path,
    run_id,
    limits: IngestLimits,
    fingerprints: Fingerprints,
    display,
) -> FileOutcome | None:
    """One file, inside its own boundary. None: nothing to record (handled before)."""
    started = time.perf_counter()
    meta = {"format": None, "encoding": None, "sheet": None, "header_row": None, "started": started}
    shown = display(landed.file_name)

    def record(status: str, code: str | None, reason: str | None, sha: str = NOT_READ) -> FileOutcome:
        outcome = FileOutcome(landed.file_name, status, code, reason, display_name=shown)
        _record_file(con, feed.name, landed, sha, outcome, meta, run_id)
        known.handled.add((landed.file_name, sha))
        return outcome

    if (refusal := landed.refusal) is not None:  # set exactly when the file is refused
        return record("rejected", *refusal)
    copy = workdir / f"{time.perf_counter_ns()}{landed.path.suffix.lower()[:8]}"  # the readers go by content
    try:
        if st is None:
            st = landed.path.stat()
        if st.st_size > limits.max_file_bytes:
            if (landed.file_name, NOT_READ) in known.handled:
                return None
            return record(
                "rejected",
                "TOO_LARGE",
                f"文件大小 {size_text(st.st_size)}，超过 {size_text(limits.max_file_bytes)} 的上限{UNREAD}",
            )
        sha = copy_and_hash(landed.path, copy)
        if identity(landed.path.stat()) != identity(st):  # written to while we copied it
            copy.unlink(missing_ok=True)
            return FileOutcome(landed.file_name, "waiting", display_name=shown)
    except OSError as exc:
        copy.unlink(missing_ok=True)
        if _environment_fault(exc, workdir):
            raise
        if (landed.file_name, NOT_READ) in known.handled:
            return None  # still unreadable: said on the night it was first seen
        return record("rejected", "NOT_READABLE", f"无法读取文件：{_os_reason(exc)}")
    fingerprints.remember(landed.path, st, sha)
    try:
        if (landed.file_name, sha) in known.handled:
            return None  # ingested on an earlier night (the fingerprint cache did not know it)
        if sha in known.first_by_sha:
            return record(
                "duplicate",
                "DUPLICATE",
                f"与已接收的文件“{known.first_by_sha[sha]}”内容完全相同（重复报送），未再次加载",
                sha,
            )
        outcome = _read_and_load(con, feed, landed, copy, sha, known, workdir, run_id, limits, meta, shown)
    finally:
        copy.unlink(missing_ok=True)
    known.handled.add((landed.file_name, sha))
    if outcome.status == "loaded" and outcome.rows_read:
        known.first_by_sha.setdefault(sha, shown)
    return outcome


def _read_and_load(con, feed, landed, copy, sha, known, workdir, run_id, limits, meta, shown) -> FileOutcome:
    try:
        # Parsing works in temp tables outside the transaction (DuckDB numbers the
        # rows of a table created inside one differently); the writes are atomic.
        table = _read_cells(con, feed, landed, copy, workdir, meta, limits)
        require_columns(table.header, feed)
        with transaction(con):
            earlier = known.versions.get(landed.file_name, []) if feed.same_name_replaces else []
            return _load(con, feed, landed, sha, table, run_id, meta, limits, earlier, shown)
    except FileProblem as problem:
        outcome = FileOutcome(
            landed.file_name, "rejected", problem.code, problem.reason, problem.rows_read, display_name=shown
        )
    except Exception as exc:  # one bad file never stops the feed, let alone the night
        if _environment_fault(exc, workdir):
            raise  # a full disk or a broken warehouse is the night's problem, not the file's
        # the message only: parser errors may quote the row, and rows hold personal data
        log.error("%s/%s could not be read: %s", feed.name, shown, safe_message(exc))
        outcome = FileOutcome(
            landed.file_name, "rejected", "READ_ERROR", f"读取失败：{safe_message(exc)}", display_name=shown
        )
    finally:
        drop_cells(con, CELLS)
    _record_file(con, feed.name, landed, sha, outcome, meta, run_id)
    return outcome


def _read_cells(con, feed: Feed, landed: LandedFile, source: Path, workdir: Path, meta: dict, limits) -> CellTable:
    if landed.extract_date is None:
        raise FileProblem("NO_DATE", "文件名中没有提取日期（应含 YYYYMMDD，例如 医保结算明细_20261127.csv）")
    fmt = sniff_format(source)
    meta["format"] = fmt
    if fmt == "csv":
        table = read_csv_cells(con, source, feed, workdir, CELLS, limits)
    else:
        table = read_excel_cells(con, source, feed, CELLS, fmt, limits, workdir)
    suffix = landed.path.suffix.lower().lstrip(".")
    if suffix and suffix != fmt and not (suffix == "txt" and fmt == "csv"):
        table.notes.append(f"扩展名为 .{suffix}，内容实为 {fmt}，已按内容读取")
    meta.update(encoding=table.encoding, sheet=table.sheet, header_row=table.header_row)
    return table


def _load(
    con,
    feed: Feed,
    landed: LandedFile,
    sha: str,
    table: CellTable,
    run_id: str | None,
    meta: dict,
    limits: IngestLimits,
    earlier: list[int],
    shown: str,
) -> FileOutcome:
    file_id = _next_file_id(con)
    width = len(table.header.canonical)
    names = [table.header.canonical[i] or table.header.delivered[i] or f"第{i + 1}列" for i in range(width)]
    data, bad = _is_data_row(width), "false" if table.values_checked else _bad_values(width, limits)
    notes = list(table.notes)
    unanswered = _unanswered(feed, table)
    if unanswered:  # a returned form: the warnings not answered yet are not rows of the feed
        skipped = con.execute(f"SELECT count(*) FROM {CELLS} WHERE {data} AND {unanswered}").fetchall()[0][0]
        data = f"{data} AND NOT {unanswered}"
        if skipped:
            notes.append(f"{skipped} 行尚未填写（{'、'.join(feed.answer_columns)}均为空），不是反馈，未计入")
    rows_loaded = _insert_rows(con, feed, landed, sha, table, file_id, f"{data} AND NOT ({bad})")
    # values no row may carry into the warehouse: NUL bytes, and values over the length limit
    rows_bad = con.execute(
        f"""{INTO_QUARANTINE}
            SELECT ?, ?, _row, {_bad_reason_code(width)}, {_bad_reason(names, limits)}, {_kept_values(names, limits)},
                   ?, 'ingest', ?, now()::TIMESTAMP
            FROM {CELLS} WHERE {data} AND ({bad})""",
        [feed.name, landed.file_name, file_id, run_id],
    ).fetchall()[0][0]
    rows_quarantined = rows_bad + _quarantine_reader_rows(con, feed, landed, table, file_id, run_id)
    rows_read = rows_loaded + rows_quarantined
    reason_code = None
    if rows_read == 0:
        if feed.kind == "snapshot":
            # an empty snapshot would mean "nobody is on the roster": never take that as the truth
            raise FileProblem(
                "HEADER_ONLY", "名册快照只有表头、没有数据行，不能作为当日名册，整个文件未使用", rows_read=0
            )
        reason_code = "HEADER_ONLY"  # an increment with nothing new that day: fine, but say so
        notes.insert(0, "只有表头，没有数据行（当日无新记录）")
    if landed.note:
        reason_code = reason_code or landed.note[0]
        notes.append(landed.note[1])
    if earlier:
        notes.append(_supersede(con, file_id, earlier))
    outcome = FileOutcome(
        landed.file_name,
        "loaded",
        reason_code,
        "；".join(notes) or None,
        rows_read,
        rows_loaded,
        rows_quarantined,
        shown,
    )
    _insert_file_row(con, file_id, feed.name, landed, sha, outcome, meta, run_id)
    return outcome


def _insert_rows(con, feed: Feed, landed: LandedFile, sha: str, table: CellTable, file_id: int, where: str) -> int:
    """The file's rows that pass ``where`` into raw.<feed>, each spec column from the cell the header
    found for it and the columns the spec does not know kept together in extra_columns."""
    targets, sources = ["file_id", "source_file", "source_row", "sha256", "extract_date"], ["?", "?", "_row", "?", "?"]
    for col in feed.column_names:
        pos = table.header.position(col)
        if pos is not None:
            targets.append(quote_ident(col))
            sources.append(f"c{pos}")
    extras = table.header.extras
    if extras:
        targets.append("extra_columns")
        pairs = ", ".join(f"{_lit(name)}, c{i}" for i, name in extras)
        sources.append(f"json_object({pairs})")
    return con.execute(
        f"""INSERT INTO {raw_table(feed)} ({", ".join(targets)})
            SELECT {", ".join(sources)} FROM {CELLS} WHERE {where}""",
        [file_id, landed.file_name, sha, landed.extract_date],
    ).fetchall()[0][0]


def _quarantine_reader_rows(
    con, feed: Feed, landed: LandedFile, table: CellTable, file_id: int, run_id: str | None
) -> int:
    """The rows the reader itself set aside (table.quarantine) into audit.quarantine; how many."""
    quarantine = table.quarantine
    if quarantine is None or not quarantine.height:
        return 0
    con.register("_jz_quarantine", quarantine)
    con.execute(
        f"""{INTO_QUARANTINE}
           SELECT ?, ?, _row, reason_code, reason, raw::JSON, ?, 'ingest', ?, now()::TIMESTAMP FROM _jz_quarantine""",
        [feed.name, landed.file_name, file_id, run_id],
    )
    con.unregister("_jz_quarantine")
    return quarantine.height


def _supersede(con, file_id: int, earlier: list[int]) -> str:
    """The same name delivered again with other bytes: this version replaces the earlier ones. The note."""
    con.execute(
        f"UPDATE audit.files SET status = 'superseded', superseded_by = ? "
        f"WHERE file_id IN ({', '.join('?' * len(earlier))}) AND status IN ('loaded', 'rejected')",
        [file_id, *earlier],
    )
    return (
        f"同名文件的新版本，替换了早先接收的版本（文件编号 {'、'.join(map(str, earlier))}），早先版本的数据行不再使用"
    )


def _unanswered(feed: Feed, table: CellTable) -> str | None:
    """SQL predicate: none of the feed's answer columns is filled in (None: the feed has none)."""
    cells = [
        f"nullif(trim(c{pos}), '')" for col in feed.answer_columns if (pos := table.header.position(col)) is not None
    ]
    return f"coalesce({', '.join(cells)}) IS NULL" if cells else None


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


def _too_long(cell: str, limits: IngestLimits) -> str:
    # strlen (bytes) is free; the character count is only taken where the bytes could be too many
    return f"(strlen({cell}) > {limits.max_field_chars} AND length({cell}) > {limits.max_field_chars})"


def _has_nul(cell: str) -> str:
    return f"contains({cell}, chr(0))"


def _bad_values(width: int, limits: IngestLimits) -> str:
    """SQL predicate, never NULL: some value of the row holds a NUL byte or is over the length limit."""
    return (
        " OR ".join(f"coalesce({_too_long(f'c{i}', limits)} OR {_has_nul(f'c{i}')}, false)" for i in range(width))
        or "false"
    )


def _bad_reason_code(width: int) -> str:
    nul = " OR ".join(f"coalesce({_has_nul(f'c{i}')}, false)" for i in range(width))
    return f"CASE WHEN {nul} THEN 'NUL_BYTE' ELSE 'FIELD_TOO_LONG' END"


def _bad_reason(names: list[str], limits: IngestLimits) -> str:
    """Which columns, in Chinese; never the values."""
    nul = ", ".join(f"CASE WHEN {_has_nul(f'c{i}')} THEN {_lit(n)} END" for i, n in enumerate(names))
    long = ", ".join(
        f"CASE WHEN {_too_long(f'c{i}', limits)} THEN {_lit(n)} || '（' || length(c{i}) || ' 字）' END"
        for i, n in enumerate(names)
    )
    return (
        f"concat_ws('；', '含空字符（NUL，0x00）的列：' || nullif(concat_ws('、', {nul}), ''), "
        f"'超过 {limits.max_field_chars} 字上限的列：' || nullif(concat_ws('、', {long}), '') "
        f"|| '，隔离表只保留每个超长值的前 {limits.kept_field_chars} 字')"
    )


def _kept_values(names: list[str], limits: IngestLimits) -> str:
    """The row's values as JSON for the quarantine: NUL bytes shown as ␀, over-long values cut
    to their start (a person fixing the source sees which value it was)."""
    kept = limits.kept_field_chars
    pairs = ", ".join(
        f"{_lit(n)}, CASE WHEN length(c{i}) > {limits.max_field_chars} "
        f"THEN left(replace(c{i}, chr(0), '␀'), {kept}) || '…' ELSE replace(c{i}, chr(0), '␀') END"
        for i, n in enumerate(names)
    )
    return f"json_object({pairs})"


def _os_reason(exc: OSError) -> str:
    if exc.errno is None:  # an OSError raised without a code (the text it always gave)
        return "操作系统错误 None"
    return {
        errno.EACCES: "没有读取权限（请让报送方或管理员调整文件权限）",
        errno.EPERM: "没有读取权限（请让报送方或管理员调整文件权限）",
        errno.ENOENT: "文件在读取前已被移走或删除（或是失效的符号链接）",
        errno.EISDIR: "这是一个目录，不是文件",
    }.get(exc.errno, f"操作系统错误 {errno.errorcode.get(exc.errno, exc.errno)}")


def _environment_fault(exc: BaseException, workdir: Path) -> bool:
    """A fault of this machine, not of the file: the disk is full, or the warehouse itself fails."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True
    if isinstance(exc, duckdb.Error):
        text = str(exc).lower()
        return any(s in text for s in ("no space left", "disk i/o", "database file", "checksum", "corrupt database"))
    return False


def _next_file_id(con) -> int:
    return con.execute("SELECT nextval('audit.file_id_seq')").fetchall()[0][0]


def _record_file(con, feed: str, landed: LandedFile, sha: str, outcome: FileOutcome, meta: dict, run_id) -> None:
    _insert_file_row(con, _next_file_id(con), feed, landed, sha, outcome, meta, run_id)


def _insert_file_row(con, file_id, feed: str, landed: LandedFile, sha: str, o: FileOutcome, meta: dict, run_id) -> None:
    row = {
        "file_id": file_id,
        "feed": feed,
        "file_name": landed.file_name,
        "sha256": sha,
        "extract_date": landed.extract_date,
        "status": o.status,
        "reason_code": o.reason_code,
        "reason": o.reason,
        "rows_read": o.rows_read,
        "rows_loaded": o.rows_loaded if o.status == "loaded" else 0,
        "rows_quarantined": o.rows_quarantined if o.status == "loaded" else 0,
        "format": meta["format"],
        "encoding": meta["encoding"],
        "sheet": meta["sheet"],
        "header_row": meta["header_row"],
        "size_bytes": landed.size_bytes,
        "seconds": round(time.perf_counter() - meta["started"], 4),
        "run_id": run_id,
        "display_name": o.display_name or None,
    }
    con.execute(
        f"INSERT INTO audit.files ({', '.join(row)}, ingested_at) VALUES ({', '.join('?' * len(row))}, now()::TIMESTAMP)",
        list(row.values()),
    )


def _record_waiting(con, feed: str, names: list[str], run_id: str | None) -> None:
    with transaction(con):  # the run's list for the feed replaced whole
        con.execute("DELETE FROM audit.files_waiting WHERE feed = ? AND run_id IS NOT DISTINCT FROM ?", [feed, run_id])
        if names:
            con.executemany(
                "INSERT INTO audit.files_waiting (feed, file_name, run_id, seen_at) VALUES (?, ?, ?, now()::TIMESTAMP)",
                [[feed, n, run_id] for n in names],
            )


def record_unknown_entries(con, landing: Path, feeds, run_id: str | None = None) -> list[FileOutcome]:
    """Files in folders the spec does not know, and files lying directly in the landing zone:
    recorded once each as rejected (never opened), so that nothing goes missing without a trace."""
    entries = unknown_entries(landing, set(feeds))
    handled = {
        tuple(r)
        for r in con.execute(
            "SELECT feed, file_name FROM audit.files WHERE reason_code IN ('UNKNOWN_FEED', 'HIDDEN_FILE', 'SYMLINK_OUTSIDE', "
            "'SYMLINK_FOLDER', 'NOT_A_FILE')"
        ).fetchall()
    }
    display = masker(con, [e.file_name for e in entries])
    out = []
    for e in entries:
        if (e.feed, e.file_name) in handled:
            continue
        refusal = e.refusal
        assert refusal is not None  # unknown_entries refuses every entry it returns
        code, reason = refusal
        if code == "UNKNOWN_FEED" and e.feed == ROOT_FEED:
            reason = "直接放在接收目录下，不在任何部门的目录中，未读取；请放入正确的部门目录"
        outcome = FileOutcome(e.file_name, "rejected", code, reason, display_name=display(e.file_name))
        meta = {"format": None, "encoding": None, "sheet": None, "header_row": None, "started": time.perf_counter()}
        _record_file(con, e.feed, e, NOT_READ, outcome, meta, run_id)
        out.append(outcome)
    return out
