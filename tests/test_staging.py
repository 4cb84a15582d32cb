"""Standardisation into staging.<feed>: every quarantine reason, every mapping, currency
(later extract wins, snapshot in force, files after the as-of date), reversals linked,
and the accounting invariant from file to staging."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from jiuzhu.config import load_feeds
from jiuzhu.idnumber import make_id, to_15
from transform.staging.build import build_staging
from warehouse.resource import connect

AS_OF = dt.date(2026, 11, 28)
ID1 = make_id("370725", "19800101", 123)
ID2 = make_id("370725", "19650302", 244)
ID3 = make_id("370702", "20010715", 31)
BAD_CHECK = ID1[:17] + ("0" if ID1[17] != "0" else "1")


def stage(landing, feed: str, as_of: dt.date = AS_OF):
    landing.ingest(feed, as_of=as_of)
    with connect(landing.warehouse) as con:
        return build_staging(con, load_feeds()[feed], as_of, run_id="test")


def quarantined(landing, feed: str) -> dict[int, str]:
    rows = landing.query(
        "SELECT row_number, reason_code FROM audit.quarantine WHERE stage = 'staging' AND feed = ?", [feed]
    )
    return dict(rows)


SETTLEMENT_HEADER = "结算编号,身份证号,姓名,结算日期,就诊类别,医疗总费用,统筹基金支付,大病保险支付,医疗救助支付,个人自付,定点机构,原结算编号\n"


def test_each_unusable_value_is_quarantined_with_its_own_reason(landing):
    rows = [
        f"JS1,{ID1},张三,2026-01-02,住院,100,60,0,0,40,医院,",  # 2 fine
        f"JS2,{BAD_CHECK},李四,2026-01-02,住院,100,60,0,0,40,医院,",  # 3 ID_CHECKSUM
        "JS3,3.70725E+17,王五,2026-01-02,住院,100,60,0,0,40,医院,",  # 4 ID_PRECISION_LOST
        f"JS4,{make_id('370725', '19801301', 5)},赵六,2026-01-02,住院,100,60,0,0,40,医院,",  # 5 ID_BIRTHDATE
        "JS5,,钱七,2026-01-02,住院,100,60,0,0,40,医院,",  # 6 REQUIRED_MISSING
        f"JS6,{ID2},孙八,2026-13-45,住院,100,60,0,0,40,医院,",  # 7 DATE_INVALID
        f"JS7,{ID2},周九,2027-01-01,住院,100,60,0,0,40,医院,",  # 8 DATE_IMPOSSIBLE (after the extract)
        f"JS8,{ID2},吴十,2026-01-02,急诊,100,60,0,0,40,医院,",  # 9 ENUM_INVALID
        f"JS9,{ID2},郑一,2026-01-02,住院,一百,60,0,0,40,医院,",  # 10 MONEY_INVALID
        f"JS10,{ID2},冯二,2026-01-02,住院,100,60,0,0,30,医院,",  # 11 AMOUNT_MISMATCH
        f"JS11,{ID2},陈三,2026-01-02,住院,-100,-60,0,0,-40,医院,",  # 12 AMOUNT_NEGATIVE (not a reversal)
        f"JS12,{ID2},褚四,2026-01-03,住院,-100,-60,0,0,-40,医院,JS1",  # 13 a reversal: fine
    ]
    landing.write("yb_settlements", "yb_20261101.csv", SETTLEMENT_HEADER + "\n".join(rows) + "\n")
    report = stage(landing, "yb_settlements")
    assert quarantined(landing, "yb_settlements") == {
        3: "ID_CHECKSUM",
        4: "ID_PRECISION_LOST",
        5: "ID_BIRTHDATE",
        6: "REQUIRED_MISSING",
        7: "DATE_INVALID",
        8: "DATE_IMPOSSIBLE",
        9: "ENUM_INVALID",
        10: "MONEY_INVALID",
        11: "AMOUNT_MISMATCH",
        12: "AMOUNT_NEGATIVE",
    }
    assert report.rows == 2 and report.quarantined == 10
    # the reason names the column, never the value; the original values are kept
    reason, raw = landing.query("SELECT reason, raw FROM audit.quarantine WHERE row_number = 3")[0]
    assert "身份证号" in reason and BAD_CHECK not in reason
    assert json.loads(raw)["身份证号"] == BAD_CHECK
    # the reversal is kept and linked to the settlement it cancels
    assert landing.query("SELECT settlement_id, reversed_by FROM staging.yb_settlements ORDER BY 1") == [
        ("JS1", "JS12"),
        ("JS12", None),
    ]


def test_ids_normalise_and_enumerations_and_townships_map(landing):
    header = "户编号,公民身份号码,姓名,与户主关系,城乡类别,乡镇(街道),村(社区),劳动能力,残疾等级,在校情况\n"
    rows = [
        f"H1,{to_15(ID1)},张三,户主,农业,唐吾镇,东村,有劳动能力,1,非在校",
        f"H1,'{ID2.lower()},李四,配偶,农业,宝城,东村,丧失劳动能力,四级,",
        f"H2,{' '.join(ID3)},王五,户主,非农业,开发区,西区,部分,,本科",
    ]
    landing.write("mz_members", "m_20261101.csv", "\n".join([header.rstrip("\n"), *rows]) + "\n")
    stage(landing, "mz_members")
    got = landing.query(
        """SELECT id_number, residence_type, township_code, township_name, township_note, work_ability,
                  disability_grade, school_stage FROM staging.mz_members ORDER BY source_row"""
    )
    assert got[0] == (ID1, "农村", "370725108", "鄌郚镇", None, "完全", "一级", "非在校")
    assert got[1] == (ID2, "农村", "370725002", "宝城街道", None, "无", "四级", None)
    assert got[2][:4] == (ID3, "城镇", "370725000", "县社会救助综合服务中心")
    assert "开发区" in got[2][4]  # the reason for the fallback is kept


def test_later_extract_wins_and_files_after_the_as_of_date_change_nothing(landing):
    header = "身份证号,姓名,死亡日期\n"
    landing.write("wj_deaths", "d_20261101.csv", header + f"{ID1},张三,2026-10-01\n{ID2},李四,2026-10-02\n")
    landing.write("wj_deaths", "d_20261110.csv", header + f"{ID1},张三,2026-10-03\n")  # a correction
    landing.write("wj_deaths", "d_20261201.csv", header + f"{ID1},张三,2026-10-04\n")  # after the as-of date
    stage(landing, "wj_deaths")
    current = landing.query("SELECT id_number, death_date FROM staging.wj_deaths WHERE is_current ORDER BY 1")
    assert dict(current) == {ID1: dt.date(2026, 10, 3), ID2: dt.date(2026, 10, 2)}
    assert landing.query("SELECT count(*) FROM staging.wj_deaths") == [(3,)]  # history kept


def test_snapshot_in_force_is_the_newest_on_or_before_the_date_with_its_supplement(landing):
    header = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居\n"
    landing.write(
        "mz_members",
        "m_20261020.csv",
        header + f"H1,{ID1},张三,户主,农村,红河,甲村\nH2,{ID2},李四,户主,农村,红河,乙村\n",
    )
    landing.write("mz_members", "m_20261101.csv", header + f"H1,{ID1},张三,户主,农村,红河,甲村\n")
    landing.write("mz_members", "m_20261101_补录.csv", header + f"H3,{ID3},王五,户主,城镇,宝都,丙社区\n")
    landing.write("mz_members", "m_20261201.csv", header + f"H9,{ID2},李四,户主,农村,红河,乙村\n")
    report = stage(landing, "mz_members")
    assert report.in_force == dt.date(2026, 11, 1)
    assert landing.query("SELECT household_id FROM staging.mz_members WHERE is_current ORDER BY 1") == [
        ("H1",),
        ("H3",),
    ]
    with connect(landing.warehouse) as con:  # an earlier night sees the earlier snapshot
        build_staging(con, load_feeds()["mz_members"], dt.date(2026, 10, 31))
    assert landing.query("SELECT household_id FROM staging.mz_members WHERE is_current ORDER BY 1") == [
        ("H1",),
        ("H2",),
    ]


def test_a_duplicated_key_in_one_extract_keeps_the_last_row_and_quarantines_the_others(landing):
    header = "身份证号,姓名,死亡日期\n"
    body = f"{ID1},张三,2026-10-01\n{ID2},李四,2026-10-03\n{ID1},张三,2026-10-02\n{ID2},李四,2026-10-03\n"
    landing.write("wj_deaths", "d_20261101.csv", header + body)
    report = stage(landing, "wj_deaths")
    # the last row of each key stands; every row is in staging or the quarantine, once
    assert landing.query("SELECT source_row, death_date FROM staging.wj_deaths ORDER BY 1") == [
        (4, dt.date(2026, 10, 2)),
        (5, dt.date(2026, 10, 3)),
    ]
    # a key again with other values is a conflict; the same row again (re-sent) is only a copy
    assert quarantined(landing, "wj_deaths") == {2: "DUPLICATE_KEY", 3: "DUPLICATE_ROW"}
    reasons = dict(landing.query("SELECT row_number, reason FROM audit.quarantine WHERE feed = 'wj_deaths'"))
    assert "本文件第 4 行为准（内容不同）" in reasons[2] and "本文件第 5 行为准（内容相同）" in reasons[3]
    assert report.quarantined == 2


@pytest.mark.parametrize("feed", sorted(load_feeds()))
def test_every_feed_stages_from_an_empty_raw_table(landing, feed):
    report = stage(landing, feed)
    assert (report.rows, report.quarantined) == (0, 0)


def test_months_and_whole_numbers_in_every_form_and_their_reasons(landing):
    header = "身份证号,姓名,险种,费款所属期,缴费基数,待遇类别,待遇金额\n"
    rows = [
        f'{ID1},张三,职工养老,202610,"3,000.00",无,0',  # 2
        f"{ID1},张三,职工养老,2026-09,3000元,无,",  # 3
        f"{ID1},张三,职工养老,2026年8月,３０００,无,",  # 4
        f"{ID1},张三,职工养老,2026-13,3000,无,",  # 5 MONTH_INVALID
        f"{ID1},张三,职工养老,202612,3000,无,",  # 6 DATE_IMPOSSIBLE: a month after the extract
    ]
    landing.write("rs_insurance", "rs_20261110.csv", header + "\n".join(rows) + "\n")
    stage(landing, "rs_insurance")
    assert quarantined(landing, "rs_insurance") == {5: "MONTH_INVALID", 6: "DATE_IMPOSSIBLE"}
    months = landing.query("SELECT contribution_month, contribution_base FROM staging.rs_insurance ORDER BY source_row")
    assert [m for m, _ in months] == [dt.date(2026, 10, 1), dt.date(2026, 9, 1), dt.date(2026, 8, 1)]
    assert {float(b) for _, b in months} == {3000.0}

    header = "核对编号,户编号,核对日期,家庭人口,家庭年收入,核对结论\n"
    landing.write(
        "mz_verification",
        "v_20261110.csv",
        header + "K1,H1,2026-11-01,3人,24000,符合\nK2,H2,2026-11-01,三口,24000,符合\n",
    )
    stage(landing, "mz_verification")
    assert quarantined(landing, "mz_verification") == {3: "INT_INVALID"}
    assert landing.query("SELECT household_size FROM staging.mz_verification") == [(3,)]
