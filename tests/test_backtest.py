"""Each rule's record (back-test): on a handful of households over four month ends, the figures are
those counted by hand — new flags (a flag continuing from the month end before is not new),
conversion (assistance started, or a warning found 情况属实, within six months), the median lead time
to the start of assistance, and the share of entries into assistance flagged beforehand."""

from __future__ import annotations

import datetime as dt

import pytest

from jiuzhu.config import load_policy
from models.rules import Rule
from transform.monitoring import backtest as bt
from warehouse.person_key import install, load_key
from warehouse.resource import connect

D = [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30)]
AS_OF = dt.date(2026, 11, 30)  # six months after every month end
FLAGGED = {"H1": [0, 1], "H2": [1], "H3": [0, 2], "H5": [3]}  # household -> month ends where oop_12m ≥ 20,000
ENTRIES = {"H1": "2026-03-15", "H2": "2026-10-01", "H4": "2026-02-10"}  # assistance started (the member's)
VERIFIED = {"H3": "2026-04-10"}  # a township found its warning true
# the model's held-out month ends are Jan and Feb: its scores then (H1's does not count: R03 flags it)
HELD_OUT = {("H4", 0): 0.9, ("H1", 0): 0.9, ("H2", 1): 0.1}
RULE = Rule("R03", "支出型困难(医疗)", ("县民政局",), "3", (), "f.oop_12m >= 20000", {}, "''", "''", "")


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setattr(bt, "FEATURE_RULES", (RULE,))  # one rule, so that the hand count is the rule's
    home = tmp_path / "home"
    home.mkdir()
    path = home / "warehouse.duckdb"
    with connect(path) as con:
        install(con, load_key(home))
        con.execute("CREATE TABLE model.feature_history (as_of_date DATE, household_id VARCHAR, oop_12m DOUBLE)")
        con.execute("CREATE TABLE model.member_history (as_of_date DATE, household_id VARCHAR, person_key VARCHAR)")
        for d in D:
            con.execute(
                """INSERT INTO model.feature_history_nights (as_of_date, version, households, kept_by, kept_at)
                   VALUES (?, 'v', 5, 'night', now()::TIMESTAMP)""",
                [d],
            )
            for h in ["H1", "H2", "H3", "H4", "H5"]:
                oop = 25000 if D.index(d) in FLAGGED.get(h, []) else 100
                con.execute("INSERT INTO model.feature_history VALUES (?, ?, ?)", [d, h, oop])
                con.execute("INSERT INTO model.member_history VALUES (?, ?, jz_person_key(?))", [d, h, f"ID{h}"])
        con.execute(
            "CREATE TABLE staging.mz_assistance (id_number VARCHAR, start_date DATE, category VARCHAR, extract_date DATE)"
        )
        for h, start in ENTRIES.items():
            con.execute("INSERT INTO staging.mz_assistance VALUES (?, ?, '城市低保', ?)", [f"ID{h}", start, start])
        con.execute(
            """CREATE TABLE staging.zj_feedback (warning_id VARCHAR, check_date DATE, check_result VARCHAR,
                                                 is_current BOOLEAN)"""
        )
        for h, day in VERIFIED.items():
            con.execute(
                """INSERT INTO monitoring.warnings (as_of_date, warning_id, township_code, township_name, level,
                       rule_codes, departments, reasons, status, first_flagged_on, subject_id, household_id)
                   VALUES (DATE '2026-02-01', ?, '370725000', '县', '橙', ['R03'], ['县民政局'], '', 'new',
                           DATE '2026-02-01', ?, ?)""",
                [f"YJ-{h}", h, h],
            )
            con.execute("INSERT INTO staging.zj_feedback VALUES (?, ?, '情况属实', true)", [f"YJ-{h}", day])
        con.executemany(
            "INSERT INTO model.heldout_scores VALUES ('v1', ?, ?, ?)", [[D[i], h, s] for (h, i), s in HELD_OUT.items()]
        )
        yield con


def test_the_record_is_the_hand_count(warehouse):
    table = bt.backtest(warehouse, AS_OF, load_policy, "v1").set_index("rule_code")
    rule = table.loc["R03"]
    # new flags: H1 at Jan (Feb continues it), H2 at Feb, H3 at Jan and again at Mar, H5 at Apr
    assert rule["flags"] == 5 and rule["month_ends"] == 4
    # converted: H1 (assistance 2026-03-15 within six months of Jan), H3 twice (verified 2026-04-10);
    # H2's assistance (2026-10-01) came more than six months after its flag in Feb
    assert rule["converted"] == 3 and rule["conversion"] == pytest.approx(0.6)
    assert rule["median_lead_days"] == (dt.date(2026, 3, 15) - D[0]).days == 43
    # entries in the period: H1, H2 (within six months of Apr), H4; only H1's was flagged before it
    assert rule["entries"] == 3 and rule["found_before"] == 1
    assert rule["early_discovery"] == pytest.approx(1 / 3)
    assert "高于铜陵基准" in rule["verdict"]
    # M01, on its held-out Jan and Feb: H4 at Jan (0.9 ≥ 20 %; H1 is R03's), converted by its entry on
    # 2026-02-10, 10 days later; of the 2 entries those months could find (H1's, H4's), H4's
    m01 = table.loc["M01"]
    assert m01[["month_ends", "flags", "converted", "entries", "found_before"]].tolist() == [2, 1, 1, 2, 1]
    assert m01["median_lead_days"] == 10
    # the list as a whole: the rule's flags and M01's
    assert table.loc["ALL", ["flags", "converted", "found_before"]].tolist() == [6, 4, 2]


def test_without_a_model_m01_says_so(warehouse):
    table = bt.backtest(warehouse, AS_OF, load_policy).set_index("rule_code")
    assert table.loc["M01", "flags"] == 0 and "没有可评估" in table.loc["M01", "verdict"]
    assert table.loc["ALL", ["flags", "converted", "found_before"]].tolist() == [5, 3, 1]


def test_month_ends_whose_six_months_have_not_passed_are_left_out(warehouse):
    table = bt.backtest(warehouse, dt.date(2026, 9, 15), load_policy).set_index("rule_code")
    # only Jan and Feb have six months behind them: H1@Jan, H3@Jan, H2@Feb
    assert table.loc["R03", "month_ends"] == 2 and table.loc["R03", "flags"] == 3
    assert bt.backtest(warehouse, dt.date(2026, 7, 1), load_policy).empty
