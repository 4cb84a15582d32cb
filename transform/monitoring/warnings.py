"""The night's warning list: rule hits (models.rules) for date D, the records behind them,
warning episodes carried from the previous night, township feedback applied, and the
warnings that ended. Rebuilding a night replaces that night's rows only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from jiuzhu.config import FALLBACK_TOWNSHIP, load_townships
from jiuzhu.policy import Policy
from models.rules import FEATURE_RULES, LEVEL_ORDER, MODEL_RULE, RULES, Rule, render
from transform.as_of import relations
from transform.monitoring.feedback import valid_feedback
from warehouse.macros import install_macros
from warehouse.resource import transaction

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

# Which rows of a feed stand behind a hit: the date column and how far back (days; None = all known).
SOURCE_WINDOWS = {
    "mz_verification": ("verification_date", 366),
    "mz_assistance": ("start_date", None),
    "yb_settlements": ("settlement_date", 366),
    "wj_diagnoses": ("diagnosis_date", 731),
    "wj_deaths": ("death_date", 90),
    "rs_employment": ("registration_date", None),
    "xf_petitions": ("registration_date", 90),
}


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


def _build_warnings(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> NightList:
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
    outsiders = _outsider_hits_sql(as_of, policy, gate)
    if outsiders is not None:
        con.execute(outsiders, {"d": as_of})
    _suppress(con, as_of, policy)
    _model_hits(con, as_of, policy)
    for rule in FEATURE_RULES:
        if rule.code not in dict(not_evaluated):
            con.execute(
                f"""{INTO_RULE_STATUS}
                   SELECT ?, ?, true, NULL, count(*) FROM monitoring.rule_hits WHERE as_of_date = ? AND rule_code = ?""",
                [as_of, rule.code, as_of, rule.code],
            )
    _sources(con, as_of)
    _outsider_sources(con, as_of)
    _episodes(con, as_of, policy)
    hits, warnings, new, escalated, resolved = con.execute(
        """SELECT (SELECT count(*) FROM monitoring.rule_hits WHERE as_of_date = $d AND NOT suppressed),
                  (SELECT count(*) FROM monitoring.warnings WHERE as_of_date = $d),
                  (SELECT count(*) FROM monitoring.warnings WHERE as_of_date = $d AND status = 'new'),
                  (SELECT count(*) FROM monitoring.warnings WHERE as_of_date = $d AND status = 'escalated'),
                  (SELECT count(*) FROM monitoring.resolved_warnings WHERE as_of_date = $d)""",
        {"d": as_of},
    ).fetchall()[0]
    return NightList(hits, warnings, new, escalated, resolved, not_evaluated)


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


def _outsider_hits_sql(as_of: dt.date, policy: Policy, gate: dict) -> str | None:
    """Persons outside the roster: medical spending (R03) and hardship petitions (R08); the night's
    date is the parameter $d. None when the gate closed both feeds."""
    r, d = relations(as_of), "$d"
    rules = policy.rules
    line = rules.medical_out_of_pocket_threshold
    r03, r08 = next(x for x in RULES if x.code == "R03"), next(x for x in RULES if x.code == "R08")
    parts = []
    if "yb_settlements" not in gate:
        parts.append(f"""
SELECT o.person_key, 'R03' AS code, sum(s.out_of_pocket) AS figure, count(*) FILTER (WHERE s.reverses IS NULL) AS n,
       '近12个月医疗自付 ' || format('{{:,.0f}}', sum(s.out_of_pocket)::DOUBLE) || ' 元（医保结算 ' ||
       count(*) FILTER (WHERE s.reverses IS NULL) || ' 笔，冲销已扣除），超过预警线 {line:,} 元' AS reason
FROM core.persons_outside_roster o JOIN restricted.person_ids p USING (person_key)
JOIN {r["yb_settlements"]} s ON s.id_number = p.id_number
WHERE s.settlement_date <= {d} AND s.settlement_date > {d} - INTERVAL {int(rules.medical_window_months)} MONTH
GROUP BY o.person_key HAVING sum(s.out_of_pocket) >= {line}""")
    if "xf_petitions" not in gate:
        categories = ", ".join(_lit(c) for c in rules.petition_categories)
        # the same words as for households: hardship "whatever its category" (R08)
        hardship = " OR ".join(f"contains(coalesce(x.petition_text, ''), {_lit(w)})" for w in rules.hardship_words)
        parts.append(f"""
