"""The night's warning list: rule hits (models.rules) for date D, the records behind them,
warning episodes carried from the previous night, township feedback applied, and the
warnings that ended. Rebuilding a night replaces that night's rows only.

The statements of more than a few lines are the .sql files beside this module, run by
transform.sql: ``{<feed>}`` is the feed as it stood on the night (transform.as_of) and
``{valid_feedback}`` the answers that stand; the night's date ``$as_of``, the previous night's
``$prev`` and the policy's numbers and lists are bound (see _parameters). The hits of the rules
in models/rules.py are SQL written from the rules' data (render) and stay so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from jiuzhu.config import FALLBACK_TOWNSHIP, load_townships
from jiuzhu.policy import Policy
from models.rules import FEATURE_RULES, LEVEL_ORDER, MODEL_RULE, RULES, Rule, render
from transform.as_of import current_feeds, relations
from transform.hardship import hardship_petitions
from transform.monitoring.feedback import valid_feedback
from transform.sql import policy_number, run_file
from warehouse.macros import install_macros
from warehouse.resource import transaction

SQL_DIR = Path(__file__).resolve().parent
# in order: tonight's subjects, their answers, the warnings, those that ended, rolls that lag
EPISODES = ("tonight", "feedback_summary", "warnings", "resolved_warnings", "data_lag_cases")
OUTSIDER_RULES = ("R03", "R08")  # the rules outsider_hits.sql evaluates for persons outside the roster

NIGHT_TABLES = ("rule_hits", "rule_sources", "rule_status", "warnings", "resolved_warnings", "data_lag_cases")
# Writes name their columns: the tables may gain columns (warehouse/migrations.py), never by position.
INTO_RULE_HITS = (
    "INSERT INTO monitoring.rule_hits (as_of_date, subject_type, subject_id, rule_code, rule_name, level, "
    "figures, threshold, policy_items, reason, departments, measure, severity, suppressed)"
)
INTO_RULE_SOURCES = (
    "INSERT INTO monitoring.rule_sources (as_of_date, subject_id, rule_code, feed, source_file, source_row)"
)
INTO_RULE_STATUS = "INSERT INTO monitoring.rule_status (as_of_date, rule_code, evaluated, reason, hits)"

# Which rows of a feed stand behind a hit: the date column, and how far back as the policy's
# window the features use (the key of policy.rules and its unit; None = all known).
SOURCE_WINDOWS = {
    "mz_verification": ("verification_date", ("verification_max_age_months", "MONTH")),
    "mz_assistance": ("start_date", None),
    "yb_settlements": ("settlement_date", ("medical_window_months", "MONTH")),
    "wj_diagnoses": ("diagnosis_date", ("serious_illness_window_months", "MONTH")),
    "wj_deaths": ("death_date", ("emergency_window_days", "DAY")),
    "rs_employment": ("registration_date", None),
    "xf_petitions": ("registration_date", ("petition_window_days", "DAY")),
}


def _window(feed: str, policy: Policy) -> tuple[str, dict]:
    """The feed's window as SQL over its rows s (after its date <= $as_of) and the value it binds."""
    column, window = SOURCE_WINDOWS[feed]
    if window is None:
        return "", {}
    key, unit = window
    return f" AND s.{column} > $as_of - INTERVAL ($window) {unit}", {"window": getattr(policy.rules, key)}


@dataclass
class NightList:
    hits: int
    warnings: int
    new: int
    escalated: int
    resolved: int
    not_evaluated: list[tuple[str, str]]


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(values) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]::VARCHAR[]"


