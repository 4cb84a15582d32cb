"""Each department's quality workbook: the rows of its feed that were quarantined and the files
that were rejected, up to the night, to fix at the source (exports/<date>/quality/<feed>.xlsx);
and each township's own: the sheet of its workbook listing the rows of the workbooks it returned
that were not taken (transform/monitoring/feedback.py), with what to do about each."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from exports.excel import open_workbook, title_lines, write_sheet
from exports.export_log import log_export
from jiuzhu.config import Feed, load_quality
from jiuzhu.idnumber import mask as id_mask
from jiuzhu.pii import mask_name
from warehouse.pii_lookup import masker, names_masker, roster_names_in

NOT_TAKEN_SHEET = "未采用的反馈"
NOT_TAKEN_HOW = "下列反馈未被采用（累计，最近报送的在前）：请按“处理办法”在“反馈”工作表中更正后再报送。"
# (header, key of a row not taken or of the row as returned, width); the numbers that find the row are
# shown as returned (as the records' own numbers in the quality workbooks), what was typed is masked
NOT_TAKEN_COLUMNS = [
    ("报送文件", "file_name", 26),
    ("报送日期", "extract_date", 11),
    ("行号", "row_number", 6),
    ("预警编号", "预警编号", 22),
    ("户编号", "户编号", 18),
    ("核查日期", "核查日期", 12),
    ("核查结果", "核查结果", 12),
    ("帮扶措施", "帮扶措施", 12),
    ("原因", "reason", 30),
    ("处理办法", "to_do", 36),
    ("报送次数", "times_sent", 8),
]
NOT_MASKED = {"预警编号", "户编号", "row_number", "extract_date", "times_sent", "to_do"}


def write_quality_workbooks(
    con: duckdb.DuckDBPyConnection, feeds: Iterable[Feed], as_of: dt.date, out_dir: Path, run_id: str | None = None
) -> dict[str, int]:
    """Every feed's workbook, each logged in audit.export_log; returns the rows listed per feed."""
    listings = [_Listing.read(con, feed, as_of) for feed in feeds]
    # the roster's names in all of them, looked up at once: the lookup reads every roster ever delivered
    roster = roster_names_in(con, [text for listing in listings for text in listing.texts()])
    written = {listing.feed.name: _write_quality_workbook(listing, roster, out_dir) for listing in listings}
    for name, rows_listed in written.items():
        log_export(con, as_of, out_dir / f"{name}.xlsx", "quality", name, rows_listed, run_id)
    return written


@dataclass(frozen=True)
class _Listing:
    """A feed's rejected files and quarantined rows (with their original values) for its workbook."""

    feed: Feed
    files: list[tuple]
    rows: list[tuple]
    values: list[dict]

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection, feed: Feed, as_of: dt.date) -> _Listing:
        """The files dated in the last ``workbook_days`` (config/quality.yaml) up to the as-of date."""
        since = as_of - dt.timedelta(days=load_quality()["workbook_days"])
        files = con.execute(
            """SELECT coalesce(display_name, file_name), extract_date, reason_code, reason FROM audit.files
               WHERE feed = $feed AND status = 'rejected' AND coalesce(extract_date, $as_of) <= $as_of
                 AND coalesce(extract_date, ingested_at::DATE) > $since  -- a name without a date: when it came
               ORDER BY extract_date, file_name""",
            {"feed": feed.name, "as_of": as_of, "since": since},
        ).fetchall()
        rows = con.execute(
            """SELECT coalesce(f.display_name, q.file_name), q.row_number, q.reason_code, q.reason, q.raw
               FROM audit.quarantine q JOIN audit.files f USING (file_id)
               WHERE q.feed = $feed AND f.extract_date <= $as_of AND f.extract_date > $since
               ORDER BY f.extract_date, q.file_name, q.row_number""",
            {"feed": feed.name, "as_of": as_of, "since": since},
        ).fetchall()
        return cls(feed, files, rows, [json.loads(raw) if raw else {} for *_, raw in rows])

    def own_names(self) -> frozenset[str]:
        """The rows' own names: a petition may name its petitioner, who is not always in the roster."""
        columns = {c.name for c in self.feed.columns if c.field == "name"}
        return frozenset(str(row[c]).strip() for row in self.values for c in columns if row.get(c))

    def texts(self) -> list[str]:
        return [str(v) for row in self.values for v in row.values() if v] + [r[3] or "" for r in self.rows]


