"""Cheap checks of a workbook before anything reads it: its size, its zip directory, its declared ranges.

An .xlsx file is a zip archive. The central directory states every part's stored
and inflated size, and each sheet's XML begins with the range it claims
(``<dimension ref="A1:D200"/>``); both are read without inflating the data, so a
zip bomb or a sheet claiming a million rows × 16384 columns is rejected before a
reader commits gigabytes to it. Both can lie (and the dimension may be missing):
the child process that reads the workbook under a memory limit is the backstop.
"""

from __future__ import annotations

import html
import re
import zipfile
import zlib
from pathlib import Path

from ingest.problems import FileProblem
from jiuzhu.config import IngestLimits

RATIO_MIN_INFLATED = 1 << 20  # a part inflating to less than this cannot hurt, whatever its ratio
DIMENSION_PREFIX = 64 << 10  # the <dimension> element comes before <sheetData>, near the top
WORKBOOK_XML_PREFIX = 1 << 20  # enough for the <sheets> list of any real workbook
WORKSHEET_PART = re.compile(r"xl/worksheets/[^/]+\.xml", re.IGNORECASE)
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\bref\s*=\s*[\"']([^\"']*)[\"']")
_CELL = re.compile(r"\$?([A-Z]{1,3})\$?(\d{1,7})", re.IGNORECASE)
_ELEMENT = {"sheet": re.compile(r"<(?:\w+:)?sheet\b([^>]*)>"), "rel": re.compile(r"<(?:\w+:)?Relationship\b([^>]*)>")}
_ATTRIBUTE = re.compile(r"([\w:]+)\s*=\s*[\"']([^\"']*)[\"']")
UNREAD = "，整个文件未读取"


def size_text(n: float) -> str:
    """Bytes as a person reads them: 2.5 GB, 300 MB, 12 KB (binary units, like the limits)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{round(n / scale, 1):g} {unit}"
    return f"{int(n)} 字节"


def check_workbook(path: Path, fmt: str, limits: IngestLimits) -> None:
    """Raise FileProblem (TOO_LARGE, CORRUPT) when the file must not be handed to a reader.
    (Its size in bytes the loader checks for every file, before it is even copied.)"""
    if fmt == "xlsx":  # .xls is a compound file with no such directory: size only, the child is the backstop
        try:
            _check_part_count(path, limits)
            with zipfile.ZipFile(path) as zf:
                _check_parts(zf.infolist(), limits)
                _check_dimensions(zf, limits)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
            raise FileProblem(
                "CORRUPT", f"Excel 文件已损坏，不是完整的 xlsx 压缩包（{type(exc).__name__}）{UNREAD}"
            ) from exc


def _check_part_count(path: Path, limits: IngestLimits) -> None:
    """The number of parts, from the archive's end record, before ZipFile parses the directory.

    ZipFile holds an object per entry: millions of tiny entries would cost the
    parent gigabytes before any count could be checked. (_EndRecData is the
    standard library's own reader of that record, zip64 included.)
    """
    # typeshed leaves out zipfile's private helpers
    with path.open("rb") as fh:
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]
    if end is None:
        raise zipfile.BadZipFile("no end of central directory")
    parts = end[zipfile._ECD_ENTRIES_TOTAL]  # type: ignore[attr-defined]
    if parts > limits.max_workbook_parts:
        raise FileProblem(
            "TOO_LARGE",
            f"工作簿压缩包内有 {parts} 个部件，超过 {limits.max_workbook_parts} 个的上限（不像正常的工作簿）{UNREAD}",
        )


def _check_parts(infos: list[zipfile.ZipInfo], limits: IngestLimits) -> None:
    """From the central directory alone: how big inflated, how compressed (and the count again, as parsed)."""
    if len(infos) > limits.max_workbook_parts:
        raise FileProblem(
            "TOO_LARGE",
            f"工作簿压缩包内有 {len(infos)} 个部件，超过 {limits.max_workbook_parts} 个的上限（不像正常的工作簿）{UNREAD}",
        )
    inflated = sum(i.file_size for i in infos)
    if inflated > limits.max_workbook_inflated_bytes:
        raise FileProblem(
            "TOO_LARGE",
            f"工作簿解压后共 {size_text(inflated)}，超过 {size_text(limits.max_workbook_inflated_bytes)} 的上限（疑似压缩炸弹）{UNREAD}",
        )
    for i in infos:
        if i.file_size > RATIO_MIN_INFLATED and i.file_size > limits.max_compression_ratio * max(i.compress_size, 1):
            ratio = i.file_size / max(i.compress_size, 1)
            raise FileProblem(
                "TOO_LARGE",
                f"工作簿中的部件 {i.filename[:80]} 由 {size_text(i.compress_size)} 解压为 {size_text(i.file_size)}，"
                f"压缩比 {ratio:.0f}:1，超过 {limits.max_compression_ratio:g}:1 的上限（疑似压缩炸弹）{UNREAD}",
            )


def _check_dimensions(zf: zipfile.ZipFile, limits: IngestLimits) -> None:
    """Each sheet's declared range, from the first bytes of its XML (never inflated further)."""
    names = _sheet_names(zf)
    parts = {i.filename for i in zf.infolist() if WORKSHEET_PART.fullmatch(i.filename)} | set(names)
    for part in sorted(parts & set(zf.namelist())):
        with zf.open(part) as fh:
            found = _DIMENSION.search(fh.read(DIMENSION_PREFIX))
        if not found:
            continue
        ref = found.group(1).decode("ascii", errors="replace")[:40]
        # Readers fill the grid from A1 to the range's far corner, so that corner is what costs.
        cells = _CELL.findall(ref)
        if not cells:
            continue
        rows = max(int(r) for _, r in cells)
        cols = max(_column_number(c) for c, _ in cells)
        over = []
        if rows > limits.max_sheet_rows:
            over.append(f"超过 {limits.max_sheet_rows} 行的上限")
        if cols > limits.max_sheet_columns:
            over.append(f"超过 {limits.max_sheet_columns} 列的上限")
        if rows * cols > limits.max_sheet_cells:
            over.append(f"共 {rows * cols} 个单元格，超过 {limits.max_sheet_cells} 个的上限")
        if over:
            sheet = names.get(part, part.rsplit("/", 1)[-1])
            raise FileProblem(
                "TOO_LARGE",
                f"工作表“{sheet}”声明的数据范围为 {ref}（{rows} 行 × {cols} 列），{'，'.join(over)}{UNREAD}",
            )


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _sheet_names(zf: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part -> the sheet's name as Excel shows it, from workbook.xml and its relationships."""
    try:
        sheets = _elements(zf, "xl/workbook.xml", "sheet")
        rels = _elements(zf, "xl/_rels/workbook.xml.rels", "rel")
    except KeyError:  # no such part: calamine will say what is wrong with the file
        return {}
    targets = {}
    for rel in rels:
        target = rel.get("Target", "")
        targets[rel.get("Id")] = target.lstrip("/") if target.startswith("/") else "xl/" + target
    names = {}
    for sheet in sheets:
        rid = next((v for k, v in sheet.items() if k.endswith(":id")), None)
        if rid in targets and "name" in sheet:
            names[targets[rid]] = html.unescape(sheet["name"])[:60]
    return names


def _elements(zf: zipfile.ZipFile, part: str, kind: str) -> list[dict[str, str]]:
    with zf.open(part) as fh:
        text = fh.read(WORKBOOK_XML_PREFIX).decode("utf-8", errors="replace")
    return [dict(_ATTRIBUTE.findall(m.group(1))) for m in _ELEMENT[kind].finditer(text)]
