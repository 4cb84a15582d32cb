"""Files a department (or a broken transfer) can put in the landing zone that must not stop the
night: each is recorded with its outcome, and the good files beside it load as usual.
(Hostile workbooks — sparse ranges, zip bombs — are in test_hostile_workbooks.py.)"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os

import pytest

from ingest import loader
from ingest.loader import record_unknown_entries
from jiuzhu.config import load_feeds, load_ingest_limits
from jiuzhu.idnumber import make_id
from warehouse.resource import connect

ID1 = make_id("370725", "19800101", 123)
ID2 = make_id("370725", "19650302", 244)
HEADER = "身份证号,姓名,死亡日期\n"
GOOD = HEADER + f"{ID1},张三,2026-01-02\n"


def outcomes(report) -> dict[str, tuple[str, str | None]]:
    return {o.file_name: (o.status, o.reason_code) for o in report.outcomes}


def test_a_file_in_neither_utf8_nor_gb18030_is_rejected_and_its_neighbours_load(landing):
    """GBK is only assumed once the bytes are not UTF-8: converting them says whether they are. A file
    that is neither is rejected as ENCODING, whole."""
    landing.write("wj_deaths", "gbk_20261101.csv", HEADER + f"{ID1},张三,2026-01-02\n", encoding="gbk")
    broken = (HEADER + f"{ID2},李四,2026-01-03\n").encode("gbk") + b"\x80\xff\n"  # no encoding has these
    landing.write("wj_deaths", "broken_20261102.csv", broken)
    report = landing.ingest("wj_deaths")
    assert outcomes(report) == {"gbk_20261101.csv": ("loaded", None), "broken_20261102.csv": ("rejected", "ENCODING")}
    assert landing.query("SELECT count(*) FROM raw.wj_deaths") == [(1,)]


def test_a_name_that_is_not_utf8_is_loaded_under_an_escaped_name(landing):
    folder = landing.root / "wj_deaths"
    folder.mkdir(parents=True)
    gbk_name = "死亡登记_20261101.csv".encode("gbk")  # as unzipped from a Windows archive
    with open(os.path.join(os.fsencode(folder), gbk_name), "wb") as fh:
        fh.write(GOOD.encode())
    os.utime(os.path.join(os.fsencode(folder), gbk_name), (0, 0))
    landing.write("wj_deaths", "good_20261102.csv", HEADER + f"{ID2},李四,2026-01-03\n")
    report = landing.ingest("wj_deaths")
    escaped = gbk_name.decode("utf-8", "backslashreplace")
    assert outcomes(report) == {escaped: ("loaded", "NAME_ENCODING"), "good_20261102.csv": ("loaded", None)}
    assert "不是 UTF-8" in landing.query("SELECT reason FROM audit.files WHERE file_name = ?", [escaped])[0][0]
    assert landing.query("SELECT count(*) FROM raw.wj_deaths") == [(2,)]
    assert landing.ingest("wj_deaths").outcomes == []  # a second night changes nothing


def test_an_unreadable_file_is_rejected_once_and_loaded_when_it_can_be_read(landing, monkeypatch):
    locked = landing.write("wj_deaths", "locked_20261101.csv", GOOD)
    landing.write("wj_deaths", "good_20261102.csv", HEADER + f"{ID2},李四,2026-01-03\n")
    real = loader.copy_and_hash

    def no_permission(path, target):  # as root the tests cannot take a permission away: simulated
        if path == locked:
            raise PermissionError(13, "Permission denied")
        return real(path, target)

    monkeypatch.setattr(loader, "copy_and_hash", no_permission)
    report = landing.ingest("wj_deaths")
    assert outcomes(report) == {
        "locked_20261101.csv": ("rejected", "NOT_READABLE"),
        "good_20261102.csv": ("loaded", None),
    }
    assert "权限" in report.outcomes[0].reason and str(locked) not in report.outcomes[0].reason
    assert landing.ingest("wj_deaths").outcomes == []  # still unreadable: said once, not every night
    monkeypatch.setattr(loader, "copy_and_hash", real)
    assert outcomes(landing.ingest("wj_deaths")) == {"locked_20261101.csv": ("loaded", None)}


def test_a_file_still_being_written_waits_and_is_loaded_once_whole(landing):
    growing = landing.write("wj_deaths", "d_20261101.csv", GOOD, age=0)

    def meanwhile(seconds):  # the department's transfer goes on while ingest looks again
        assert 0 < seconds <= load_ingest_limits().settle_seconds
        with growing.open("a", encoding="utf-8") as fh:
            fh.write(f"{ID2},李四,2026-01-03\n")

    with connect(landing.warehouse) as con:
        report = loader.ingest_feed(con, load_feeds()["wj_deaths"], landing.root, None, "night1", sleep=meanwhile)
    assert report.outcomes == [] and report.waiting == ["d_20261101.csv"]
    assert landing.query("SELECT count(*) FROM audit.files") == [(0,)]
    assert landing.query("SELECT feed, file_name, run_id FROM audit.files_waiting") == [
        ("wj_deaths", "d_20261101.csv", "night1")
    ]
    os.utime(growing, (0, 0))  # the transfer ended long ago
    assert outcomes(landing.ingest("wj_deaths")) == {"d_20261101.csv": ("loaded", None)}
    assert landing.query("SELECT rows_read FROM audit.files") == [(2,)]


def test_a_file_changed_while_it_was_copied_waits(landing, monkeypatch):
    path = landing.write("wj_deaths", "d_20261101.csv", GOOD)
    real = loader.copy_and_hash

    def appended_during_copy(source, target):
        sha = real(source, target)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{ID2},李四,2026-01-03\n")
        return sha

    monkeypatch.setattr(loader, "copy_and_hash", appended_during_copy)
    report = landing.ingest("wj_deaths")
    assert report.outcomes == [] and report.waiting == ["d_20261101.csv"]
    monkeypatch.setattr(loader, "copy_and_hash", real)
    assert landing.query("SELECT count(*) FROM raw.wj_deaths") == [(0,)]


def test_a_file_replaced_under_its_name_supersedes_the_earlier_rows(landing):
    from transform.staging.build import build_staging

    landing.write("wj_deaths", "d_20261101.csv", GOOD)  # first loaded half-written: one row
    landing.ingest("wj_deaths")
    landing.write("wj_deaths", "d_20261101.csv", GOOD + f"{ID2},李四,2026-01-03\n")  # then whole
    report = landing.ingest("wj_deaths")
    assert outcomes(report) == {"d_20261101.csv": ("loaded", None)} and "替换" in report.outcomes[0].reason
    files = landing.query("SELECT file_id, status, superseded_by, rows_read FROM audit.files ORDER BY file_id")
    assert [(s, n) for _, s, _, n in files] == [("superseded", 1), ("loaded", 2)]
    assert files[0][2] == files[1][0]
    with connect(landing.warehouse) as con:
        build_staging(con, load_feeds()["wj_deaths"], dt.date(2026, 11, 28))
    # the person of the first version counted once, from the version that replaced it
    assert landing.query("SELECT id_number, count(*) FROM staging.wj_deaths GROUP BY 1 ORDER BY 1") == sorted(
        [(ID1, 1), (ID2, 1)]
    )


def test_hidden_and_lock_files_are_recorded_never_read(landing):
    landing.write("wj_deaths", ".d_20261101.csv", GOOD)
    landing.write("wj_deaths", "~$d_20261101.xlsx", b"lock")
    landing.write("wj_deaths", ".partial/d_20261102.csv", GOOD)
    landing.write("wj_deaths", "d_20261103.csv", GOOD)
    report = landing.ingest("wj_deaths")
    assert outcomes(report) == {
        ".d_20261101.csv": ("rejected", "HIDDEN_FILE"),
        "~$d_20261101.xlsx": ("rejected", "HIDDEN_FILE"),
        ".partial/d_20261102.csv": ("rejected", "HIDDEN_FILE"),
        "d_20261103.csv": ("loaded", None),
    }
    assert landing.query("SELECT count(*) FROM audit.files WHERE sha256 = ''") == [(3,)]  # never opened
    assert landing.ingest("wj_deaths").outcomes == []


def test_symlinks_out_of_the_landing_zone_are_refused(landing, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(HEADER + f"{ID2},不该读到,2026-01-03\n", encoding="utf-8")
    (landing.root / "wj_deaths").mkdir(parents=True)
    (landing.root / "wj_deaths" / "d_20261101.csv").symlink_to(outside)
    inside = landing.write("wj_deaths", "sub/real_20261102.csv", GOOD)
    (landing.root / "wj_deaths" / "link_20261103.csv").symlink_to(inside)
    (landing.root / "wj_deaths" / "linked_folder").symlink_to(tmp_path)
    report = landing.ingest("wj_deaths")
    assert outcomes(report) == {
        "d_20261101.csv": ("rejected", "SYMLINK_OUTSIDE"),
        "linked_folder/": ("rejected", "SYMLINK_FOLDER"),
        "sub/real_20261102.csv": ("loaded", None),
        "link_20261103.csv": ("duplicate", "DUPLICATE"),
    }
    assert landing.query("SELECT count(*) FROM raw.wj_deaths WHERE 姓名 = '不该读到'") == [(0,)]


def test_a_fifo_is_refused_without_blocking_the_night(landing):
    (landing.root / "wj_deaths").mkdir(parents=True)
    os.mkfifo(landing.root / "wj_deaths" / "pipe_20261101.csv")
    landing.write("wj_deaths", "d_20261102.csv", GOOD)
    assert outcomes(landing.ingest("wj_deaths")) == {
        "pipe_20261101.csv": ("rejected", "NOT_A_FILE"),
        "d_20261102.csv": ("loaded", None),
    }


def test_files_outside_every_feed_folder_are_recorded(landing):
    landing.write("jy_students", "students_20261101.csv", "学号,姓名\n1,张三\n")  # a feed the spec does not know
    landing.write("wj_deaths", "d_20261101.csv", GOOD)
    (landing.root / "loose_20261101.csv").write_text(GOOD, encoding="utf-8")
    with connect(landing.warehouse) as con:
        recorded = record_unknown_entries(con, landing.root, load_feeds(), "night1")
        again = record_unknown_entries(con, landing.root, load_feeds(), "night2")
    assert {(o.file_name, o.status, o.reason_code) for o in recorded} == {
        ("students_20261101.csv", "rejected", "UNKNOWN_FEED"),
        ("loose_20261101.csv", "rejected", "UNKNOWN_FEED"),
    }
    assert again == []
    assert sorted(landing.query("SELECT feed FROM audit.files")) == [("(接收目录根)",), ("jy_students",)]


def test_an_over_long_value_quarantines_its_row_and_keeps_its_start(landing):
    limits = load_ingest_limits()
    huge = "家" * (5 << 20)  # 5 M characters, 15 MB in UTF-8
    rows = [f"{make_id('370725', '19800101', 100 + i)},人{i},2026-01-02" for i in range(40)]
    rows.insert(20, f"{ID2},{huge},2026-01-03")
    landing.write("wj_deaths", "d_20261101.csv", HEADER + "\n".join(rows) + "\n")
    o = landing.ingest("wj_deaths").outcomes[0]
    assert (o.status, o.rows_read, o.rows_loaded, o.rows_quarantined) == ("loaded", 41, 40, 1)
    ((row, code, reason, raw),) = landing.query("SELECT row_number, reason_code, reason, raw FROM audit.quarantine")
    assert (row, code) == (22, "FIELD_TOO_LONG") and "姓名" in reason and f"{len(huge)} 字" in reason
    kept = json.loads(raw)["姓名"]
    assert kept.startswith("家" * 100) and len(kept) == limits.kept_field_chars + 1


def test_nul_bytes_in_a_value_quarantine_the_row_wherever_they_are(landing):
    rows = [f"{make_id('370725', '19800101', 100 + i)},人{i},2026-01-02" for i in range(30)]
    rows[0] = f"{ID1},张\x00三,2026-01-02"  # within the first bytes of the file
    rows[29] = f"{ID2},李四\x00,2026-01-02"
    landing.write("wj_deaths", "d_20261101.csv", HEADER + "\n".join(rows) + "\n")
    o = landing.ingest("wj_deaths").outcomes[0]
    assert (o.status, o.rows_loaded, o.rows_quarantined) == ("loaded", 28, 2)
    got = landing.query("SELECT row_number, reason_code, raw FROM audit.quarantine ORDER BY 1")
    assert [(r, c) for r, c, _ in got] == [(2, "NUL_BYTE"), (31, "NUL_BYTE")]
    assert json.loads(got[0][2])["姓名"] == "张␀三"
    assert landing.query("SELECT count(*) FROM raw.wj_deaths WHERE contains(姓名, chr(0))") == [(0,)]


def test_a_binary_file_is_not_readable(landing):
    landing.write("wj_deaths", "d_20261101.csv", b"\x00\x01\x02\x03" * 3000)
    assert outcomes(landing.ingest("wj_deaths")) == {"d_20261101.csv": ("rejected", "NOT_READABLE")}


@pytest.mark.parametrize("limit, text", [("max_file_bytes", "文件大小"), ("max_line_bytes", "一行长")])
def test_a_file_over_the_size_limits_is_rejected_unread(landing, monkeypatch, limit, text):
    small = dataclasses.replace(load_ingest_limits(), **{limit: 200})
    monkeypatch.setattr(loader, "load_ingest_limits", lambda: small)
    landing.write("wj_deaths", "big_20261101.csv", HEADER + f"{ID1},{'张' * 100},2026-01-02\n")
    landing.write("wj_deaths", "small_20261102.csv", GOOD)
    report = landing.ingest("wj_deaths")
    assert outcomes(report) == {"big_20261101.csv": ("rejected", "TOO_LARGE"), "small_20261102.csv": ("loaded", None)}
    assert text in report.outcomes[0].reason
    assert landing.ingest("wj_deaths").outcomes == []


def test_an_id_number_in_a_file_name_is_masked_wherever_the_name_leaves_the_warehouse(landing):
    members = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居\n" + f"H1,{ID1},张三丰,户主,农村,红河,甲村\n"
    landing.write("mz_members", "m_20261101.csv", members)
    landing.ingest("mz_members")
    spaced = " ".join([ID1[:6], ID1[6:14], ID1[14:]])
    landing.write("wj_deaths", f"{ID1}_张三丰_诊断证明_20261101.csv", GOOD)
    landing.write("wj_deaths", f"{spaced} 死亡_20261102.csv", HEADER + f"{ID2},李四,2026-01-03\n")
    report = landing.ingest("wj_deaths")
    shown = sorted(o.display_name for o in report.outcomes)
    assert shown == sorted(
        [f"{ID1[:6]}********{ID1[-4:]}_张**_诊断证明_20261101.csv", f"{ID1[:6]}********{ID1[-4:]} 死亡_20261102.csv"]
    )
    assert sorted(r[0] for r in landing.query("SELECT display_name FROM audit.files WHERE feed = 'wj_deaths'")) == shown


def test_a_name_from_any_roster_file_is_masked_in_file_names(landing):
    """Names are looked up in the roster's names kept so far and in the rows of roster files loaded
    since (a warehouse from before the names were kept, or a roster load that stopped short)."""
    members = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居\n"
    landing.write("mz_members", "m_20261101.csv", members + f"H1,{ID1},张三丰,户主,农村,红河,甲村\n")
    landing.ingest("mz_members")
    landing.write("mz_members", "m_20261102.csv", members + f"H2,{ID2}, 欧阳四海 ,户主,农村,红河,甲村\n")
    landing.ingest("mz_members")
    assert sorted(r[0] for r in landing.query("SELECT name FROM staging.roster_names")) == ["张三丰", "欧阳四海"]
    with connect(landing.warehouse) as con:  # the second roster file's names not kept yet
        con.execute("DELETE FROM staging.roster_names WHERE name = '欧阳四海'")
        con.execute("UPDATE staging.roster_names_upto SET file_id = (SELECT min(file_id) FROM raw.mz_members)")
    landing.write("wj_deaths", "张三丰_欧阳四海_诊断证明_20261101.csv", GOOD)
    report = landing.ingest("wj_deaths")
    assert [o.display_name for o in report.outcomes] == ["张**_欧***_诊断证明_20261101.csv"]