SELECT o.person_key, 'R08' AS code, count(*) AS figure, count(*) AS n,
       '近90天有 ' || count(*) || ' 件反映生活困难的信访（不在民政名册）' AS reason
FROM core.persons_outside_roster o JOIN restricted.person_ids p USING (person_key)
JOIN {r["xf_petitions"]} x ON x.id_number = p.id_number
WHERE x.registration_date <= {d} AND x.registration_date > {d} - INTERVAL {int(rules.petition_window_days)} DAY
  AND (x.petition_category IN ({categories}) OR {hardship})
GROUP BY o.person_key""")
    if not parts:
        return None
    meta = {x.code: x for x in (r03, r08)}
    cases = lambda attr: (
        "CASE code "
        + " ".join(  # noqa: E731
            f"WHEN '{c}' THEN {_lit(attr(x))}" for c, x in meta.items()
        )
        + " END"
    )
    return f"""
{INTO_RULE_HITS}
SELECT {d}, 'person', person_key, code, {cases(lambda x: x.name)},
       CASE code WHEN 'R03' THEN {_lit(policy.level_of("R03"))} ELSE {_lit(policy.level_of("R08"))} END,
       json_object('figure', figure, 'records', n), CASE code WHEN 'R03' THEN '{line}' ELSE '近90天困难类信访' END,
       {cases(lambda x: x.policy_items)}, reason,
       CASE code WHEN 'R03' THEN {_list(r03.departments)} ELSE {_list(r08.departments)} END,
       CASE code WHEN 'R03' THEN {_lit(render(r03.measure, policy))} ELSE {_lit(render(r08.measure, policy))} END,
       figure::DOUBLE, false
