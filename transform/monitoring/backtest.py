"""Each rule's record (back-test): at every month end the training history kept
(model.feature_history: each household's features as they stood that night), the households each
rule would have flagged, and what happened to them in the six months after
(transform/model/training.py outcomes_sql: assistance started, or a warning found 情况属实).

For each rule, M01 and the list as a whole (any rule or M01):
- flags: households newly flagged at a month end (not flagged at the month end before), the way a
  warning starts;
- conversion: the share of those that entered assistance or were verified true within six months;
- lead time: the median days from the month end of the first flag to the start of assistance;
- early discovery: of every entry into assistance in the period, the share the rule flagged at a
  month end in the six months before it.
Only month ends whose six months have passed count. M01 is judged on the months the model in force
was never trained on (its held-out months), by the scores it gave them when it was trained
(model.heldout_scores).
The anchor is Tongling's published record: about 15,900 warnings, 2,145 people assisted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import duckdb
import pandas as pd

from jiuzhu.policy import Policy
from models.rules import FEATURE_RULES, MODEL_RULE, TONGLING_CONVERSION, level_text, render
from transform.model.history import FEATURES, NIGHTS
from transform.model.training import HORIZON_MONTHS, outcomes_sql
from transform.sql import dates_sql

ALL = "ALL"  # the row of the list as a whole
REVIEW_LEVEL = "复核"  # rules that check existing records: their outcome is a review, not an entry

COLUMNS = [
    "rule_code",
    "rule_name",
    "level",
    "month_ends",
    "flags",
    "converted",
    "conversion",
    "median_lead_days",
    "entries",
    "found_before",
    "early_discovery",
    "verdict",
]


def complete_month_ends(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[dt.date]:
    """The kept month ends whose six months of outcomes have passed by ``as_of``."""
    return [
        d
        for (d,) in con.execute(
            f"SELECT as_of_date FROM {NIGHTS} WHERE as_of_date + INTERVAL ({HORIZON_MONTHS}) MONTH <= ? ORDER BY 1",
            [as_of],
        ).fetchall()
    ]


def basis(month_ends: list[dt.date], model_version: str | None, policy_of: Callable[[dt.date], Policy]) -> str:
    """What a back-test is computed from: the model in force, and the rules' SQL over the month ends as
    the policies in force render them. The same basis gives the same figures: they are not computed again."""
    text = f"{model_version or '-'}|{_flags_sql(month_ends, policy_of)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _flags_sql(month_ends: list[dt.date], policy_of: Callable[[dt.date], Policy]) -> str:
    """SQL: (as_of_date, household_id, rule_code) of every household each rule flags at each month end,
    the predicate rendered by the policy in force on that month end."""
    by_policy: dict[int, tuple[Policy, list[dt.date]]] = {}
    for d in month_ends:
        policy = policy_of(d)
        by_policy.setdefault(id(policy), (policy, []))[1].append(d)
    parts = []
    for policy, dates in by_policy.values():
        listed = dates_sql(dates)
        for rule in FEATURE_RULES:
            parts.append(
                f"SELECT as_of_date, household_id, '{rule.code}' AS rule_code FROM {FEATURES} f "
                f"WHERE as_of_date IN ({listed}) AND coalesce(({render(rule.predicate, policy)}), false)"
            )
    return " UNION ALL ".join(parts)


def backtest(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    policy_of: Callable[[dt.date], Policy],
    model_version: str | None = None,
) -> pd.DataFrame:
    """The record of every rule, M01 (of the model ``model_version``, the one in force; None: none) and
    the whole list, over the complete month ends kept by ``as_of``: one row each, in COLUMNS."""
    month_ends = complete_month_ends(con, as_of)
    if not month_ends:
        return pd.DataFrame(columns=COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jz_bt_flags AS {_flags_sql(month_ends, policy_of)}")
    held_out = _m01_flags(con, month_ends, model_version, policy_of(as_of)) if model_version else []
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _jz_bt_nights AS SELECT unnest($d::DATE[]) AS as_of_date", {"d": month_ends}
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jz_bt_outcomes AS {outcomes_sql('_jz_bt_nights')}", {"as_of": as_of})
    rows = con.execute(
        """
        WITH flags AS (
            SELECT * FROM _jz_bt_flags
            UNION ALL  -- the list as a whole: any rule, or M01
            SELECT DISTINCT as_of_date, household_id, 'ALL' FROM _jz_bt_flags
        ), ordered AS (
            SELECT as_of_date, row_number() OVER (ORDER BY as_of_date) AS n FROM _jz_bt_nights
        ), numbered AS (
            SELECT f.*, o.n FROM flags f JOIN ordered o USING (as_of_date)
        ), new_flags AS (  -- not flagged by the same rule at the month end before
            SELECT a.* FROM numbered a
            ANTI JOIN numbered b ON b.rule_code = a.rule_code AND b.household_id = a.household_id AND b.n = a.n - 1
        ), scored AS (
            SELECT f.rule_code, count(*) AS flags,
                   count(*) FILTER (WHERE o.entered_on IS NOT NULL OR o.verified) AS converted,
                   median(o.entered_on - f.as_of_date) FILTER (WHERE o.entered_on IS NOT NULL) AS median_lead_days
            FROM new_flags f LEFT JOIN _jz_bt_outcomes o USING (as_of_date, household_id)
            GROUP BY 1
        ), entries AS (  -- each entry into assistance in the period, and the month ends in the six months before it
            SELECT DISTINCT household_id, entered_on, as_of_date FROM _jz_bt_outcomes WHERE entered_on IS NOT NULL
        ), found AS (
            SELECT f.rule_code, count(DISTINCT (e.household_id, e.entered_on)) AS found_before
            FROM entries e JOIN flags f USING (household_id, as_of_date)
            GROUP BY 1
        )
        SELECT s.rule_code, s.flags, s.converted, s.median_lead_days, coalesce(found.found_before, 0) AS found_before,
               -- M01 is judged on its held-out month ends only: the entries those could have found
               CASE WHEN s.rule_code = 'M01'
                    THEN (SELECT count(DISTINCT (household_id, entered_on)) FROM entries WHERE list_contains($held_out, as_of_date))
                    ELSE (SELECT count(DISTINCT (household_id, entered_on)) FROM entries) END AS entries
        FROM scored s LEFT JOIN found USING (rule_code)
        """,
        {"held_out": held_out},
    ).df()
    return _table(rows, len(month_ends), held_out, policy_of(as_of))


def _m01_flags(
    con: duckdb.DuckDBPyConnection, month_ends: list[dt.date], version: str, policy: Policy
) -> list[dt.date]:
    """M01's flags into _jz_bt_flags at the complete month ends the model ``version`` held out when it was
    trained (model.heldout_scores): a score at or above the threshold and no rule flagging the
    household. Returns those month ends."""
    dates = [
        d
        for (d,) in con.execute(
            """SELECT DISTINCT as_of_date FROM model.heldout_scores
               WHERE model_version = $v AND list_contains($d, as_of_date) ORDER BY 1""",
            {"v": version, "d": month_ends},
        ).fetchall()
    ]
    con.execute(
        """INSERT INTO _jz_bt_flags (as_of_date, household_id, rule_code)
           SELECT s.as_of_date, s.household_id, 'M01' FROM model.heldout_scores s
           WHERE s.model_version = $v AND list_contains($d, s.as_of_date) AND s.score >= $threshold
             AND NOT EXISTS (SELECT 1 FROM _jz_bt_flags f
                             WHERE f.as_of_date = s.as_of_date AND f.household_id = s.household_id)""",
        {"v": version, "d": dates, "threshold": float(policy.model.m01_threshold)},
    )
    return dates


def _table(rows: pd.DataFrame, month_ends: int, held_out: list[dt.date], policy: Policy) -> pd.DataFrame:
    """One row per rule in the order of RULES, then M01, then the whole list; verdicts against Tongling."""
    by_code = {r.code: r for r in (*FEATURE_RULES, MODEL_RULE)}
    others = rows.loc[rows["rule_code"] != MODEL_RULE.code, "entries"]
    all_entries = int(others.max()) if len(others) else 0
    out = []
    for code in [*by_code, ALL]:
        found = rows[rows["rule_code"] == code]
        r = found.iloc[0] if len(found) else None
        flags = int(r["flags"]) if r is not None else 0
        converted = int(r["converted"]) if r is not None else 0
        rule = by_code.get(code)
        level = level_text(rule, policy) if rule else "—"
        conversion = converted / flags if flags else None
        entries = int(r["entries"]) if r is not None else (0 if code == MODEL_RULE.code else all_entries)
        out.append(
            {
                "rule_code": code,
                "rule_name": rule.name if rule else "整个预警名单（任一规则或 M01）",
                "level": level,
                "month_ends": len(held_out) if code == MODEL_RULE.code else month_ends,
                "flags": flags,
                "converted": converted,
                "conversion": conversion,
                "median_lead_days": float(r["median_lead_days"])
                if r is not None and pd.notna(r["median_lead_days"])
                else None,
                "entries": entries,
                "found_before": int(r["found_before"]) if r is not None else 0,
                "early_discovery": (int(r["found_before"]) / entries) if r is not None and entries else None,
                "verdict": _verdict(code, level, flags, conversion),
            }
        )
    return pd.DataFrame(out, columns=COLUMNS)


def _verdict(code: str, level: str, flags: int, conversion: float | None) -> str:
    if level == REVIEW_LEVEL:
        return "复核类：核查在保记录，不以新纳入救助衡量"
    if code == MODEL_RULE.code and not flags:
        return "没有可评估的留出月份（模型未训练、训练时未保存留出分数，或留出月份的6个月尚未过完）"
    if not flags:
        return "回测期内未触发"
    if conversion is not None and conversion >= TONGLING_CONVERSION:
        return f"转化率高于铜陵基准（约 {TONGLING_CONVERSION:.0%}）：值得保留"
    return f"转化率低于铜陵基准（约 {TONGLING_CONVERSION:.0%}）：需审视阈值或改进"
