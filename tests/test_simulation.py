"""Fund demand and policy simulation (issue 16): the formula to the yuan on households computed by
hand; on a generated county, the policy in force as a proposal changes nothing, a raised standard
moves exactly the households between the old and the new line, the warehouse's tables stay as they
were, the generator pays by the formula except where it plants exceptions, and what leaves the
warehouse masks ID numbers."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pytest
import yaml
from python_calamine import CalamineWorkbook

from jiuzhu.config import CONFIG_DIR, load_policy
from pipelines.cli import main
from pipelines.definitions import NIGHTLY_JOB, build_definitions
from transform.monitoring.fund_demand import demand_summary, household_demand, reconciliation
from warehouse.resource import connect

AS_OF = dt.date(2026, 11, 28)
EARLIER = AS_OF - dt.timedelta(days=1)
POLICY = load_policy(AS_OF)
FULL_ID = re.compile(r"\d{17}[\dX]")


def _hand_county() -> duckdb.DuckDBPyConnection:
    """Core's two tables for five households, as the night leaves them (only the columns fund demand reads)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA core")
    con.execute(
        """CREATE TABLE core.household_features AS SELECT * FROM (VALUES
            -- 差额: 农村 680 − 411.35 = 268.65 → 269 a person, 3 persons, on the roll at that amount
            ('H1', '370725101', '农村', 3, 680, 411.35, '符合', 0),
            -- 特困, 城市: basic 1.3 × 850 = 1105, 半护理 1900 / 6 = 316.67 → 317
            ('H2', '370725001', '城镇', 1, 850, NULL, NULL, 1),
            -- 临时救助 only: grants of 3 and 6 × 850 in the last 12 months, one of 12 × 850 before them
            ('H3', '370725001', '城镇', 2, 850, NULL, NULL, 0),
            -- the floor: 680 − 670 = 10 → 30 a person; not on the roll (R01's household)
            ('H4', '370725101', '农村', 2, 680, 670.00, '待定', 0),
            -- half up: 850 − 411.50 = 438.5 → 439; on the roll at 400 (an amount other than the formula)
            ('H5', '370725001', '城镇', 1, 850, 411.50, '符合', 0)
        ) t(household_id, township_code, residence_type, members, dibao_standard, per_capita_monthly_income,
            verification_result, on_tekun)"""
    )
    con.execute(
        """CREATE TABLE core.assistance AS SELECT * FROM (VALUES
            ('H1', '农村低保', true, 269.00, NULL, DATE '2025-03-01'),
            ('H1', '农村低保', true, 269.00, NULL, DATE '2025-03-01'),
            ('H1', '农村低保', true, 269.00, NULL, DATE '2025-03-01'),
            ('H2', '特困供养', true, 1422.00, '半护理', DATE '2024-05-01'),
            ('H3', '临时救助', false, 2550.00, NULL, DATE '2026-03-10'),
            ('H3', '临时救助', false, 5100.00, NULL, DATE '2026-09-02'),
            ('H3', '临时救助', false, 10200.00, NULL, DATE '2025-10-30'),
            ('H5', '城市低保', true, 400.00, NULL, DATE '2026-01-01'),
            -- under a 户编号 the roster does not list: paid, no standard to compute by
            ('H6', '特困供养', true, 1500.00, '全自理', DATE '2024-01-01')
        ) t(household_id, category, active, monthly_amount, care_level, start_date)"""
    )
    return con


def test_fund_demand_matches_the_hand_computed_households():
    con = _hand_county()
    household_demand(con, AS_OF, POLICY)
    rows = {
        (h, p): (c, float(f), float(r))
        for h, p, c, f, r in con.execute(
            "SELECT household_id, programme, component, formula, recorded FROM _jz_demand"
        ).fetchall()
    }
    assert rows == {
        ("H1", "低保"): ("by_formula", 807.0, 807.0),
        ("H2", "特困"): ("by_formula", 1422.0, 1422.0),
        ("H3", "临时救助"): ("past_rate", 637.5, 637.5),  # (2550 + 5100) / 12
        ("H4", "低保"): ("not_on_roll", 60.0, 0.0),
        ("H5", "低保"): ("by_formula", 439.0, 400.0),
        ("H6", "特困"): ("off_roster", 0.0, 1500.0),
    }
    # the differences add up: the rolls pay 4,766.50, the formula asks 3,365.50
    table = reconciliation(demand_summary(con))
    assert table["difference"].sum() == pytest.approx(1401.0)
    assert table.set_index(["programme", "component"]).loc[("低保", "by_formula"), "differing_households"] == 1