FROM ({" UNION ALL ".join(parts)})
"""


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


def _suppress(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> None:
    """情况不属实 holds back the same codes for a while, unless the figures got worse."""
    ep = policy.episodes
    con.execute(
        f"""UPDATE monitoring.rule_hits h SET suppressed = true FROM (
                SELECT DISTINCT w.subject_id, code, prev.severity AS severity_then
                FROM {valid_feedback(as_of)} fb
                JOIN monitoring.warnings w ON w.warning_id = fb.warning_id
                     AND w.as_of_date = (SELECT max(as_of_date) FROM monitoring.warnings w2
                                         WHERE w2.warning_id = fb.warning_id AND w2.as_of_date <= fb.check_date)
                CROSS JOIN unnest(w.rule_codes) AS u(code)
                LEFT JOIN monitoring.rule_hits prev ON prev.as_of_date = w.as_of_date
                     AND prev.subject_id = w.subject_id AND prev.rule_code = code
                WHERE fb.check_result = '情况不属实' AND fb.check_date <= $d
                  AND fb.check_date > $d - INTERVAL {int(ep.not_true_suppression_days)} DAY
            ) s
            WHERE h.as_of_date = $d AND h.subject_id = s.subject_id AND h.rule_code = s.code
              AND (s.severity_then IS NULL OR h.severity <= s.severity_then * (1 + {float(ep.worse_by)}))""",
        {"d": as_of},
    )


def _sources(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    r, d = relations(as_of), "$d"
    for rule in RULES:
        for feed in rule.feeds:
            if feed not in SOURCE_WINDOWS:
                continue
            column, days = SOURCE_WINDOWS[feed]
            window = f" AND s.{column} > {d} - INTERVAL {days} DAY" if days else ""
            if feed == "mz_verification":
                join = "JOIN {rel} s ON s.household_id = h.subject_id"
            else:
                join = (
                    "JOIN core.household_members m ON m.household_id = h.subject_id "
                    "JOIN restricted.person_ids p USING (person_key) JOIN {rel} s ON s.id_number = p.id_number"
                )
            con.execute(
                f"""{INTO_RULE_SOURCES}
                    SELECT DISTINCT h.as_of_date, h.subject_id, h.rule_code, '{feed}', s.source_file, s.source_row
                    FROM monitoring.rule_hits h {join.format(rel=r[feed])}
                    WHERE h.as_of_date = {d} AND h.subject_type = 'household' AND h.rule_code = '{rule.code}'
                      AND s.{column} <= {d}{window}""",
                {"d": as_of},
            )


def _outsider_sources(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    r, d = relations(as_of), "$d"
    for code, feed in (("R03", "yb_settlements"), ("R08", "xf_petitions")):
        column, days = SOURCE_WINDOWS[feed]
        con.execute(
            f"""{INTO_RULE_SOURCES}
                SELECT DISTINCT h.as_of_date, h.subject_id, h.rule_code, '{feed}', s.source_file, s.source_row
                FROM monitoring.rule_hits h JOIN restricted.person_ids p ON p.person_key = h.subject_id
                JOIN {r[feed]} s ON s.id_number = p.id_number
                WHERE h.as_of_date = {d} AND h.subject_type = 'person' AND h.rule_code = '{code}'
                  AND s.{column} <= {d} AND s.{column} > {d} - INTERVAL {days} DAY""",
            {"d": as_of},
        )


def _episodes(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> None:
    d = "$d"  # the night's date, bound; $prev: the previous night's, NULL on the first night
    rank = "CASE {} " + " ".join(f"WHEN '{lv}' THEN {i}" for i, lv in enumerate(LEVEL_ORDER)) + " END"
    towns = " UNION ALL ".join(f"SELECT '{t.code}' AS code, '{t.official_name}' AS name" for t in load_townships())
    response = " ".join(f"WHEN '{lv}' THEN {int(n)}" for lv, n in policy.episodes.response_days.items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jz_tonight AS
            WITH hits AS (SELECT * FROM monitoring.rule_hits WHERE as_of_date = {d} AND NOT suppressed),
            subjects AS (
                SELECT subject_id, any_value(subject_type) AS subject_type,
                       arg_min(level, {rank.format("level")}) AS level,
                       list(rule_code ORDER BY rule_code) AS rule_codes,
                       list_sort(list_distinct(flatten(list(departments)))) AS departments,
                       string_agg(rule_code || ' ' || rule_name || '：' || reason, '；' ORDER BY rule_code) AS reasons,
                       string_agg(DISTINCT measure, '；' ORDER BY measure) AS measures  -- in a fixed order
                FROM hits GROUP BY subject_id
            ), towns AS ({towns})
            SELECT s.*,
                   CASE WHEN s.subject_type = 'household' THEN s.subject_id END AS household_id,
                   CASE WHEN s.subject_type = 'person' THEN jz_mask(p.id_number) END AS person_masked_id,
                   coalesce(h.township_code, o.township_code, '{FALLBACK_TOWNSHIP}') AS township_code,
                   h.village
            FROM subjects s
            LEFT JOIN core.households h ON s.subject_type = 'household' AND h.household_id = s.subject_id
            LEFT JOIN core.persons_outside_roster o ON s.subject_type = 'person' AND o.person_key = s.subject_id
            LEFT JOIN restricted.person_ids p ON s.subject_type = 'person' AND p.person_key = s.subject_id""",
        {"d": as_of},
    )
    prev_date = con.execute("SELECT max(as_of_date) FROM monitoring.warnings WHERE as_of_date < ?", [as_of]).fetchall()[
        0
    ][0]
    scores = f"(SELECT household_id, risk_score FROM monitoring.household_scores WHERE as_of_date = {d})"
    prev = "(SELECT * FROM monitoring.warnings WHERE as_of_date = $prev)"
    nights = {"d": as_of, "prev": prev_date}
    # each warning's answers that stand: the latest (shown), and the first (kept its deadline?)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jz_feedback AS
            SELECT warning_id, arg_max(check_result || coalesce('，' || measure, '') || '（' || strftime(check_date, '%Y-%m-%d') || '）',
                                       (check_date, file_id, source_row)) AS last_feedback,
                   min(check_date) AS first_feedback_on
            FROM {valid_feedback(as_of)} WHERE check_date <= {d} GROUP BY warning_id""",
        {"d": as_of},
    )
    # due_on: the response days of the warning's level from the night it was issued, or from the
    # night its level last rose; an unanswered warning past it escalates (as before) every night
    con.execute(
        f"""INSERT INTO monitoring.warnings (as_of_date, warning_id, household_id, person_masked_id, township_code,
                township_name, village, level, rule_codes, risk_score, departments, reasons, status, first_flagged_on,
                subject_id, measures, last_feedback, level_since, due_on, first_feedback_on)
            WITH fb AS (SELECT * FROM _jz_feedback), towns AS ({towns}),
            joined AS (
                SELECT t.*, p.warning_id AS prev_id, p.first_flagged_on AS prev_first, p.level AS prev_level,
                       coalesce(p.level_since, p.first_flagged_on) AS prev_level_since
                FROM _jz_tonight t LEFT JOIN {prev} p ON p.subject_id = t.subject_id
            ),
            numbered AS (
                SELECT *, row_number() OVER (PARTITION BY prev_id IS NULL ORDER BY township_code, subject_id) AS n,
                       CASE WHEN prev_id IS NULL OR {rank.format("level")} < {rank.format("prev_level")} THEN {d}
                            ELSE prev_level_since END AS level_since
                FROM joined
            )
            SELECT {d}, coalesce(prev_id, 'YJ-' || strftime({d}, '%Y%m%d') || '-' || lpad(n::VARCHAR, 6, '0')),
                   numbered.household_id, person_masked_id, township_code, towns.name, village, level, rule_codes, sc.risk_score,
                   departments, reasons,
                   CASE WHEN prev_id IS NULL THEN 'new'
                        WHEN {rank.format("level")} < {rank.format("prev_level")} THEN 'escalated'
                        WHEN fb.last_feedback IS NULL AND {d} - prev_first > CASE level {response} END THEN 'escalated'
                        ELSE 'continuing' END,
                   coalesce(prev_first, {d}), subject_id, measures, fb.last_feedback,
                   level_since, level_since + CAST(CASE level {response} END AS INTEGER), fb.first_feedback_on
            FROM numbered JOIN towns ON towns.code = township_code
            LEFT JOIN fb ON fb.warning_id = prev_id
            LEFT JOIN {scores} sc ON sc.household_id = numbered.household_id""",
        nights,
    )
    # why each warning ended, in words a township reads
    con.execute(
        f"""INSERT INTO monitoring.resolved_warnings (as_of_date, warning_id, household_id, person_masked_id,
                township_code, township_name, village, last_level, rule_codes, first_flagged_on, last_flagged_on, outcome,
                ended_because)
            WITH fb AS (SELECT * FROM _jz_feedback)  -- also an answer that came back the night it ended
            SELECT {d}, p.warning_id, p.household_id, p.person_masked_id, p.township_code, p.township_name, p.village,
                   p.level, p.rule_codes, p.first_flagged_on, p.as_of_date, coalesce(fb.last_feedback, p.last_feedback),
                   CASE WHEN EXISTS (SELECT 1 FROM monitoring.rule_hits h
                                     WHERE h.as_of_date = {d} AND h.subject_id = p.subject_id AND h.suppressed)
                            THEN '镇街核查反馈情况不属实，暂停预警（情况明显变化时会再次预警）'
                        WHEN p.household_id IS NOT NULL AND h.household_id IS NULL
                            THEN '该户已不在民政名册中'
                        WHEN f.on_dibao > 0 THEN '家中已有人纳入低保'
                        WHEN f.on_tekun > 0 THEN '家中已有人纳入特困供养'
                        ELSE '预警条件不再满足（' || array_to_string(p.rule_codes, '、') || ' 今晚均未命中）' END
            FROM {prev} p
            LEFT JOIN fb ON fb.warning_id = p.warning_id
            LEFT JOIN core.households h ON h.household_id = p.household_id
            LEFT JOIN core.household_features f ON f.household_id = p.household_id
            WHERE p.subject_id NOT IN (SELECT subject_id FROM _jz_tonight)""",
        nights,
    )
    # 已在保 reported, but the rolls show no one on assistance: the rolls lag behind
    con.execute(
        f"""INSERT INTO monitoring.data_lag_cases (as_of_date, warning_id, household_id, check_date, note)
            SELECT DISTINCT {d}, fb.warning_id, w.household_id, fb.check_date,
                   '镇街反馈“已在保”，但救助名册中该户无人在保：请县民政局核实名册是否滞后'
            FROM {valid_feedback(as_of)} fb
            JOIN monitoring.warnings w ON w.warning_id = fb.warning_id AND w.as_of_date = {d}
            JOIN core.household_features f ON f.household_id = w.household_id
            WHERE fb.check_result = '已在保' AND fb.check_date <= {d} AND fb.check_date > {d} - INTERVAL 30 DAY
              AND f.on_dibao + f.on_tekun + f.on_dibao_edge = 0""",
        {"d": as_of},
    )
    con.execute("DROP TABLE _jz_tonight; DROP TABLE _jz_feedback")