def _write_quality_workbook(listing: _Listing, roster: frozenset[str], out_dir: Path) -> int:
    """<out_dir>/<feed>.xlsx: the listing, for the department to fix at the source. What leaves the
    warehouse is masked: ID numbers (in their columns, and ID-like numbers in any text, file names
    included), names (the name column keeps the surname; ``roster``'s names and the rows' own in free
    text), and text that starts like a formula is neutralised. The records' own numbers (户编号,
    结算编号 …) stay as delivered."""
    feed, files, rows, values = listing.feed, listing.files, listing.rows, listing.values
    id_columns = {c.name for c in feed.columns if c.type == "id"}
    name_columns = {c.name for c in feed.columns if c.field == "name"}
    # the records' own numbers (户编号, 结算编号 …): the department finds the row by them; they name no person
    record_numbers = {c.name for c in feed.columns if c.field.endswith("_id") and c.type != "id"}
    columns = feed.column_names
    mask = names_masker(roster, listing.own_names())

    def shown(column: str, value) -> str | None:
        if value is None or value == "":
            return None
        text = str(value)
        if column in id_columns:
            return id_mask(text)
        if column in record_numbers:
            return text
        return mask_name(text.strip()) if column in name_columns else mask(text)

    def quarantined():
        for (file_name, row_number, code, reason, _), original in zip(rows, values):
            unsplit = original.pop("原始行", None)  # a row that could not be split into columns
            cells = [shown(c, original.get(c)) for c in columns]
            if unsplit is not None:
                cells[0] = mask(str(unsplit))
            yield [mask(file_name), row_number, code, mask(reason or ""), *cells]

    out_dir.mkdir(parents=True, exist_ok=True)
    wb = open_workbook(out_dir / f"{feed.name}.xlsx", constant_memory=True)  # a feed's history can be long
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7"})
    write_sheet(wb, "隔离的行", ["文件", "行号", "原因代码", "原因", *columns], quarantined(), header_format=bold)
    write_sheet(
        wb,
        "拒收的文件",
        ["文件", "提取日期", "原因代码", "原因"],
        (
            [mask(file_name), extract.isoformat() if extract else "", code, mask(reason or "")]
            for file_name, extract, code, reason in files
        ),
        header_format=bold,
        freeze=False,
    )
    wb.close()
    return len(rows)


def not_taken_cells(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> dict[str, list[list]]:
    """The cells of the rows not taken (transform.monitoring.feedback.not_taken), per returning
    township, masked as the quality workbooks are: ID-like numbers and roster names in what was typed."""
    mask = masker(con, [str(v) for r in rows for v in r["values"].values() if v] + [r["reason"] or "" for r in rows])
    out: dict[str, list[list]] = {}
    for r in rows:
        if r["township_code"] is None:
            continue  # a file whose name names no township: the county's quality workbook lists it
        values = r | r["values"]
        if "原始行" in r["values"]:  # a row that could not be split into columns
            values["预警编号"] = mask(str(r["values"]["原始行"]))
        cells = [
            values.get(key) if key in NOT_MASKED else (mask(str(values[key])) if values.get(key) else None)
            for _, key, _ in NOT_TAKEN_COLUMNS
        ]
        out.setdefault(r["township_code"], []).append(cells)
    return out


def write_not_taken_sheet(wb, cells: Iterable[list], township: str, as_of: dt.date, formats: dict) -> None:
    """The township's sheet of rows not taken, under the title every sheet that goes out has; the
    reasons and what to do wrap, each row as tall as its text (printed, nothing is cut)."""
    cells = list(cells)
    write_sheet(
        wb,
        NOT_TAKEN_SHEET,
        [h for h, _, _ in NOT_TAKEN_COLUMNS],
        cells,
        widths=[w for _, _, w in NOT_TAKEN_COLUMNS],
        header_format=formats["header"],
        row_formats=[formats["wrap"]] * len(cells),
        fit_rows=True,
        title=title_lines(township, as_of, NOT_TAKEN_SHEET, NOT_TAKEN_HOW),
        title_format=formats["title"],
        printed=f"{township} {NOT_TAKEN_SHEET} 截至 {as_of}",
    )
