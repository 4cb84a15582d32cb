"""A county that connects tonight with one bulk delivery of its history (issue 15, cold start): the
month ends before its first roster are rebuilt from the records' own dates, and the first night
trains a model on them, whose card says so."""

from __future__ import annotations

import datetime as dt

import pytest

from jiuzhu.config import load_policy
from jiuzhu.idnumber import make_id
from pipelines.cli import main
from transform.core.build import build_features
from warehouse.person_key import install, load_key
from warehouse.resource import connect

TONIGHT = dt.date(2026, 11, 28)
HEAD = make_id("370725", "19700101", 11)
WIFE = make_id("370725", "19720202", 22)
BABY = make_id("370725", "20260501", 44)  # born in May
GRANDPA = make_id("370725", "19400404", 55)  # died in March; today's roster has not yet dropped him
MEMBERS = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居,劳动能力\n"
SETTLEMENTS = (
    "结算编号,身份证号,姓名,结算日期,就诊类别,医疗总费用,统筹基金支付,大病保险支付,医疗救助支付,个人自付,原结算编号\n"
)


@pytest.fixture
def bulk(landing):
    """Everything extracted today: the roster and assistance snapshots, and each feed's history."""
    day = TONIGHT.strftime("%Y%m%d")
    landing.write(
        "mz_members",
        f"m_{day}.csv",
        MEMBERS
        + f"H1,{HEAD},张三,户主,农业,红河,甲村,完全\nH1,{WIFE},李四,配偶,农业,红河,甲村,完全\n"
        + f"H1,{BABY},张小,子女,农业,红河,甲村,无\nH1,{GRANDPA},张老,父母,农业,红河,甲村,无\n",
    )
    landing.write("wj_deaths", f"d_{day}.csv", f"身份证号,姓名,死亡日期\n{GRANDPA},张老,2026-03-10\n")
    landing.write(
        "yb_settlements",
        f"yb_{day}.csv",
        SETTLEMENTS
        + f"S1,{HEAD},张三,2026-02-20,住院,9000,4000,0,0,5000,\n"
        + f"S2,{HEAD},张三,2026-02-28,住院,9000,2000,0,0,7000,\n"  # delivered the next day: not known on the 28th
        + f"S3,{HEAD},张三,2026-06-01,住院,12000,3000,0,0,9000,\n",
    )
    landing.write(
        "mz_assistance",
        f"a_{day}.csv",
        "户编号,身份证号,姓名,救助类别,开始日期,终止日期,月保障金额,状态\n"
        f"H1,{HEAD},张三,农村低保,2026-01-01,2026-06-30,400,终止\n",
    )
    landing.write(
        "rs_employment",
        f"e_{day}.csv",
        f"登记编号,身份证号,姓名,登记类别,登记日期,注销日期\nE1,{HEAD},张三,失业登记,2026-01-15,2026-04-01\n",
    )
    landing.night(TONIGHT)
    return landing


def rebuilt(landing, month_end: dt.date) -> dict:
    """H1's features on ``month_end``, rebuilt from what was delivered today."""
    with connect(landing.warehouse) as con:
        install(con, load_key(landing.warehouse.parent))
        build_features(con, month_end, load_policy(month_end), "train_core", "train_restricted", known_on=TONIGHT)
        cur = con.execute("SELECT * FROM train_core.household_features WHERE household_id = 'H1'")
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchall()[0]))


def test_a_month_end_before_the_roster_knows_only_what_the_records_dates_allow(bulk):
    february = rebuilt(bulk, dt.date(2026, 2, 28))
    # the baby is not born yet, the grandfather not yet dead; 低保 in force, unemployment registered
    assert february["members"] == 3 and february["elderly"] == 1
    assert float(february["oop_3m"]) == 5000.0  # S2 of the 28th reached the bureau the next day
    assert february["on_dibao"] == 1 and february["able_unemployed"] == 1

    april = rebuilt(bulk, dt.date(2026, 4, 30))
    assert april["members"] == 2 and april["elderly"] == 0  # he died on 10 March
    assert april["on_dibao"] == 1 and april["able_unemployed"] == 0  # deregistered on 1 April

    july = rebuilt(bulk, dt.date(2026, 7, 31))
    assert july["members"] == 3  # the baby, born in May
    assert july["on_dibao"] == 0 and float(july["oop_3m"]) == 9000.0  # 低保 ended in June; S3 of June


