"""R03's out-of-pocket line may be set per assistance status in the policy file (Tongling: 特困 1,000,
低保 5,000, 低保边缘 10,000, the others 15,000). Left out, RULES.md's one line holds for everyone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml

from jiuzhu.config import load_policy, policy_files
from jiuzhu.policy import PolicyError, policy_problems, validate_policy
from models.rules import RULES, describe, render

R03 = next(r for r in RULES if r.code == "R03")
TONGLING = {"特困": 1000, "低保": 5000, "低保边缘": 10000}


def _policy(tiers: dict | None, others: int = 15000):
    values = yaml.safe_load(policy_files()[-1].read_text(encoding="utf-8"))
    values["rules"]["medical_out_of_pocket_threshold"] = others
    if tiers is not None:
        values["rules"]["medical_threshold_by_status"] = tiers
    return values


def _flagged(policy) -> list[str]:
    """The households of a small table that R03 flags under ``policy``."""
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE f AS SELECT * FROM (VALUES
            ('tekun',  1, 0, 0, 2000.0), ('dibao', 0, 1, 0, 6000.0), ('dibao_low', 0, 1, 0, 4000.0),
            ('edge',   0, 0, 1, 12000.0), ('other', 0, 0, 0, 16000.0), ('other_low', 0, 0, 0, 14000.0),
            ('both',   1, 1, 0, 1500.0))
           t(household_id, on_tekun, on_dibao, on_dibao_edge, oop_12m)"""
    )
    con.execute(
        """ALTER TABLE f ADD COLUMN annual_income DOUBLE; ALTER TABLE f ADD COLUMN members INTEGER DEFAULT 1;
           ALTER TABLE f ADD COLUMN dibao_standard DOUBLE DEFAULT 850;
           ALTER TABLE f ADD COLUMN per_capita_monthly_income DOUBLE"""
    )
    sql = f"SELECT household_id FROM f WHERE {render(R03.predicate, policy)} ORDER BY 1"
    return [r[0] for r in con.execute(sql).fetchall()]


def test_without_tiers_one_line_holds_for_everyone():
    policy = load_policy(dt.date(2026, 11, 28))
    assert policy.rules.medical_threshold_by_status is None
    assert _flagged(validate_policy(_policy(None, others=5000), "test")) == ["dibao", "edge", "other", "other_low"]


def test_tongling_tiers_set_each_status_its_line():
    policy = validate_policy(_policy(TONGLING), "test")
    assert policy.rules.medical_threshold_by_status == TONGLING
    # 特困 ≥ 1,000, 低保 ≥ 5,000, 低保边缘 ≥ 10,000, the others ≥ 15,000; the most protected status decides
    assert _flagged(policy) == ["both", "dibao", "edge", "other", "tekun"]
    assert "15,000（特困家庭 1,000、低保家庭 5,000、低保边缘家庭 10,000）" in describe(R03, policy)


def test_a_tier_missing_or_out_of_range_is_named():
    problems = policy_problems(_policy({"特困": 1000, "低保": -5}))
    assert "rules.medical_threshold_by_status.低保边缘：缺少" in problems
    assert any(p.startswith("rules.medical_threshold_by_status.低保（低保家庭医疗自付预警线（元））") for p in problems)
    with pytest.raises(PolicyError):
        validate_policy(_policy({"特困": 1000}), str(Path("policy.yaml")))
