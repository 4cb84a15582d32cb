"""Freshness: a department that stops delivering is noticed — in the SQL measure, the Dagster
check on its raw feed (a warning), the scorecard and the night's summary. Judged against the
as-of date, from extract dates only: no clock, so a rerun for a past night gives the same answer."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from assets.common import NightSettings, Warehouse
from assets.quality import feed_gate, scorecards, township_feedback
from assets.raw import raw_assets
from assets.staging import staging_assets
from checks.freshness import CHECK_NAME, freshness_checks
from checks.staging_checks import quality_checks
from jiuzhu.config import load_feeds, parse_max_age
from jiuzhu.idnumber import make_id
from pipelines.nightly import print_freshness
from transform.audit.freshness import freshness
from warehouse.resource import connect

AS_OF = dt.date(2026, 11, 28)
IDS = [make_id("370725", "19700101", 100 + i) for i in range(3)]
MEMBERS = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居\n" + "".join(
    f"H{i},{pid},人{i},户主,农村,红河,甲村\n" for i, pid in enumerate(IDS)
)
DEATHS = f"身份证号,姓名,死亡日期\n{IDS[0]},人0,2026-11-20\n"
INSURANCE = "身份证号,姓名,险种,费款所属期,缴费基数\n"
SETTLEMENTS = "结算编号,身份证号,结算日期,医疗总费用,个人自付,统筹基金支付\n"


def _insurance(month: str) -> str:
    return INSURANCE + f"{IDS[1]},人1,职工养老,{month},3000\n"


def _deliver(landing) -> None:
    """wj_deaths fresh (yesterday's extract), rs_insurance stale (59 days) with a file dated after the
    as-of date waiting, yb_settlements re-sending old bytes under a new date, rs_employment sending
    header-only increments (nothing new), xf_petitions only a rejected file; the rest never deliver."""
    landing.write("mz_members", "m_20261128.csv", MEMBERS)
    landing.write("wj_deaths", "d_20261127.csv", DEATHS)
    landing.write("rs_insurance", "社保_20260930.csv", _insurance("202608"))
    landing.write("rs_insurance", "社保_20261205.csv", _insurance("202610"))  # after the as-of date
    same = SETTLEMENTS + f"S1,{IDS[2]},2026-11-19,100,100,0\n"
    landing.write("yb_settlements", "yb_20261120.csv", same)
    landing.write("yb_settlements", "yb_20261128.csv", same)  # the same bytes again: a duplicate
    landing.write("rs_employment", "e_20261128.csv", "登记编号,身份证号,姓名,登记类别,登记日期\n")
    landing.write("xf_petitions", "x_20261128.csv", "")  # rejected: EMPTY


def _measure(landing, as_of: dt.date) -> dict:
    with connect(landing.warehouse, read_only=True) as con:
        return {f.feed: f for f in freshness(con, as_of)}


def test_the_spec_holds_each_feeds_max_age():
    feeds = load_feeds()
    daily = [f for f in feeds.values() if f.cadence_days == 1]
    assert daily and all(f.max_age_hours == 36 and f.max_age_days == 1 for f in daily)
    assert feeds["rs_insurance"].max_age_days == 40 and feeds["rs_insurance"].max_age_text == ("40天", "40 days")
    assert feeds["mz_members"].max_age_text == ("36小时", "36 hours")
    assert parse_max_age("x", "36h") == 36 and parse_max_age("x", "40d") == 960
    for bad in ("36", None, "0d", "3w"):
        with pytest.raises(ValueError, match="max_age"):
            parse_max_age("x", bad)


def test_freshness_per_feed_at_the_as_of_date(landing):
    _deliver(landing)
    for feed in load_feeds():
        landing.ingest(feed, as_of=AS_OF)
    m = _measure(landing, AS_OF)
    assert list(m) == list(load_feeds())  # every feed of the spec, in spec order

    deaths = m["wj_deaths"]
    assert (deaths.last_delivered, deaths.last_loaded, deaths.age_days, deaths.max_age_days) == (
        dt.date(2026, 11, 27),
        dt.date(2026, 11, 27),
        1,
        1,
    )
    assert deaths.fresh and deaths.state == "fresh" and deaths.label_zh == "按时"
    assert deaths.message_en == "last extract 2026-11-27, 1 day ago (expected within 36 hours)"

    insurance = m["rs_insurance"]
    assert not insurance.fresh and insurance.state == "stale" and insurance.label_zh == "逾期"
    assert (insurance.last_loaded, insurance.age_days, insurance.max_age_days) == (dt.date(2026, 9, 30), 59, 40)
    assert insurance.message_en == "last extract 2026-09-30, 59 days ago (expected within 40 days)"
    assert insurance.message_zh == "最近提取日期 2026-09-30，距今 59 天（应在40天内）"

    # a re-sent copy shows the department is sending, but brings nothing newer than the original
    settlements = m["yb_settlements"]
    assert (settlements.last_delivered, settlements.last_loaded, settlements.age_days) == (
        AS_OF,
        dt.date(2026, 11, 20),
        8,
    )
    assert not settlements.fresh and "rejected or duplicates" in settlements.message_en

    assert m["rs_employment"].fresh  # a header-only increment: delivered, nothing new that day

    petitions = m["xf_petitions"]  # delivered, but nothing usable
    assert (petitions.state, petitions.last_delivered, petitions.last_loaded, petitions.fresh) == (
        "never_loaded",
        AS_OF,
        None,
        False,
    )
    assert petitions.label_zh == "无可用文件"

    never = m["wj_diagnoses"]
    assert (never.state, never.last_delivered, never.last_loaded, never.age_days, never.fresh) == (
        "never_delivered",
        None,
        None,
        None,
        False,
    )
    assert never.label_zh == "从未报送" and never.message_en.startswith("never delivered")


def test_36_hours_is_yesterdays_extract_at_the_latest(landing):
    landing.write("wj_deaths", "d_20261127.csv", DEATHS)
    landing.ingest("wj_deaths", as_of=AS_OF)
    by_day = {d: _measure(landing, dt.date(2026, 11, d))["wj_deaths"] for d in (27, 28, 29)}
    assert [by_day[d].age_days for d in (27, 28, 29)] == [0, 1, 2]
    assert [by_day[d].fresh for d in (27, 28, 29)] == [True, True, False]  # 0 h, 24 h ≤ 36 h; 48 h is late


def test_a_file_dated_after_the_as_of_date_does_not_make_a_past_night_fresh(landing):
    landing.write("rs_insurance", "社保_20260930.csv", _insurance("202608"))
    landing.write("rs_insurance", "社保_20261205.csv", _insurance("202610"))
    landing.ingest("rs_insurance", as_of=dt.date(2026, 12, 5))  # a later night loaded both
    assert _measure(landing, dt.date(2026, 12, 5))["rs_insurance"].fresh
    past = _measure(landing, AS_OF)["rs_insurance"]  # a rerun for 2026-11-28 sees only what was dated by then
    assert not past.fresh and past.last_loaded == past.last_delivered == dt.date(2026, 9, 30)
    before_any = _measure(landing, dt.date(2026, 9, 29))["rs_insurance"]
    assert before_any.state == "never_delivered"


def test_the_night_warns_scores_and_reports_stale_feeds(landing, capsys):
    _deliver(landing)
    result = dg.materialize(
        [*raw_assets, *staging_assets, township_feedback, feed_gate, scorecards, *quality_checks, *freshness_checks],
        resources={
            "warehouse": Warehouse(home=str(landing.warehouse.parent)),
            "night": NightSettings(landing=str(landing.root)),
        },
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=AS_OF.isoformat(),
        raise_on_error=False,
    )
    assert result.success  # late departments warn; they do not stop the night

    checks = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_NAME}
    assert set(checks) == set(load_feeds())
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in checks.values())
    assert checks["wj_deaths"].passed and checks["mz_members"].passed and checks["rs_employment"].passed
    stale = checks["rs_insurance"]
    assert not stale.passed
    meta = {k: v.value for k, v in stale.metadata.items()}
    assert meta["last_extract_date"] == "2026-09-30" and meta["age_days"] == 59 and meta["max_age_days"] == 40
    assert meta["allowed_age"] == "40天 / 40 days" and meta["as_of"] == "2026-11-28"
    never = checks["wj_diagnoses"]
    assert not never.passed and never.metadata["last_extract_date"].value == "—"
    assert "age_days" not in never.metadata and "从未报送" in never.metadata["message"].value
    text = " ".join(str(v.value) for e in checks.values() for v in e.metadata.values())
    assert not any(pid in text for pid in IDS) and "人0" not in text  # dates and counts only

    card = {
        r[0]: r[1:]
        for r in landing.query(
            """SELECT feed, extract_date, last_delivered, age_days, max_age_days, fresh, on_time, freshness_note
               FROM audit.scorecards WHERE as_of_date = ?""",
            [AS_OF],
        )
    }
    assert card["wj_deaths"][:6] == (dt.date(2026, 11, 27), dt.date(2026, 11, 27), 1, 1, True, "按时")
    assert card["rs_insurance"][:6] == (dt.date(2026, 9, 30), dt.date(2026, 9, 30), 59, 40, False, "逾期")
    assert card["rs_insurance"][6] == "最近提取日期 2026-09-30，距今 59 天（应在40天内）"
    assert card["wj_diagnoses"][:6] == (None, None, None, 1, False, "从未报送")
    assert card["xf_petitions"][4:6] == (False, "无可用文件")
    ui = result.asset_materializations_for_node("audit__scorecards")[0].metadata
    assert "是否按时" in ui["scorecard"].value and "rs_insurance" in ui["stale_feeds"].value

    capsys.readouterr()
    with connect(landing.warehouse, read_only=True) as con:
        print_freshness(con, AS_OF)
    lines = capsys.readouterr().out.splitlines()
    assert "逾期 STALE rs_insurance — last extract 2026-09-30, 59 days ago (expected within 40 days)" in lines
    assert any(line.startswith("逾期 STALE wj_diagnoses — never delivered") for line in lines)
    assert not any(" wj_deaths " in line or " mz_members " in line for line in lines)
    assert len(lines) == sum(not f.fresh for f in _measure(landing, AS_OF).values())
