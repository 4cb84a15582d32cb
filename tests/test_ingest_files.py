"""Each kind of mess of FEEDS.md, at the raw layer: the right rows loaded with the
row numbers a person sees, whole-file problems rejected with a reason, nothing lost."""

from __future__ import annotations

import datetime as dt
import json

import xlsxwriter

from jiuzhu.idnumber import make_id

ID1 = make_id("370725", "19800101", 123)
ID2 = make_id("370725", "19650302", 244)
ID3 = make_id("370702", "20010715", 31)
DEATHS_HEADER = "身份证号,姓名,死亡日期\n"


def test_utf8_bom_and_gb18030_files_load_the_same_chinese_text(landing):
    body = DEATHS_HEADER + f"{ID1},张三,2026-01-02\n{ID2},欧阳·娜娜,2026年1月3日\n"
    landing.write("wj_deaths", "a_20261101.csv", body, "utf-8")
    landing.write("wj_deaths", "b_20261102.csv", "\ufeff" + body.replace("张三", "李四"), "utf-8")
    landing.write("wj_deaths", "c_20261103.csv", body.replace("张三", "王五"), "gb18030")
    report = landing.ingest("wj_deaths")
    assert [o.status for o in report.outcomes] == ["loaded"] * 3
    rows = landing.query(
        "SELECT source_file, source_row, 姓名, 死亡日期 FROM raw.wj_deaths ORDER BY source_file, source_row"
    )
    assert rows == [
        ("a_20261101.csv", 2, "张三", "2026-01-02"),
        ("a_20261101.csv", 3, "欧阳·娜娜", "2026年1月3日"),
        ("b_20261102.csv", 2, "李四", "2026-01-02"),
        ("b_20261102.csv", 3, "欧阳·娜娜", "2026年1月3日"),
        ("c_20261103.csv", 2, "王五", "2026-01-02"),
        ("c_20261103.csv", 3, "欧阳·娜娜", "2026年1月3日"),
    ]
    encodings = landing.query("SELECT file_name, encoding FROM audit.files ORDER BY file_name")
    assert encodings == [("a_20261101.csv", "utf-8"), ("b_20261102.csv", "utf-8-sig"), ("c_20261103.csv", "gb18030")]


def test_title_rows_aliases_shuffled_and_extra_columns(landing):
    body = (
        "昌乐县死亡登记\n制表单位：县卫健局\n"
        "备注,死亡日期,公民身份号码,姓名\n"
        f"补录,2026/1/7,{ID1},张三\n,20260108,{ID2},李四\n"
    )
    landing.write("wj_deaths", "deaths_20261101.csv", body)
    report = landing.ingest("wj_deaths")
    assert report.outcomes[0].status == "loaded" and report.outcomes[0].rows_loaded == 2
    rows = landing.query("SELECT source_row, 身份证号, 死亡日期, extra_columns FROM raw.wj_deaths ORDER BY source_row")
    assert [r[:3] for r in rows] == [(4, ID1, "2026/1/7"), (5, ID2, "20260108")]
    assert json.loads(rows[0][3]) == {"备注": "补录"}
    assert landing.query("SELECT header_row FROM audit.files") == [(3,)]


def test_ragged_rows_are_quarantined_with_their_line_and_the_rest_load(landing):
    body = (
        DEATHS_HEADER
        + f"{ID1},张三,2026-01-02\n"
        + f"{ID2},李四\n"  # line 3: a field missing
        + "\n"  # line 4: blank, not a data row
        + f'{ID3},"王\n五",2026-01-04\n'  # lines 5-6: a quoted value over two lines
        + f"{ID1},赵六,2026-01-05,多余\n"  # line 7: one field too many
        + f"{ID2},钱七,2026-01-06\n"  # line 8
        + "合计,4,\n"  # a total row, not data
    )
    landing.write("wj_deaths", "deaths_20261101.csv", body)
    o = landing.ingest("wj_deaths").outcomes[0]
    assert (o.status, o.rows_read, o.rows_loaded, o.rows_quarantined) == ("loaded", 5, 3, 2)
    assert landing.query("SELECT source_row FROM raw.wj_deaths ORDER BY 1") == [(2,), (5,), (8,)]
    quarantined = landing.query("SELECT row_number, reason_code, raw FROM audit.quarantine ORDER BY row_number")
    assert [(r[0], r[1]) for r in quarantined] == [(3, "FIELD_COUNT"), (7, "FIELD_COUNT")]
    assert json.loads(quarantined[0][2]) == {"原始行": f"{ID2},李四"}