@pytest.mark.slow  # a county generated in bulk and its first night, with training
def test_the_first_night_of_a_bulk_county_trains_a_model_and_its_card_says_how(tmp_path):
    county, home = tmp_path / "county", tmp_path / "home"
    assert (
        main(["synth", "--out", str(county), "--households", "1500", "--as-of", str(TONIGHT), "--bulk", "--quiet"]) == 0
    )
    assert main(["run", "--landing", str(county / "landing"), "--home", str(home), "--as-of", str(TONIGHT)]) == 0
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        delivered = con.execute("SELECT DISTINCT extract_date FROM audit.files WHERE status = 'loaded'").fetchall()
        assert delivered == [(TONIGHT,)]  # one delivery, tonight's
        kept = dict(con.execute("SELECT kept_by, count(*) FROM model.feature_history_nights GROUP BY 1").fetchall())
        scored = con.execute("SELECT count(*) FROM monitoring.household_scores").fetchall()[0][0]
    assert kept.get("reconstructed", 0) >= 10 and set(kept) == {"reconstructed"}
    assert scored > 1000  # a model in force on the first night: M01 is not silent
    card = (home / "exports" / str(TONIGHT) / "model_card.md").read_text(encoding="utf-8")
    assert "训练历史为重建" in card and "可能的偏差" in card


def test_training_rebuilds_the_months_before_the_roster_until_a_year_of_real_ones(tmp_path):
    """The month ends before the first roster count while fewer than REAL_MONTHS_ENOUGH month ends had a
    roster in force; then training uses those alone."""
    from transform.model.training import REAL_MONTHS_ENOUGH, training_dates

    with connect(tmp_path / "warehouse.duckdb") as con:
        con.execute(
            """CREATE TABLE staging.yb_settlements AS
               SELECT DATE '2024-12-01' AS settlement_date, DATE '2026-11-28' AS extract_date"""
        )
        # the townships' first answers come after the delivery: they say nothing of how far back it reaches
        con.execute(
            """CREATE TABLE staging.zj_feedback AS SELECT DATE '2026-12-05' AS check_date, DATE '2026-12-06' AS extract_date"""
        )
        con.execute(
            """INSERT INTO audit.files (file_id, feed, file_name, sha256, extract_date, status, rows_read, ingested_at)
               VALUES (1, 'mz_members', 'm.csv', 'a', DATE '2026-11-28', 'loaded', 3, now()::TIMESTAMP),
                      (2, 'yb_settlements', 'y.csv', 'b', DATE '2026-11-28', 'loaded', 1, now()::TIMESTAMP),
                      (3, 'zj_feedback', 'f.xlsx', 'c', DATE '2026-12-06', 'loaded', 1, now()::TIMESTAMP)"""
        )
        first_night = training_dates(con, TONIGHT)
        assert first_night[0] == dt.date(2025, 6, 30) and first_night[-1] == dt.date(2026, 4, 30)  # all rebuilt
        half_a_year_on = training_dates(con, dt.date(2027, 11, 30))
        assert half_a_year_on[0] == dt.date(2025, 6, 30) and half_a_year_on[-1] == dt.date(2027, 4, 30)
        later = training_dates(con, dt.date(2028, 11, 30))
        assert len(later) == REAL_MONTHS_ENOUGH + 6 and min(later) == dt.date(2026, 11, 30)  # real ones alone


def test_a_county_delivered_month_by_month_trains_from_six_months_after_its_first_file(tmp_path):
    # records dated the day before their file: nothing is rebuilt, and no month end has under six
    # months of history behind it
    from transform.model.training import training_dates

    with connect(tmp_path / "warehouse.duckdb") as con:
        con.execute(
            """CREATE TABLE staging.yb_settlements AS
               SELECT DATE '2024-12-31' AS settlement_date, DATE '2025-01-01' AS extract_date"""
        )
        con.execute(
            """INSERT INTO audit.files (file_id, feed, file_name, sha256, extract_date, status, rows_read, ingested_at)
               VALUES (1, 'mz_members', 'm.csv', 'a', DATE '2025-01-01', 'loaded', 3, now()::TIMESTAMP),
                      (2, 'yb_settlements', 'y.csv', 'b', DATE '2025-01-01', 'loaded', 1, now()::TIMESTAMP)"""
        )
        assert training_dates(con, TONIGHT)[0] == dt.date(2025, 7, 31)