def build_warnings(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> NightList:
    """The night's list in one transaction: a failure leaves the night's tables as they were.
    Its tables are created with the warehouse (warehouse/ddl/monitoring.sql). The townships'
    feedback was checked before (transform/monitoring/feedback.py, the asset audit/township_feedback):
    only what stands is used."""
    install_macros(con)
    with transaction(con):
        return _build_warnings(con, as_of, policy)


def build_hits(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> None:
    """Only the night's rule hits (monitoring.rule_hits, rule_status) as build_warnings makes them: the
    feeds' gates, persons outside the roster, 情况不属实 holding codes back, M01 for the households no
    rule flags; not the rows behind them nor the warnings' episodes. In the caller's transaction (a
    policy simulation, which rolls it back)."""
    install_macros(con)
    _build_hits(con, as_of, policy)


def _build_warnings(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> NightList:
    not_evaluated, params = _build_hits(con, as_of, policy)
    _sources(con, as_of, policy)
    _episodes(con, params)
    hits, warnings, new, escalated, resolved = con.execute(
        """SELECT (SELECT count(*) FROM monitoring.rule_hits WHERE as_of_date = $d AND NOT suppressed),
                  (SELECT count(*) FROM monitoring.warnings WHERE as_of_date = $d),
                  (SELECT count(*) FROM monitoring.warnings WHERE as_of_date = $d AND status = 'new'),
                  (SELECT count(*) FROM monitoring.warnings WHERE as_of_date = $d AND status = 'escalated'),
                  (SELECT count(*) FROM monitoring.resolved_warnings WHERE as_of_date = $d)""",
        {"d": as_of},
    ).fetchall()[0]
    return NightList(hits, warnings, new, escalated, resolved, not_evaluated)


def _build_hits(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> tuple[list[tuple[str, str]], dict]:
    """The night's rows cleared, then its rule hits and each rule's status; returns the rules not
    evaluated (code, reason) and the parameters the episodes' SQL binds."""
    for table in NIGHT_TABLES:
        con.execute(f"DELETE FROM monitoring.{table} WHERE as_of_date = ?", [as_of])
    gate = {
        feed: problems
        for feed, usable, problems in con.execute(
            "SELECT feed, usable, problems FROM audit.feed_gate WHERE as_of_date = ?", [as_of]
        ).fetchall()
        if not usable
    }
    not_evaluated = []
    for rule in FEATURE_RULES:
        blocked = [f for f in rule.feeds if f in gate]
        if blocked:
            reason = "；".join(f"{f}今晚不可用（{gate[f]}）" for f in blocked)
            con.execute(f"{INTO_RULE_STATUS} VALUES (?, ?, false, ?, NULL)", [as_of, rule.code, reason])
            not_evaluated.append((rule.code, reason))
            continue
        con.execute(_household_hits_sql(rule, policy), {"d": as_of})
    params = _parameters(con, as_of, policy, closed=sorted(gate))
    _run(con, "outsider_hits", params)
    _run(con, "suppress", params)
    _model_hits(con, as_of, policy)
    for rule in FEATURE_RULES:
        if rule.code not in dict(not_evaluated):
            con.execute(
                f"""{INTO_RULE_STATUS}
                   SELECT ?, ?, true, NULL, count(*) FROM monitoring.rule_hits WHERE as_of_date = ? AND rule_code = ?""",
                [as_of, rule.code, as_of, rule.code],
            )
    return not_evaluated, params


def _household_hits_sql(rule: Rule, policy: Policy) -> str:
    """The rule's hits among roster households; the night's date is the parameter $d."""
    figures = ", ".join(f"{_lit(k)}, {render(v, policy)}" for k, v in rule.figures.items())
    return f"""
{INTO_RULE_HITS}
SELECT $d, 'household', f.household_id, {_lit(rule.code)}, {_lit(rule.name)},
       {_lit(policy.level_of(rule.code))}, json_object({figures}), ({render(rule.threshold, policy)})::VARCHAR,
       {_lit(rule.policy_items)}, {render(rule.reason, policy)}, {_list(rule.departments)},
       {_lit(render(rule.measure, policy))}, ({render(rule.severity, policy)})::DOUBLE, false
FROM core.household_features f
WHERE coalesce(({render(rule.predicate, policy)}), false)
"""


def _run(con: duckdb.DuckDBPyConnection, step: str, params: dict) -> None:
    feeds = relations(current_feeds(con, params["as_of"]))  # tonight's rows as staging marked them
    names = feeds | {
        "valid_feedback": valid_feedback(),
        "hardship_petitions": hardship_petitions(feeds["xf_petitions"]),
    }
    run_file(con, SQL_DIR / f"{step}.sql", names, params)


def _episodes(con: duckdb.DuckDBPyConnection, params: dict) -> None:
    """Tonight's hits as warnings: carried from the previous night or new, answered, escalated, ended."""
    for step in EPISODES:
        _run(con, step, params)
    con.execute("DROP TABLE _jz_tonight; DROP TABLE _jz_feedback")


def _parameters(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy, closed: list[str]) -> dict:
    """Every value the .sql files may bind, by name; ``closed``: the feeds the night's gate closed."""
    rules, episodes = asdict(policy.rules), policy.episodes
    days = episodes.response_days
    towns = load_townships()
    prev = con.execute("SELECT max(as_of_date) FROM monitoring.warnings WHERE as_of_date < ?", [as_of]).fetchall()
    return {
        "as_of": as_of,
        "prev": prev[0][0],  # the previous night's list, NULL on the first night
        "closed_feeds": closed,
        "level_order": list(LEVEL_ORDER),
        "response_days": {"key": list(days), "value": [int(n) for n in days.values()]},  # a DuckDB MAP
        "not_true_suppression_days": int(episodes.not_true_suppression_days),
        "worse_by": policy_number(episodes.worse_by),
        "fallback_township": FALLBACK_TOWNSHIP,
        "township_codes": [t.code for t in towns],
        "township_names": [t.official_name for t in towns],
        "outsider_rules": _outsider_rules(policy),
    } | {
        name: policy_number(rules[name])
        for name in (
            "medical_out_of_pocket_threshold",
            "medical_window_months",
            "petition_window_days",
            "petition_categories",
            "hardship_words",
        )
    }


def _outsider_rules(policy: Policy) -> list[dict]:
    """What outsider_hits.sql writes beside each hit of its codes (a list of DuckDB STRUCTs)."""
    by_code = {rule.code: rule for rule in RULES}
    return [
        {
            "code": code,
            "name": by_code[code].name,
            "level": policy.level_of(code),
            "policy_items": by_code[code].policy_items,
            "departments": list(by_code[code].departments),
            "measure": render(by_code[code].measure, policy),
        }
        for code in OUTSIDER_RULES
    ]


def _model_hits(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> None:
    """M01 (models.rules): no rule fires, but the model's probability is at or above the policy's threshold."""
    rule = MODEL_RULE
    figures = ", ".join(f"{_lit(k)}, {render(v, policy)}" for k, v in rule.figures.items())
    con.execute(
        f"""{INTO_RULE_HITS}
            SELECT s.as_of_date, 'household', s.household_id, {_lit(rule.code)}, {_lit(rule.name)},
                   {render(rule.level, policy)}, json_object({figures}), ({render(rule.threshold, policy)})::VARCHAR,
                   {_lit(rule.policy_items)}, {render(rule.reason, policy)}, {_list(rule.departments)},
                   {_lit(render(rule.measure, policy))}, ({render(rule.severity, policy)})::DOUBLE, false
            FROM monitoring.household_scores s
            WHERE s.as_of_date = $d AND coalesce(({render(rule.predicate, policy)}), false)
              AND s.household_id NOT IN (SELECT subject_id FROM monitoring.rule_hits WHERE as_of_date = $d AND NOT suppressed)""",
        {"d": as_of},
    )


# Where a hit's rows of a feed are found: the household's own (verifications), its members', or the
# person's own (outsider_hits.sql's persons outside the roster)
SOURCE_JOINS = {
    "verification": "JOIN {rel} s ON s.household_id = h.subject_id",
    "household": "JOIN core.household_members m ON m.household_id = h.subject_id "
    "JOIN restricted.person_ids p USING (person_key) JOIN {rel} s ON s.id_number = p.id_number",
    "person": "JOIN restricted.person_ids p ON p.person_key = h.subject_id JOIN {rel} s ON s.id_number = p.id_number",
}


def _sources(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> None:
    """The rows behind each hit: per subject type, rule and feed, the rows of the household's members
    (the household's own, for verifications) or of the person outside the roster, within the feed's
    window (SOURCE_WINDOWS; $window, bound)."""
    r, by_code = relations(current_feeds(con, as_of)), {rule.code: rule for rule in RULES}
    searches = [("household", rule.code, feed) for rule in RULES for feed in rule.feeds if feed in SOURCE_WINDOWS]
    searches += [("person", code, feed) for code in OUTSIDER_RULES for feed in by_code[code].feeds]
    for subject, code, feed in searches:
        join = SOURCE_JOINS["verification" if feed == "mz_verification" else subject]
        column = SOURCE_WINDOWS[feed][0]
        window, bound = _window(feed, policy)
        con.execute(
            f"""{INTO_RULE_SOURCES}
                SELECT DISTINCT h.as_of_date, h.subject_id, h.rule_code, $feed, s.source_file, s.source_row
                FROM monitoring.rule_hits h {join.format(rel=r[feed])}
                WHERE h.as_of_date = $as_of AND h.subject_type = $subject AND h.rule_code = $code
                  AND s.{column} <= $as_of{window}""",
            {"as_of": as_of, "feed": feed, "code": code, "subject": subject} | bound,
        )