def test_crlf_line_endings_keep_line_numbers(landing):
    body = (DEATHS_HEADER + f"{ID1},张三,2026-01-02\n\n{ID2},李四,2026-01-03\n").replace("\n", "\r\n")
    landing.write("wj_deaths", "deaths_20261101.csv", body)
    landing.ingest("wj_deaths")
    assert landing.query("SELECT source_row, 姓名 FROM raw.wj_deaths ORDER BY 1") == [(2, "张三"), (4, "李四")]


def _workbook(path, sheets):
    wb = xlsxwriter.Workbook(str(path))
    for name, rows in sheets:
        ws = wb.add_worksheet(name)
        for r, values in rows:
            ws.write_row(r, 0, values)
    wb.close()


def test_xlsx_with_title_rows_blank_rows_total_row_and_several_sheets(landing, tmp_path):
    path = landing.root / "wj_deaths" / "死亡登记_20261101.xlsx"
    path.parent.mkdir(parents=True)
    _workbook(
        path,
        [
            ("说明", [(0, ["本表由县卫健局提供"])]),
            (
                "数据",
                [
                    (0, ["昌乐县2026年11月死亡登记"]),
                    (1, ["制表单位：县卫健局"]),
                    (3, ["身份证号", "姓名", "死亡日期"]),
                    (4, [ID1, "张三", "2026-01-02"]),
                    (6, [float(ID2[:17] + "0"), "李四", 46024]),  # an 18-digit ID stored as a number
                    (7, [float(ID1[:6] + ID1[8:17]), "王五", "2026.01.03"]),  # a 15-digit ID as a number
                    (8, ["合计", "3", ""]),
                ],
            ),
        ],
    )
    o = landing.ingest("wj_deaths").outcomes[0]
    assert (o.status, o.rows_read, o.rows_loaded) == ("loaded", 3, 3)
    rows = landing.query("SELECT source_row, 身份证号, 死亡日期 FROM raw.wj_deaths ORDER BY 1")
    assert [r[0] for r in rows] == [5, 7, 8]  # Excel row numbers, title rows counted
    assert rows[0][1] == ID1
    assert "e+17" in rows[1][1]  # digits already lost in Excel: visible as such, not a made-up ID
    assert rows[1][2] == "46024"  # an Excel serial date, kept as delivered
    assert rows[2][1] == ID1[:6] + ID1[8:17]  # 15 digits survive as a number
    assert landing.query("SELECT sheet, header_row, format FROM audit.files") == [("数据", 4, "xlsx")]


