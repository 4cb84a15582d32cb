"""Hostile and broken workbooks (issue 11): each is one rejected file with its reason, and the
night goes on — the good file beside it loads, and so does the next feed.

The workbooks are a few KB built by hand, part by part, where xlsxwriter would not write
them (a cell at XFD1048576, a sheet without its <dimension>, a deflate bomb). Nothing here
inflates a bomb or makes the test process allocate what the hostile file asks for.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import time
import zipfile

import pytest
import xlsxwriter

import ingest.excel_reader as excel_reader
import ingest.loader as loader
from jiuzhu.config import load_ingest_limits
from jiuzhu.idnumber import make_id

ID1 = make_id("370725", "19800101", 123)
ID2 = make_id("370725", "19650302", 244)
SECRET = "赵秘密"  # a name in a hostile cell: it must turn up in no reason and no log line
GOOD = "good_20261101.xlsx"
HOSTILE = "hostile_20261102.xlsx"

_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}
SHEET_START = b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def far_cell_workbook(far: str, dimension: str | None) -> bytes:
    """A valid header and row, and one more cell far out; with or without the range it declares."""
    rows = (
        '<row r="1">'
        + _cell("A1", "身份证号")
        + _cell("B1", "姓名")
        + _cell("C1", "死亡日期")
        + "</row>"
        + '<row r="2">'
        + _cell("A2", ID2)
        + _cell("B2", SECRET)
        + _cell("C2", "2026-01-03")
        + "</row>"
        + f'<row r="{re.sub(r"[A-Z]", "", far)}">'
        + _cell(far, SECRET)
        + "</row>"
    )
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in _PARTS.items():
            zf.writestr(name, text)
        zf.writestr(
            "xl/worksheets/sheet1.xml", SHEET_START + f"{dim}<sheetData>{rows}</sheetData></worksheet>".encode()
        )
    return buf.getvalue()


def deflate_bomb(inflated_mib: int = 200) -> bytes:
    """A workbook whose sheet is ~200 KB stored and 200 MiB inflated (ratio ≈ 1000), written a MiB at a time."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in _PARTS.items():
            zf.writestr(name, text)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(SHEET_START + b"<sheetData>")
            blank = b" " * (1 << 20)
            for _ in range(inflated_mib):
                fh.write(blank)
            fh.write(b"</sheetData></worksheet>")
    return buf.getvalue()


def good_workbook() -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("数据")
    for r, values in enumerate(
        [["身份证号", "姓名", "死亡日期"], [ID1, "张三", "2026-01-02"], [ID2, "李四", "2026-01-05"]]
    ):
        ws.write_row(r, 0, values)
    wb.close()
    return buf.getvalue()


@pytest.fixture
def limits(monkeypatch):
    """The configured limits, with a reader memory small enough that running out is quick."""
    small = dataclasses.replace(load_ingest_limits(), reader_memory_bytes=384 << 20, reader_timeout_seconds=60)
    monkeypatch.setattr(loader, "load_ingest_limits", lambda: small)
    return small


@pytest.fixture
def children(monkeypatch):
    """The bytes of the workbooks handed to a reader process (to show the guard stopped one before that)."""
    started = []
    run = excel_reader._run_reader

    def spy(path, *args):  # by content: the reader is handed a copy, not the delivered file
        started.append(path.read_bytes())
        return run(path, *args)

    monkeypatch.setattr(excel_reader, "_run_reader", spy)
    return started


def ingest_beside_a_good_file(landing, hostile: bytes, caplog):
    """Ingest the hostile workbook with a good one of the same feed, then another feed: the hostile outcome."""
    landing.write("wj_deaths", GOOD, good_workbook())
    landing.write("wj_deaths", HOSTILE, hostile)
    landing.write("wj_deaths", "deaths_20261103.csv", f"身份证号,姓名,死亡日期\n{ID2},王五,2026-01-04\n")
    with caplog.at_level(logging.DEBUG):
        report = landing.ingest("wj_deaths")
    got = {o.file_name: o for o in report.outcomes}
    assert (got[GOOD].status, got[GOOD].rows_loaded) == ("loaded", 2)
    assert got["deaths_20261103.csv"].status == "loaded"
    assert landing.query(
        "SELECT source_file, source_row FROM raw.wj_deaths WHERE source_file = ? ORDER BY 2", [GOOD]
    ) == [(GOOD, 2), (GOOD, 3)]
    # the night goes on to the next feed
    landing.write("wj_diagnoses", "diagnoses_20261101.csv", f"登记编号,身份证号,诊断日期\nD1,{ID1},2026-01-02\n")
    assert [o.status for o in landing.ingest("wj_diagnoses").outcomes] == ["loaded"]

    hostile_outcome = got[HOSTILE]
    assert hostile_outcome.status == "rejected"
    assert re.search(r"[\u4e00-\u9fff]", hostile_outcome.reason)
    for text in (hostile_outcome.reason, caplog.text):
        assert "Traceback" not in text and "panicked" not in text and "memory allocation" not in text
        assert SECRET not in text and ID2 not in text
    recorded = landing.query("SELECT status, reason_code, reason FROM audit.files WHERE file_name = ?", [HOSTILE])
    assert recorded == [("rejected", hostile_outcome.reason_code, hostile_outcome.reason)]
    return hostile_outcome


def test_a_sheet_declaring_the_whole_grid_is_rejected_before_it_is_read(landing, limits, children, caplog):
    hostile = far_cell_workbook("XFD1048576", "A1:XFD1048576")
    o = ingest_beside_a_good_file(landing, hostile, caplog)
    assert o.reason_code == "TOO_LARGE"
    assert "“数据”" in o.reason and "A1:XFD1048576" in o.reason and "256 列" in o.reason
    assert hostile not in children