def test_a_proposal_scales_the_formula():
    """The same households under 城市 900: 差额, 特困 and the past grants move with them."""
    con = _hand_county()
    proposed = dataclasses.replace(POLICY, standards=dataclasses.replace(POLICY.standards, dibao_standard_urban=900))
    con.execute("UPDATE core.household_features SET dibao_standard = 900 WHERE residence_type = '城镇'")
    household_demand(con, AS_OF, proposed, temporary_scale=900 / 850)
    formula = dict(con.execute("SELECT household_id, formula FROM _jz_demand").fetchall())
    assert float(formula["H2"]) == 1170 + 317  # 1.3 × 900
    assert float(formula["H3"]) == pytest.approx(637.5 * 900 / 850, abs=0.01)
    assert float(formula["H5"]) == 489  # 900 − 411.50 = 488.5 → 489


# ---- on a generated county ------------------------------------------------------------------


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    root = tmp_path_factory.mktemp("simulation")
    county, home = root / "county", root / "home"
    assert main(["synth", "--out", str(county), "--households", "1500", "--as-of", AS_OF.isoformat(), "--quiet"]) == 0
    for night in (EARLIER, AS_OF):  # the earlier night too: a simulation of a night core no longer holds
        assert (
            main(["run", "--landing", str(county / "landing"), "--home", str(home), "--as-of", night.isoformat()]) == 0
        )
    return county, home


def _fingerprint(home: Path) -> dict[str, object]:
    """A digest of every table a simulation must leave as it was."""
    tables = [
        "monitoring.rule_hits",
        "monitoring.warnings",
        "monitoring.household_scores",
        "monitoring.fund_demand",
        "core.household_features",
        "core.households",
        "audit.feed_gate",
    ]
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        return {
            t: con.execute(f"SELECT count(*), sum(hash(COLUMNS(*)::VARCHAR)) FROM (SELECT * FROM {t})").fetchall()
            for t in tables
        }


def _simulate(home: Path, proposal: Path, night: dt.date = AS_OF) -> dict:
    assert main(["simulate", "--policy", str(proposal), "--home", str(home), "--as-of", night.isoformat()]) == 0
    folder = home / "exports" / night.isoformat() / "simulation"
    return json.loads((folder / f"{proposal.stem}.json").read_text(encoding="utf-8"))


def _in_force(folder: Path) -> Path:
    """The policy file in force, whole, as a proposal."""
    same = folder / "in_force.yaml"
    same.write_bytes((CONFIG_DIR / "policy" / "2021-10-09.yaml").read_bytes())
    return same


@pytest.mark.slow
def test_the_policy_in_force_as_a_proposal_changes_nothing(county, tmp_path):
    _, home = county
    before = _fingerprint(home)
    figures = _simulate(home, _in_force(tmp_path))
    assert figures["newly_eligible"] == figures["no_longer_eligible"] == 0
    assert figures["warnings_added"] == figures["warnings_removed"] == 0
    assert figures["monthly_demand"] == figures["monthly_demand_in_force"] > 0
    assert figures["changes"] == {}
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        night = con.execute(
            """SELECT programme, sum(eligible_households), sum(formula_monthly) FROM monitoring.fund_demand
               WHERE as_of_date = ? GROUP BY 1 ORDER BY 1""",
            [AS_OF],
        ).fetchall()
        simulated = con.execute(
            """SELECT programme, sum(eligible_households), sum(formula_monthly) FROM simulation.demand
               WHERE proposal = 'in_force' AND policy = 'proposal' AND as_of_date = ? GROUP BY 1 ORDER BY 1""",
            [AS_OF],
        ).fetchall()
    assert simulated == night  # tonight's eligible counts and demand, exactly
    assert _fingerprint(home) == before


@pytest.mark.slow
def test_an_earlier_night_is_built_again_for_the_simulation_and_matches_its_list(county, tmp_path):
    _, home = county
    before = _fingerprint(home)
    figures = _simulate(home, _in_force(tmp_path), EARLIER)
    assert figures["as_of"] == EARLIER.isoformat()
    assert figures["warnings_added"] == figures["warnings_removed"] == figures["newly_eligible"] == 0
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        night = con.execute(
            "SELECT sum(formula_monthly) FROM monitoring.fund_demand WHERE as_of_date = ?", [EARLIER]
        ).fetchall()[0][0]
    assert figures["monthly_demand"] == float(night)  # that night's demand, not tonight's
    assert _fingerprint(home) == before  # core still holds the latest night