def test_whole_file_problems_are_rejected_with_reasons_and_the_feed_goes_on(landing, tmp_path):
    good = DEATHS_HEADER + f"{ID1},张三,2026-01-02\n"
    landing.write("wj_deaths", "good_20261101.csv", good)
    landing.write("wj_deaths", "good_again_20261102.csv", good)  # same bytes, other name
    landing.write("wj_deaths", "empty_20261103.csv", b"")
    landing.write("wj_deaths", "header_only_20261104.csv", DEATHS_HEADER)
    landing.write("wj_deaths", "truncated_20261105.csv", DEATHS_HEADER + f"{ID1},张三,2026-01-02\n{ID2},李")
    landing.write("wj_deaths", "no_date_col_20261106.csv", f"身份证号,姓名\n{ID1},张三\n")
    landing.write("wj_deaths", "web_page_20261107.xlsx", "<html><body>503 Service Unavailable</body></html>")
    landing.write("wj_deaths", "broken_20261108.xlsx", b"PK\x03\x04 this is not really a zip file")
    landing.write("wj_deaths", "deaths_without_a_date.csv", good.replace("张三", "李四"))
    report = landing.ingest("wj_deaths")
    got = {o.file_name: (o.status, o.reason_code) for o in report.outcomes}
    assert got == {
        "good_20261101.csv": ("loaded", None),
        "good_again_20261102.csv": ("duplicate", "DUPLICATE"),
        "empty_20261103.csv": ("rejected", "EMPTY"),
        "header_only_20261104.csv": ("loaded", "HEADER_ONLY"),  # an increment with nothing new
        "truncated_20261105.csv": ("loaded", None),  # its cut-off last row is quarantined
        "no_date_col_20261106.csv": ("rejected", "MISSING_REQUIRED"),
        "web_page_20261107.xlsx": ("rejected", "NOT_READABLE"),
        "broken_20261108.xlsx": ("rejected", "CORRUPT"),
        "deaths_without_a_date.csv": ("rejected", "NO_DATE"),
    }
    reasons = dict(landing.query("SELECT file_name, reason FROM audit.files"))
    assert "死亡日期" in reasons["no_date_col_20261106.csv"]
    assert "good_20261101.csv" in reasons["good_again_20261102.csv"]
    assert landing.query("SELECT file_name, row_number, reason_code FROM audit.quarantine") == [
        ("truncated_20261105.csv", 3, "TRUNCATED_ROW")
    ]
    # nothing of a rejected or duplicate file reaches the warehouse, and no reason quotes personal data
    assert landing.query("SELECT source_file FROM raw.wj_deaths ORDER BY 1") == [
        ("good_20261101.csv",),
        ("truncated_20261105.csv",),
    ]
    assert not any(ID1 in (r or "") or "张三" in (r or "") for r in reasons.values())


def test_workbook_delivered_under_a_csv_name_is_read_by_content(landing):
    path = landing.root / "wj_deaths" / "deaths_20261101.csv"
    path.parent.mkdir(parents=True)
    _workbook(path, [("Sheet1", [(0, ["身份证号", "姓名", "死亡日期"]), (1, [ID1, "张三", "2026-01-02"])])])
    o = landing.ingest("wj_deaths").outcomes[0]
    assert (o.status, o.rows_loaded) == ("loaded", 1)
    assert "xlsx" in o.reason
    assert landing.query("SELECT format FROM audit.files") == [("xlsx",)]


def test_files_after_the_as_of_date_wait_and_a_second_run_changes_nothing(landing):
    landing.write("wj_deaths", "d_20261101.csv", DEATHS_HEADER + f"{ID1},张三,2026-01-02\n")
    landing.write("wj_deaths", "d_20261201.csv", DEATHS_HEADER + f"{ID2},李四,2026-11-30\n")
    first = landing.ingest("wj_deaths", as_of=dt.date(2026, 11, 28))
    assert [o.file_name for o in first.outcomes] == ["d_20261101.csv"] and first.later_files == 1
    before = landing.query("SELECT * EXCLUDE (ingested_at) FROM audit.files")
    again = landing.ingest("wj_deaths", as_of=dt.date(2026, 11, 28))
    assert again.outcomes == []
    assert landing.query("SELECT * EXCLUDE (ingested_at) FROM audit.files") == before
    assert landing.query("SELECT count(*) FROM raw.wj_deaths") == [(1,)]
    later = landing.ingest("wj_deaths", as_of=dt.date(2026, 12, 1))
    assert [o.file_name for o in later.outcomes] == ["d_20261201.csv"]


def test_a_corrected_file_under_the_same_name_is_a_new_delivery(landing):
    landing.write("wj_deaths", "d_20261101.csv", DEATHS_HEADER + f"{ID1},张三,2026-01-02\n")
    landing.ingest("wj_deaths")
    landing.write("wj_deaths", "d_20261101.csv", DEATHS_HEADER + f"{ID1},张三,2026-01-03\n")
    o = landing.ingest("wj_deaths").outcomes[0]
    assert o.status == "loaded"
    assert landing.query("SELECT 死亡日期 FROM raw.wj_deaths ORDER BY file_id") == [("2026-01-02",), ("2026-01-03",)]