def test_a_million_rows_of_52_columns_is_over_the_cell_limit(landing, limits, children, caplog):
    hostile = far_cell_workbook("AZ1000000", "A1:AZ1000000")
    o = ingest_beside_a_good_file(landing, hostile, caplog)
    assert o.reason_code == "TOO_LARGE"
    assert "A1:AZ1000000" in o.reason and "1000000 行 × 52 列" in o.reason and str(limits.max_sheet_cells) in o.reason
    assert hostile not in children


@pytest.mark.parametrize("far", ["XFD1048576", "AZ1000000"])
def test_a_far_cell_without_a_declared_range_is_stopped_by_the_readers_memory_limit(
    landing, limits, children, caplog, far
):
    # Nothing tells the guard; calamine allocates the dense range (512 GiB, or 1.6 GB) and the child dies.
    hostile = far_cell_workbook(far, None)
    o = ingest_beside_a_good_file(landing, hostile, caplog)
    assert o.reason_code == "TOO_LARGE"
    assert "内存" in o.reason and "384 MB" in o.reason
    assert hostile in children


def test_a_deflate_bomb_is_rejected_by_its_ratio_before_anything_is_inflated(
    landing, limits, children, caplog, monkeypatch
):
    bomb = deflate_bomb()
    assert len(bomb) < 400_000
    inflated = []
    read = zipfile.ZipExtFile.read
    monkeypatch.setattr(
        zipfile.ZipExtFile, "read", lambda self, n=-1: inflated.append(len(data := read(self, n))) or data
    )
    o = ingest_beside_a_good_file(landing, hostile := bomb, caplog)
    assert o.reason_code == "TOO_LARGE"
    assert "压缩比" in o.reason and "200 MB" in o.reason and "疑似压缩炸弹" in o.reason
    assert hostile not in children
    assert sum(inflated) < 1 << 20  # the guard read directories and the good file's first bytes, no more


def test_an_xlsx_that_is_not_a_zip_or_is_cut_short_is_corrupt(landing, limits, caplog):
    o = ingest_beside_a_good_file(landing, b"PK\x03\x04" + b"\x00" * 2000, caplog)
    assert o.reason_code == "CORRUPT"
    truncated = good_workbook()[:1500]
    landing.write("wj_deaths", "cut_20261104.xlsx", truncated)
    cut = landing.outcome(landing.ingest("wj_deaths"), "cut_20261104.xlsx")
    assert (cut.status, cut.reason_code) == ("rejected", "CORRUPT")


def test_a_reader_that_runs_out_of_time_is_stopped(landing, limits, tmp_path, monkeypatch, caplog):
    # Stands in for calamine stuck on a file: it takes the request and never answers.
    (tmp_path / "jz_stuck_reader.py").write_text("import sys, time\nsys.stdin.buffer.read(8)\ntime.sleep(600)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(excel_reader, "CHILD_MODULE", "jz_stuck_reader")
    monkeypatch.setattr(loader, "load_ingest_limits", lambda: dataclasses.replace(limits, reader_timeout_seconds=2))
    landing.write("wj_deaths", HOSTILE, good_workbook())
    started = time.monotonic()
    o = landing.ingest("wj_deaths").outcomes[0]
    assert time.monotonic() - started < 10
    assert (o.status, o.reason_code) == ("rejected", "TOO_LARGE")
    assert "2 秒" in o.reason
    assert not excel_reader._READER.alive()  # stopped, not left running


def test_a_reader_killed_by_a_signal_is_a_corrupt_file_and_what_it_printed_is_not_shown(
    landing, limits, tmp_path, monkeypatch, caplog
):
    # Stands in for calamine crashing on a malformed file: print a cell, then die of SIGSEGV.
    (tmp_path / "jz_crashing_reader.py").write_text(
        f"import os, signal, sys\nsys.stderr.write('{SECRET} {ID2}\\n')\nsys.stderr.flush()\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(excel_reader, "CHILD_MODULE", "jz_crashing_reader")
    landing.write("wj_deaths", HOSTILE, good_workbook())
    with caplog.at_level(logging.DEBUG):
        o = landing.ingest("wj_deaths").outcomes[0]
    assert (o.status, o.reason_code) == ("rejected", "CORRUPT")
    assert "SIGSEGV" in o.reason
    assert SECRET not in o.reason + caplog.text and ID2 not in o.reason + caplog.text


@pytest.mark.parametrize(
    "limit, value, words",
    [
        ("max_file_bytes", 1000, ["文件大小", "1000 字节"]),
        ("max_workbook_parts", 3, ["5 个部件", "3 个的上限"]),
        ("max_workbook_inflated_bytes", 1000, ["解压后共", "1000 字节"]),
    ],
)
def test_each_configured_workbook_limit_rejects_with_its_figures(landing, monkeypatch, limit, value, words):
    small = dataclasses.replace(load_ingest_limits(), **{limit: value})
    monkeypatch.setattr(loader, "load_ingest_limits", lambda: small)
    landing.write("wj_deaths", HOSTILE, far_cell_workbook("D3", "A1:D3"))
    o = landing.ingest("wj_deaths").outcomes[0]
    assert (o.status, o.reason_code) == ("rejected", "TOO_LARGE")
    assert all(w in o.reason for w in words), o.reason


def test_an_archive_of_thousands_of_parts_is_rejected_from_its_end_record(landing, limits, children, caplog):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(5000):
            zf.writestr(f"xl/media/p{i}.bin", b"")
    o = ingest_beside_a_good_file(landing, hostile := buf.getvalue(), caplog)
    assert o.reason_code == "TOO_LARGE" and "5000 个部件" in o.reason
    assert hostile not in children
