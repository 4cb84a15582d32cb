"""Fund demand (item 18: 根据救助人数和财力状况，分析各类救助项目资金需求): what each programme costs a
month under a policy, household by household, beside what the assistance rolls pay tonight.

- 低保: (standard − verified per-capita income) × members, rounded half up to the policy's unit, at
  least its minimum per person; for the households eligible by their latest verification within the
  policy's months (核对结论 not 不符合, not 特困).
- 特困: basic living at least the policy's multiple of the standard, care at least its share of the
  minimum wage by care level, each rounded up to the unit; for every active 特困 record.
- 低保边缘: the policy's amount per person (0: no monthly cash) for the households between the
  standard and the edge multiple.
- 临时救助: the grants of the policy's past months, a month's average, scaled by the urban standard
  (grants are multiples of it, item 8).
- 孤儿: the recorded amount (this policy file does not set it).

Every household falls in one component per programme (fund_demand.sql), so that the difference
between the formula and what is paid is explained to the yuan: COMPONENTS.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from jiuzhu.config import FALLBACK_TOWNSHIP
from jiuzhu.policy import Policy
from transform.sql import policy_number, run_file

SQL_DIR = Path(__file__).resolve().parent
PROGRAMMES = ("低保", "特困", "低保边缘", "临时救助", "孤儿")
ELIGIBILITY_PROGRAMMES = ("低保", "低保边缘")  # whose eligibility a standard decides
# component -> what it is, in the words of the bureau's reconciliation ({months}: the policy's)
COMPONENTS = {
    "by_formula": "在册且按核对收入符合条件：按公式测算，与实发金额比较",
    "not_on_roll": "按核对收入符合条件但未在册（低保即 R01 疑似应保未保）",
    "not_verified": "在册但近 {verification_months} 个月没有核对结果：实发，无法按公式测算",
    "not_eligible": "在册、已核对，但按公式不符合条件（核对结论不符合，或收入已达标准）",
    "off_roster": "在册，但户编号不在当晚的民政家庭名册中：实发，无法确定适用的标准",
    "past_rate": "临时救助：过去 {temporary_months} 个月发放的月平均，按城市低保标准折算",
    "not_in_policy": "孤儿基本生活费：政策文件未规定，按在册金额计",
}
SUMMARY_KEYS = ["programme", "township_code", "residence_type", "component"]


def household_demand(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    policy: Policy,
    core: str = "core",
    temporary_scale: float = 1.0,
) -> None:
    """The temp table _jz_demand: each household's demand under ``policy`` by programme (one row per
    household, programme and component), from ``core``'s tables for ``as_of``, whose household
    features were built under the same policy. ``temporary_scale``: the policy's urban standard over
    the one the past grants were made under (1: the policy in force)."""
    compliance, payments = policy.compliance, policy.payments
    care = compliance.care_share_of_minimum_wage
    params = {
        "as_of": as_of,
        "fallback_township": FALLBACK_TOWNSHIP,
        "dibao_edge_multiple": policy_number(policy.rules.dibao_edge_multiple),
        "tekun_basic_multiple": policy_number(compliance.tekun_basic_multiple),
        "minimum_wage": policy_number(policy.standards.minimum_wage),
        "care_share_of_minimum_wage": {"key": list(care), "value": [policy_number(v) for v in care.values()]},
        "round_to": policy_number(payments.round_to),
        "dibao_minimum_per_person": policy_number(payments.dibao_minimum_per_person),
        "dibao_edge_per_person": policy_number(payments.dibao_edge_per_person),
        "temporary_assistance_months": payments.temporary_assistance_months,
        "temporary_scale": temporary_scale,
    }
    run_file(con, SQL_DIR / "fund_demand.sql", {"core": core}, params)


def demand_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """_jz_demand added up by programme, township, 城乡 and component: households, eligible households,
    persons, the formula's and the rolls' monthly yuan, and the households paid other than the formula."""
    return con.execute(
        f"""SELECT {", ".join(SUMMARY_KEYS)}, count(*) AS households,
                   count(*) FILTER (WHERE eligible) AS eligible_households, sum(persons) AS persons,
                   sum(formula) AS formula_monthly, sum(recorded) AS recorded_monthly,
                   count(*) FILTER (WHERE component = 'by_formula' AND formula <> recorded) AS differing_households
            FROM _jz_demand GROUP BY ALL ORDER BY ALL"""
    ).df()


def component_text(component: str, policy: Policy) -> str:
    return COMPONENTS[component].format(
        verification_months=policy.rules.verification_max_age_months,
        temporary_months=policy.payments.temporary_assistance_months,
    )


def by_programme(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary by programme, in PROGRAMMES' order: households, persons, formula and recorded monthly yuan."""
    if summary.empty:
        return pd.DataFrame(
            columns=["programme", "eligible_households", "persons", "formula_monthly", "recorded_monthly"]
        )
    totals = (
        summary.groupby("programme", as_index=False)[
            ["eligible_households", "persons", "formula_monthly", "recorded_monthly"]
        ]
        .sum()
        .set_index("programme")
        .reindex(PROGRAMMES, fill_value=0)
        .reset_index()
    )
    for column in ("formula_monthly", "recorded_monthly"):
        totals[column] = totals[column].astype(float)
    return totals


def reconciliation(summary: pd.DataFrame) -> pd.DataFrame:
    """Formula against the rolls, component by component (programme, component, households, formula,
    recorded, difference): the differences add up to the total difference of each programme."""
    if summary.empty:
        return pd.DataFrame(columns=["programme", "component", "households", "formula", "recorded", "difference"])
    rows = summary.groupby(["programme", "component"], as_index=False)[
        ["households", "differing_households", "formula_monthly", "recorded_monthly"]
    ].sum()
    rows["formula"] = rows.pop("formula_monthly").astype(float)
    rows["recorded"] = rows.pop("recorded_monthly").astype(float)
    rows["difference"] = rows["recorded"] - rows["formula"]
    order = {p: i for i, p in enumerate(PROGRAMMES)} | {c: i for i, c in enumerate(COMPONENTS)}
    return rows.sort_values(["programme", "component"], key=lambda s: s.map(order)).reset_index(drop=True)