def test_every_loaded_file_adds_up(landing):
    landing.write(
        "wj_deaths", "d_20261101.csv", DEATHS_HEADER + f"{ID1},张三,2026-01-02\n{ID2},李四\n{ID3},王五,2026-01-03\n"
    )
    landing.ingest("wj_deaths")
    ((read, loaded, quarantined),) = landing.query("SELECT rows_read, rows_loaded, rows_quarantined FROM audit.files")
    assert read == loaded + quarantined == 3
    assert landing.query("SELECT count(*) FROM raw.wj_deaths") == [(loaded,)]
    assert landing.query("SELECT count(*) FROM audit.quarantine") == [(quarantined,)]


def test_line_numbers_stay_right_with_many_irregular_records(landing):
    # 100 blank lines and 100 ragged rows: more irregularities than the CASE fast path takes
    lines, expected = [DEATHS_HEADER.rstrip("\n")], []
    for i in range(300):
        if i % 3 == 0:
            lines.append("")
        elif i % 3 == 1:
            lines.append(f"{ID1},残缺")
        else:
            lines.append(f"{ID2},人{i},2026-01-02")
            expected.append((len(lines), f"人{i}"))
    landing.write("wj_deaths", "d_20261101.csv", "\n".join(lines) + "\n")
    o = landing.ingest("wj_deaths").outcomes[0]
    assert (o.rows_loaded, o.rows_quarantined) == (100, 100)
    assert landing.query("SELECT source_row, 姓名 FROM raw.wj_deaths ORDER BY 1") == expected
    bad = landing.query("SELECT row_number FROM audit.quarantine ORDER BY 1")
    assert [r[0] for r in bad] == [n for n, text in enumerate(lines, start=1) if text.endswith("残缺")]


MEMBERS_HEADER = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居\n"


def test_a_snapshot_must_be_complete(landing):
    row = f"3707250010001,{ID1},张三,户主,农业,宝城,东村\n"
    landing.write("mz_members", "m_20261101.csv", MEMBERS_HEADER)
    landing.write("mz_members", "m_20261102.csv", MEMBERS_HEADER + row + f"3707250010002,{ID2},李")
    landing.write("mz_members", "m_20261103.csv", MEMBERS_HEADER + row)
    got = {o.file_name: (o.status, o.reason_code) for o in landing.ingest("mz_members").outcomes}
    assert got == {
        "m_20261101.csv": ("rejected", "HEADER_ONLY"),  # "nobody is on the roster" is never the truth
        "m_20261102.csv": ("rejected", "TRUNCATED"),  # a cut-off roster would silently shrink
        "m_20261103.csv": ("loaded", None),
    }
    assert landing.query("SELECT count(*) FROM audit.quarantine") == [(0,)]


def test_files_loaded_on_an_earlier_night_are_not_read_again_whichever_feed_ran_last(landing, monkeypatch):
    """Each feed's raw step remembers what it read (the fingerprints cache of the home): a feed
    ingested after another must not forget the other's files, or every night reads every file ever
    delivered again, and the nights grow with the history."""
    from ingest import files, loader
    from jiuzhu.config import load_feeds
    from warehouse.resource import connect

    cache = landing.root.parent / "state" / "landing_sha256.json"
    landing.write("wj_deaths", "d_20261101.csv", DEATHS_HEADER + f"{ID1},张三,2026-01-02\n")
    landing.write("xf_petitions", "x_20261101.csv", "不是信访事项的表\n")  # rejected: known all the same

    def ingest(feed: str) -> loader.FeedReport:  # as the raw asset does: a cache object per step
        with connect(landing.warehouse) as con:
            return loader.ingest_feed(
                con,
                load_feeds()[feed],
                landing.root,
                dt.date(2026, 11, 28),
                "test",
                fingerprints=files.Fingerprints(cache),
            )

    assert [o.status for o in ingest("wj_deaths").outcomes] == ["loaded"]
    assert [o.status for o in ingest("xf_petitions").outcomes] == ["rejected"]
    files._MEMORY.clear()  # the next night: a new process, the cache file all that is kept
    reads = []
    monkeypatch.setattr(loader, "copy_and_hash", lambda path, copy: reads.append(path))
    assert ingest("wj_deaths").outcomes == [] and ingest("xf_petitions").outcomes == []
    assert reads == []
