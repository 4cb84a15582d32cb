"""A policy simulation: the night of ``as_of`` computed again under a proposed policy, against the
policy in force, and what would change for households, warnings and funds.

The proposal's night is the real night's machinery, not a second rendering of it: inside one
transaction, core's household features are rebuilt under the proposal (transform/core/build.py),
the warning list is built by transform/monitoring/warnings.py (the feeds' gates, the townships'
情况不属实 holding codes back, M01 for the households no rule flags, persons outside the roster), and
fund demand is computed (fund_demand.sql); what they give is read, and the transaction is rolled
back. So the warehouse's tables are as they were, and the policy in force as a proposal gives back
tonight's list and demand exactly.

M01 keeps tonight's scores: the model is not scored again under the proposal (its threshold is the
proposal's).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cached_property

import duckdb
import pandas as pd

from jiuzhu.config import Proposal
from jiuzhu.policy import Policy
from models.compliance import compliance_problems
from models.rules import RULES
from transform.core.build import build_core, rebuild_household_features
from transform.monitoring.fund_demand import ELIGIBILITY_PROGRAMMES, by_programme, demand_summary, household_demand
from transform.monitoring.warnings import build_hits
from warehouse.macros import install_macros
from warehouse.resource import registered, transaction

# a household's means-tested tier under a policy: the programme its verified income makes it eligible
# for, highest last (a raise of the standard moves households up: 低保边缘 -> 低保)
TIERS = ("", *reversed(ELIGIBILITY_PROGRAMMES))


class SimulationError(ValueError):
    """The simulation cannot run (the night was not run): the message says what to do."""


@dataclass
class Side:
    """One policy's night: each household's demand (_jz_demand's rows) and the warning list's hits."""

    demand: pd.DataFrame
    summary: pd.DataFrame
    hits: pd.DataFrame  # subject_type, subject_id, rule_code: the unsuppressed hits


@dataclass
class Simulation:
    proposal: Proposal
    as_of: dt.date
    in_force: Policy
    before: Side
    after: Side
    details: pd.DataFrame  # per household: township, village, 城乡, members, income, masked head ID
    compliance: list[str] = field(default_factory=list)  # where the proposal falls short of items 1, 2

    # what the tables, the headline and the households' list all read, derived once
    @cached_property
    def tiers_in_force(self) -> pd.Series:
        return tiers(self.before.demand)

    @cached_property
    def tiers_proposed(self) -> pd.Series:
        return tiers(self.after.demand)

    @cached_property
    def moves(self) -> pd.DataFrame:
        return eligibility_changes(self)

    @cached_property
    def rule_changes(self) -> pd.DataFrame:
        return warning_changes(self)


def simulate(con: duckdb.DuckDBPyConnection, as_of: dt.date, proposal: Proposal, in_force: Policy) -> Simulation:
    """The night ``as_of`` under the policy in force and under ``proposal``. Needs the night to have
    run, and jz_person_key() installed (warehouse.person_key). Changes nothing in the warehouse."""
    ran = con.execute("SELECT count(*) FROM monitoring.rule_status WHERE as_of_date = ?", [as_of]).fetchall()[0][0]
    if not ran:
        raise SimulationError(f"{as_of} 这一晚还没有运行，无法测算：先运行 jiuzhu run --as-of {as_of}")
    install_macros(con)
    core_on = con.execute("SELECT max(as_of_date) FROM core.household_features").fetchall()[0][0]
    scale = float(proposal.policy.standards.dibao_standard_urban) / float(in_force.standards.dibao_standard_urban)
    con.execute("BEGIN TRANSACTION")
    try:
        if core_on != as_of:  # core holds the latest night: the night asked for is built again first
            build_core(con, as_of, in_force)
        before = _side(con, as_of, in_force, _hits(con, as_of))
        details = _details(con)
        rebuild_household_features(con, as_of, proposal.policy)
        build_hits(con, as_of, proposal.policy)
        after = _side(con, as_of, proposal.policy, _hits(con, as_of), scale)
    finally:
        con.execute("ROLLBACK")
    return Simulation(proposal, as_of, in_force, before, after, details, compliance_problems(proposal.policy))


def _side(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy, hits: pd.DataFrame, scale: float = 1.0
) -> Side:
    household_demand(con, as_of, policy, temporary_scale=scale)
    demand = con.execute("SELECT * FROM _jz_demand").df()
    return Side(demand, demand_summary(con), hits)


def _hits(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    return con.execute(
        """SELECT subject_type, subject_id, rule_code FROM monitoring.rule_hits
           WHERE as_of_date = ? AND NOT suppressed ORDER BY ALL""",
        [as_of],
    ).df()


def _details(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """What the analyst's list shows of each household (its head's ID number masked)."""
    return con.execute(
        """SELECT f.household_id, f.township_code, f.township_name, f.village, f.residence_type, f.members,
                  f.per_capita_monthly_income, f.verification_date, jz_mask(k.id_number) AS head_masked_id
           FROM core.household_features f JOIN core.households h USING (household_id)
           LEFT JOIN restricted.person_ids k ON k.person_key = h.head_person_key"""
    ).df()


def tiers(demand: pd.DataFrame) -> pd.Series:
    """Each household's means-tested tier (TIERS' index) from its eligible rows."""
    eligible = demand[demand["eligible"] & demand["programme"].isin(ELIGIBILITY_PROGRAMMES)]
    return eligible.assign(tier=eligible["programme"].map(TIERS.index)).groupby("household_id")["tier"].max()


def eligibility_changes(sim: Simulation) -> pd.DataFrame:
    """Households whose tier moves: household_id, tier_before, tier_after (programme names, "" none),
    and change 'newly_eligible' (into the programme of tier_after) or 'no_longer_eligible' (out of
    tier_before's)."""
    both = (
        pd.concat([sim.tiers_in_force.rename("before"), sim.tiers_proposed.rename("after")], axis=1)
        .fillna(0)
        .astype(int)
    )
    moved = both[both["before"] != both["after"]].reset_index()
    return pd.DataFrame(
        {
            "household_id": moved["household_id"],
            "tier_before": moved["before"].map(lambda t: TIERS[t]),
            "tier_after": moved["after"].map(lambda t: TIERS[t]),
            "change": (moved["after"] > moved["before"]).map({True: "newly_eligible", False: "no_longer_eligible"}),
        }
    )


def warning_changes(sim: Simulation) -> pd.DataFrame:
    """Hits that appear or disappear: subject_type, subject_id, rule_code, change ('added'/'removed')."""
    keys = ["subject_type", "subject_id", "rule_code"]
    merged = sim.before.hits.merge(sim.after.hits, on=keys, how="outer", indicator=True)
    merged = merged[merged["_merge"] != "both"]
    return pd.DataFrame(
        {
            **{k: merged[k] for k in keys},
            "change": merged["_merge"].map({"left_only": "removed", "right_only": "added"}).astype(str),
        }
    ).reset_index(drop=True)


def listed_changes(sim: Simulation) -> tuple[int, int]:
    """Subjects (households, persons outside the roster) the proposal's list adds, and removes."""
    before = set(sim.before.hits["subject_id"])
    after = set(sim.after.hits["subject_id"])
    return len(after - before), len(before - after)


def headline(sim: Simulation) -> dict:
    """The figures scripts and audits read (<name>.json): counts of households and subjects, yuan a month."""
    moves = sim.moves
    added, removed = listed_changes(sim)
    demand_after = float(sim.after.summary["formula_monthly"].sum()) if len(sim.after.summary) else 0.0
    demand_before = float(sim.before.summary["formula_monthly"].sum()) if len(sim.before.summary) else 0.0
    return {
        "proposal": sim.proposal.name,
        "digest": sim.proposal.digest,
        "as_of": sim.as_of.isoformat(),
        "newly_eligible": int((moves["change"] == "newly_eligible").sum()),
        "no_longer_eligible": int((moves["change"] == "no_longer_eligible").sum()),
        "warnings_added": added,
        "warnings_removed": removed,
        "monthly_demand": round(demand_after, 2),
        "monthly_demand_in_force": round(demand_before, 2),
        "annual_demand": round(12 * demand_after, 2),
        "annual_demand_in_force": round(12 * demand_before, 2),
        "changes": {k: [v[0], v[1]] for k, v in sim.proposal.changes.items()},
        "compliance_warnings": sim.compliance,
    }


def affected_households(sim: Simulation) -> pd.DataFrame:
    """The households the proposal affects, most affected first: a tier that moves, then a warning's
    rule added or removed, then the largest change of monthly demand. With what the analyst needs
    to see of each (details: the head's ID number masked)."""
    moves = sim.moves.set_index("household_id")
    rules = sim.rule_changes
    rules = rules[rules["subject_type"] == "household"].rename(columns={"subject_id": "household_id"})
    added = rules[rules["change"] == "added"].groupby("household_id")["rule_code"].agg(sorted)
    removed = rules[rules["change"] == "removed"].groupby("household_id")["rule_code"].agg(sorted)
    before = sim.before.demand.groupby("household_id")["formula"].sum().astype(float)
    after = sim.after.demand.groupby("household_id")["formula"].sum().astype(float)
    demand = pd.concat([before.rename("demand_in_force"), after.rename("demand_proposed")], axis=1).fillna(0.0)
    changed = demand.index[demand["demand_in_force"] != demand["demand_proposed"]]
    ids = sorted(set(moves.index) | set(added.index) | set(removed.index) | set(changed))
    out = pd.DataFrame({"household_id": ids}).set_index("household_id")
    for column, tier in (("tier_in_force", sim.tiers_in_force), ("tier_proposed", sim.tiers_proposed)):
        out[column] = [TIERS[t] for t in tier.reindex(out.index).fillna(0).astype(int)]
    empty: list[str] = []
    out["rules_added"] = [added.get(h, empty) for h in out.index]
    out["rules_removed"] = [removed.get(h, empty) for h in out.index]
    out = out.join(demand, how="left").fillna({"demand_in_force": 0.0, "demand_proposed": 0.0})
    out["moved"] = out.index.isin(moves.index)
    out["rules_changed"] = [bool(a or r) for a, r in zip(out["rules_added"], out["rules_removed"])]
    out["demand_change"] = out["demand_proposed"] - out["demand_in_force"]
    out = out.join(sim.details.set_index("household_id"), how="left").reset_index()
    return out.sort_values(
        ["moved", "rules_changed", "demand_change", "household_id"],
        ascending=[False, False, False, True],
        key=lambda s: s.abs() if s.name == "demand_change" else s,
    ).reset_index(drop=True)


def save(con: duckdb.DuckDBPyConnection, sim: Simulation, figures: dict, affected: pd.DataFrame) -> None:
    """The simulation's own rows (simulation.*), replacing those of the same proposal, digest and night."""
    key = {"p": sim.proposal.name, "d": sim.proposal.digest, "a": sim.as_of}
    demand = pd.concat(
        [sim.before.summary.assign(policy="in_force"), sim.after.summary.assign(policy="proposal")], ignore_index=True
    ).assign(proposal=key["p"], digest=key["d"], as_of_date=key["a"])
    households = affected.assign(proposal=key["p"], digest=key["d"], as_of_date=key["a"])[
        [
            "proposal", "digest", "as_of_date", "household_id", "township_code", "residence_type", "tier_in_force",
            "tier_proposed", "rules_added", "rules_removed", "demand_in_force", "demand_proposed",
        ]
    ]  # fmt: skip
    with registered(con, "_jz_sim_demand", demand), registered(con, "_jz_sim_households", households):
        with transaction(con):
            for table in ("runs", "demand", "households"):
                con.execute(
                    f"DELETE FROM simulation.{table} WHERE proposal = $p AND digest = $d AND as_of_date = $a", key
                )
            con.execute(
                "INSERT INTO simulation.runs (proposal, digest, as_of_date, computed_at, headline) VALUES ($p, $d, $a, now()::TIMESTAMP, $h)",
                key | {"h": json.dumps(figures, ensure_ascii=False)},
            )
            con.execute("INSERT INTO simulation.demand BY NAME SELECT * FROM _jz_sim_demand")
            con.execute("INSERT INTO simulation.households BY NAME SELECT * FROM _jz_sim_households")


def township_table(sim: Simulation, names: dict[str, str]) -> pd.DataFrame:
    """Per township (``names``: code -> name) and 城乡: households newly eligible for 低保 and for
    低保边缘, no longer eligible for each, warnings' household subjects added and removed, monthly demand
    in force and proposed, and the difference."""
    place = sim.details.set_index("household_id")[["township_code", "residence_type"]]
    moves = sim.moves.join(place, on="household_id")
    rules = sim.rule_changes
    rules = rules[rules["subject_type"] == "household"].join(place, on="subject_id")
    keys = ["township_code", "residence_type"]
    newly = moves["change"] == "newly_eligible"
    counts = [
        moves[newly & (moves["tier_after"] == "低保")].groupby(keys).size().rename("newly_dibao"),
        moves[newly & (moves["tier_after"] == "低保边缘")].groupby(keys).size().rename("newly_edge"),
        moves[~newly & (moves["tier_before"] == "低保")].groupby(keys).size().rename("no_longer_dibao"),
        moves[~newly & (moves["tier_before"] == "低保边缘")].groupby(keys).size().rename("no_longer_edge"),
    ]
    for change in ("added", "removed"):
        subjects = rules[rules["change"] == change].drop_duplicates("subject_id")
        counts.append(subjects.groupby(keys).size().rename(f"warnings_{change}"))
    for side, name in ((sim.before, "demand_in_force"), (sim.after, "demand_proposed")):
        counts.append(side.summary.groupby(keys)["formula_monthly"].sum().astype(float).rename(name))
    table = pd.concat(counts, axis=1).fillna(0).reset_index()
    for column in (
        "newly_dibao",
        "newly_edge",
        "no_longer_dibao",
        "no_longer_edge",
        "warnings_added",
        "warnings_removed",
    ):
        table[column] = table[column].astype(int)
    table.insert(0, "township", table["township_code"].map(names).fillna(table["township_code"]))
    table["difference"] = table["demand_proposed"] - table["demand_in_force"]
    return table.sort_values(keys).reset_index(drop=True)


def rule_table(sim: Simulation) -> pd.DataFrame:
    """Per rule (RULES' order): its hits in force and proposed, the hits added and removed."""
    changes = sim.rule_changes
    rows = []
    for rule in RULES:
        mine = changes[changes["rule_code"] == rule.code]
        rows.append(
            {
                "rule_code": rule.code,
                "rule_name": rule.name,
                "hits_in_force": int((sim.before.hits["rule_code"] == rule.code).sum()),
                "hits_proposed": int((sim.after.hits["rule_code"] == rule.code).sum()),
                "added": int((mine["change"] == "added").sum()),
                "removed": int((mine["change"] == "removed").sum()),
            }
        )
    return pd.DataFrame(rows)


def programme_table(sim: Simulation) -> pd.DataFrame:
    """Per programme (PROGRAMMES' order): eligible households in force and proposed, what the rolls
    pay, and the monthly demand in force and proposed."""
    before, after = by_programme(sim.before.summary), by_programme(sim.after.summary)
    return pd.DataFrame(
        {
            "programme": before["programme"],
            "eligible_in_force": before["eligible_households"].astype(int),
            "eligible_proposed": after["eligible_households"].astype(int),
            "recorded": before["recorded_monthly"],
            "demand_in_force": before["formula_monthly"],
            "demand_proposed": after["formula_monthly"],
        }
    )