@pytest.mark.slow
def test_raising_the_rural_standard_moves_the_households_between_the_lines(county, tmp_path):
    _, home = county
    before = _fingerprint(home)
    proposal = tmp_path / "rural_720.yaml"
    proposal.write_text(yaml.safe_dump({"standards": {"dibao_standard_rural": 720}}), encoding="utf-8")
    figures = _simulate(home, proposal)
    assert _fingerprint(home) == before  # nothing but simulation.* and the exports
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        eligible = (
            "per_capita_monthly_income IS NOT NULL AND coalesce(verification_result, '') <> '不符合' AND on_tekun = 0"
        )
        expected = {
            h
            for (h,) in con.execute(
                f"""SELECT household_id FROM core.household_features
                    WHERE residence_type = '农村' AND {eligible}
                      AND (per_capita_monthly_income BETWEEN 680 AND 719.99
                           OR per_capita_monthly_income BETWEEN 1020 AND 1079.99)"""
            ).fetchall()
        }
        moved = dict(
            con.execute(
                """SELECT household_id, tier_in_force || '->' || tier_proposed FROM simulation.households
                   WHERE proposal = 'rural_720' AND tier_in_force <> tier_proposed"""
            ).fetchall()
        )
        r01_added = {
            h
            for (h,) in con.execute(
                "SELECT household_id FROM simulation.households WHERE proposal = 'rural_720' AND list_contains(rules_added, 'R01')"
            ).fetchall()
        }
        not_on_dibao = {
            h for (h,) in con.execute("SELECT household_id FROM core.household_features WHERE on_dibao = 0").fetchall()
        }
    assert expected, "the generated county has verified incomes between the lines"
    assert set(moved) == expected
    assert figures["newly_eligible"] == len(expected) and figures["no_longer_eligible"] == 0
    assert {h for h, m in moved.items() if m.endswith("->低保")} & not_on_dibao <= r01_added
    assert figures["monthly_demand"] > figures["monthly_demand_in_force"]
    assert any("农村低保标准 720" in p for p in figures["compliance_warnings"])  # 45.5 % of consumption: a warning


@pytest.mark.slow
def test_the_workbook_masks_ids_and_says_it_is_not_for_townships(county, tmp_path):
    _, home = county
    proposal = tmp_path / "urban_900.yaml"
    proposal.write_text(yaml.safe_dump({"standards": {"dibao_standard_urban": 900}}), encoding="utf-8")
    _simulate(home, proposal)
    book = CalamineWorkbook.from_path(str(home / "exports" / AS_OF.isoformat() / "simulation" / "urban_900.xlsx"))
    assert book.sheet_names == ["摘要", "按项目", "按镇街", "预警变化", "受影响家庭", "实发与测算对账"]
    cells = [str(c) for name in book.sheet_names for row in book.get_sheet_by_name(name).to_python() for c in row]
    assert not [c for c in cells if FULL_ID.search(c)]
    households = book.get_sheet_by_name("受影响家庭").to_python()
    assert "不下发镇街" in str(households[1][0])
    masked = [row[1] for row in households[3:] if row[1]]
    assert masked and all("*" in m for m in masked)


@pytest.mark.slow
def test_the_generator_pays_by_the_formula_except_where_it_plants_exceptions(county):
    county_dir, home = county
    with (county_dir / "truth" / "households.csv").open(encoding="utf-8") as fh:
        planted = {r["household_id"] for r in csv.DictReader(fh) if r["planted_rules"] or r["near_miss_rules"]}
    with connect(home / "warehouse.duckdb") as con:
        household_demand(con, AS_OF, POLICY)
        rows = con.execute(
            """SELECT household_id, formula, recorded FROM _jz_demand
               WHERE component = 'by_formula' AND programme IN ('低保', '特困')"""
        ).fetchall()
    generated = [(float(f), float(r)) for h, f, r in rows if h not in planted]
    formula, recorded = sum(f for f, _ in generated), sum(r for _, r in generated)
    assert len(generated) > 50
    assert abs(formula - recorded) <= 0.01 * recorded
    assert any(f != r for h, f, r in rows if h in planted)  # R11's cases, below the standards


def test_the_nightly_job_computes_demand_and_leaves_simulation_to_the_user():
    defs = build_definitions(home="/tmp/none", landing="/tmp/none")
    job = defs.resolve_job_def(NIGHTLY_JOB)
    keys = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert "monitoring/fund_demand" in keys
    assert "monitoring/policy_simulation" not in keys


@pytest.mark.slow
def test_a_night_not_run_is_refused_in_one_line(county, tmp_path, capsys):
    _, home = county
    proposal = tmp_path / "rural_720.yaml"
    proposal.write_text(yaml.safe_dump({"standards": {"dibao_standard_rural": 720}}), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"standards": {"dibao_standard_rural": -5}}), encoding="utf-8")
    assert main(["simulate", "--policy", str(proposal), "--home", str(home), "--as-of", "2026-11-01"]) == 2
    assert "先运行 jiuzhu run --as-of 2026-11-01" in capsys.readouterr().err
    assert main(["simulate", "--policy", str(bad), "--home", str(home)]) == 2
    assert "dibao_standard_rural" in capsys.readouterr().err  # checked like any policy file, before use
