"""The warning rules of RULES.md as data: each rule is a predicate over one household's
features (core.household_features, alias f), the figures that decide it, a reason in
plain Chinese, the departments that must act, and the feeds it needs. M01, the risk
model's warning, is one of them: its predicate is over the household's score
(monitoring.household_scores, alias s), and it warns only households no other rule flags.

Every number comes from the policy file in force on the as-of date; nothing here is
a threshold. `render` writes a policy's numbers into a rule's SQL, `describe` into its
plain-Chinese condition (docs/rules.md, the workbooks' rule sheet).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from jiuzhu.policy import LEVELS, Policy


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    departments: tuple[str, ...]
    policy_items: str
    feeds: tuple[str, ...]  # feeds whose gate must be open for the rule to be evaluated
    predicate: str  # SQL over f (household features; M01: s, its score) and {policy placeholders}
    figures: dict[str, str]  # name -> SQL: the figures that decided it
    threshold: str  # SQL text of the line that was crossed
    reason: str  # SQL giving the Chinese sentence
    measure: str  # the help the policy allows, in Chinese
    severity: str = "1"  # SQL, higher = worse: township feedback 情况不属实 holds until this grows
    when: str = ""  # when it fires, in plain Chinese, with {placeholders} of the policy (describe())
    model: bool = False  # decided by the risk model's score (s) for households no other rule flags
    level: str = ""  # SQL of a level that depends on the figures (M01); "": the policy file's level for the code


def _money(expr: str) -> str:
    """SQL that writes an amount as 28,000. (Braces doubled: rule text goes through str.format.)"""
    return f"format('{{{{:,.0f}}}}', ({expr})::DOUBLE)"


STANDARD = "f.dibao_standard"
INCOME = "f.per_capita_monthly_income"

RULES: tuple[Rule, ...] = (
    Rule(
        "R01",
        "疑似应保未保",
        ("县民政局",),
        "1, 15",
        ("mz_verification", "mz_assistance"),
        f"{INCOME} < {STANDARD} AND coalesce(f.verification_result, '') <> '不符合' AND f.on_dibao = 0 AND f.on_tekun = 0",
        {
            "per_capita_monthly_income": INCOME,
            "standard": STANDARD,
            "verification_date": "f.verification_date",
            "verification_result": "f.verification_result",
        },
        f"{STANDARD}",
        f"'核对人均月收入 ' || {_money(INCOME)} || ' 元，低于低保标准 ' || {_money(STANDARD)} || ' 元（' || "
        "strftime(f.verification_date, '%Y-%m-%d') || ' 核对，结论' || coalesce(f.verification_result, '未填') || '），家中无人享受低保或特困'",
        "纳入低保审核（入户调查、家庭经济状况核对）",
        f"{STANDARD} - {INCOME}",
        when="家庭经济状况核对的人均月收入低于低保标准（城市 {dibao_standard_urban} 元、农村 {dibao_standard_rural} 元/人·月，按户主户口性质；核对结果不超过 {verification_max_age_months} 个月），核对结论不是“不符合”，且家中无人享受低保或特困",
    ),
    Rule(
        "R02",
        "低保边缘监测",
        ("县民政局",),
        "13, 15",
        ("mz_verification", "mz_assistance"),
        f"{INCOME} >= {STANDARD} AND {INCOME} < {{dibao_edge_multiple}} * {STANDARD} "
        "AND f.on_dibao = 0 AND f.on_tekun = 0 AND f.on_dibao_edge = 0",
        {
            "per_capita_monthly_income": INCOME,
            "standard": STANDARD,
            "edge_line": f"{{dibao_edge_multiple}} * {STANDARD}",
        },
        f"{{dibao_edge_multiple}} * {STANDARD}",
        f"'核对人均月收入 ' || {_money(INCOME)} || ' 元，介于低保标准 ' || {_money(STANDARD)} || ' 元与 ' || "
        f"{_money('{dibao_edge_multiple} * ' + STANDARD)} || ' 元（{{dibao_edge_multiple}} 倍）之间，未纳入低保边缘'",
        "认定为低保边缘家庭，纳入动态监测和专项救助",
        f"{{dibao_edge_multiple}} * {STANDARD} - {INCOME}",
        when="核对人均月收入不低于低保标准、但低于低保标准的 {dibao_edge_multiple} 倍，且家中无人享受低保、特困或低保边缘",
    ),
    Rule(
        "R03",
        "支出型困难(医疗)",
        ("县民政局", "县医保局"),
        "3, 8",
        ("yb_settlements",),
        f"f.oop_12m >= {{medical_out_of_pocket_threshold}} OR (f.annual_income IS NOT NULL "
        f"AND (f.annual_income - f.oop_12m) / 12 / f.members < {STANDARD} AND {INCOME} >= {STANDARD})",
        {
            "out_of_pocket_12m": "f.oop_12m",
            "settlements_12m": "f.settlements_12m",
            "threshold": "{medical_out_of_pocket_threshold}",
            "income_after_medical_per_capita": "round((f.annual_income - f.oop_12m) / 12 / f.members, 2)",
        },
        "{medical_out_of_pocket_threshold}",
        f"'近{{medical_window_months}}个月医疗自付 ' || {_money('f.oop_12m')} || ' 元（医保结算 ' || f.settlements_12m || ' 笔，冲销已扣除）' || "
        f"CASE WHEN f.oop_12m >= {{medical_out_of_pocket_threshold}} THEN '，超过预警线 ' || {_money('{medical_out_of_pocket_threshold}')} || ' 元' "
        f"ELSE '；扣除医疗支出后人均月收入 ' || {_money('(f.annual_income - f.oop_12m) / 12 / f.members')} || ' 元，低于低保标准 ' || {_money(STANDARD)} || ' 元' END",
        "临时救助（重大疾病）{temporary_assistance_serious_illness} 倍城市低保标准，即 {ta_low}–{ta_high} 元；医疗救助",
        "f.oop_12m",
        when="全家近 {medical_window_months} 个月医保个人自付（冲销已扣除）达到 {medical_out_of_pocket_threshold} 元；或收入本身不低于低保标准，但扣除这笔医疗支出后的人均月收入低于低保标准",
    ),
    Rule(
        "R04",
        "零就业家庭",
        ("县人社局",),
        "6",
        ("rs_employment",),
        "f.able_to_work >= 1 AND f.able_unemployed = f.able_to_work",
        {"working_age_able": "f.able_to_work", "registered_unemployed": "f.able_unemployed"},
        "'全部劳动年龄有劳动能力成员失业'",
        "'家中 ' || f.able_to_work || ' 名劳动年龄内有劳动能力的成员均已失业登记、无就业登记（零就业家庭）'",
        "就业援助：公益性岗位托底安置，确保动态清零",
        "f.able_unemployed",
        when="家中有 {working_age_low}–{working_age_high} 岁、有劳动能力（完全或部分）的成员，且这些成员都有有效的失业登记、没有有效的就业登记",
    ),
    Rule(
        "R05",
        "重残重病单人户",
        ("县民政局",),
        "1",
        ("wj_diagnoses", "mz_assistance", "mz_verification"),
        f"f.severe_not_covered > 0 AND {INCOME} < {{dibao_edge_multiple}} * {STANDARD}",
        {
            "severe_not_covered": "f.severe_not_covered",
            "per_capita_monthly_income": INCOME,
            "line": f"{{dibao_edge_multiple}} * {STANDARD}",
        },
        f"{{dibao_edge_multiple}} * {STANDARD}",
        f"'核对人均月收入 ' || {_money(INCOME)} || ' 元（' || strftime(f.verification_date, '%Y-%m-%d') || ' 核对），"
        f"低于低保标准的 {{dibao_edge_multiple}} 倍（' || {_money('{dibao_edge_multiple} * ' + STANDARD)} || ' 元），"
        "有一级/二级残疾或近{serious_illness_window_months}个月大病、未享受低保特困的成员：' || f.severe_not_covered_detail",
        "按单人户纳入低保",
        "f.severe_not_covered",
        when="有一级/二级残疾、或近 {serious_illness_window_months} 个月确诊大病的成员未享受低保或特困，且家庭核对人均月收入低于低保标准的 {dibao_edge_multiple} 倍",
    ),
    Rule(
        "R06",
        "特困供养应延未延",
        ("县民政局",),
        "2",
        ("mz_assistance",),
        "f.tekun_extension_candidates > 0",
        {"persons": "f.tekun_extension_candidates"},
        "'未满18周岁，或全日制在读（研究生以下）'",
        "'特困供养或孤儿保障已终止的成员 ' || f.tekun_extension_candidates || ' 人，未满18周岁或仍在全日制就读（研究生以下），应延长保障'",
        "恢复特困供养（延长至18周岁或毕业）",
        "f.tekun_extension_candidates",
        when="特困供养或孤儿保障已终止的人，现在未满 {tekun_child_age_limit} 周岁，或已满 {tekun_child_age_limit} 周岁但仍全日制在读（{tekun_extension_max_school}）",
    ),
    Rule(
        "R08",
        "信访困难诉求",
        ("县民政局", "县信访局"),
        "13",
        ("xf_petitions",),
        "f.hardship_petitions_90d > 0",
        {"petitions_90d": "f.hardship_petitions_90d", "categories": "f.petition_categories"},
        "'近{petition_window_days}天困难类信访'",
        "'近{petition_window_days}天有 ' || f.hardship_petitions_90d || ' 件反映生活困难的信访' || "
        "coalesce('（' || nullif(array_to_string(f.petition_categories, '、'), '') || '）', '') || "
        "coalesce('：“' || f.hardship_petition_detail || '”', '')",
        "入户核实诉求，按情况给予临时救助或纳入低保",
        "f.hardship_petitions_90d",
        when="成员近 {petition_window_days} 天登记的信访，问题类别为{petition_categories}之一，或诉求内容说明家庭困难（不论类别：含{hardship_words}之一，或信访文本分类器读出困难，原因中引用这句话）",
    ),
    Rule(
        "R09",
        "急难事件",
        ("县民政局",),
        "8",
        ("wj_deaths", "rs_insurance", "wj_diagnoses", "rs_employment"),
        "f.earner_deaths_90d > 0 OR f.first_serious_illness_90d > 0 OR (f.contributors_newly_unemployed_90d > 0 AND f.contributors_6m = 1)",
        {
            "earner_deaths_90d": "f.earner_deaths_90d",
            "first_serious_illness_90d": "f.first_serious_illness_90d",
            "only_contributor_unemployed": "(f.contributors_newly_unemployed_90d > 0 AND f.contributors_6m = 1)",
        },
        "'近{emergency_window_days}天'",
        "concat_ws('；', "
        "CASE WHEN f.earner_deaths_90d > 0 THEN '近{emergency_window_days}天有劳动年龄、死亡前{contribution_window_months}个月仍缴纳职工养老保险的成员死亡：' || f.earner_deaths_detail END, "
        "CASE WHEN f.first_serious_illness_90d > 0 THEN '近{emergency_window_days}天有成员首次确诊大病：' || f.first_serious_illness_detail END, "
        "CASE WHEN f.contributors_newly_unemployed_90d > 0 AND f.contributors_6m = 1 "
        "THEN '近{contribution_window_months}个月唯一缴费的成员近{emergency_window_days}天失业登记：' || f.newly_unemployed_detail END)",
        "临时救助（急难型，先行救助）{temporary_assistance_serious_illness} 倍城市低保标准，即 {ta_low}–{ta_high} 元",
        "f.earner_deaths_90d + f.first_serious_illness_90d + f.contributors_newly_unemployed_90d",
        when="近 {emergency_window_days} 天内：{working_age_low}–{working_age_high} 岁、死亡前 {contribution_window_months} 个月仍缴纳职工养老保险的成员死亡；或有成员首次确诊大病；或近 {contribution_window_months} 个月唯一缴费的成员失业登记",
    ),
    Rule(
        "R10",
        "救助复核",
        ("县民政局",),
        "16, 19",
        ("mz_assistance", "wj_deaths", "mz_verification"),
        f"f.deceased_on_assistance > 0 OR (f.on_dibao > 0 AND {INCOME} >= {{dibao_edge_multiple}} * {STANDARD}) OR f.double_assistance > 0",
        {
            "deceased_on_assistance": "f.deceased_on_assistance",
            "double_assistance": "f.double_assistance",
            "per_capita_monthly_income": INCOME,
        },
        "'在保对象信息与其他部门数据不一致'",
        "concat_ws('；', "
        "CASE WHEN f.deceased_on_assistance > 0 THEN '在保对象已有死亡登记：' || f.deceased_on_assistance_detail END, "
        f"CASE WHEN f.on_dibao > 0 AND {INCOME} >= {{dibao_edge_multiple}} * {STANDARD} THEN '低保家庭核对人均月收入 ' || {_money(INCOME)} || "
        f"' 元（' || strftime(f.verification_date, '%Y-%m-%d') || ' 核对），已达低保标准的 {{dibao_edge_multiple}} 倍（' || "
        f"{_money('{dibao_edge_multiple} * ' + STANDARD)} || ' 元）' END, "
        "CASE WHEN f.double_assistance > 0 THEN '有成员在两户同时在保，或同时享受低保和特困：' || f.double_assistance_detail END)",
        "复核在保资格，停发或调整待遇",
        "f.deceased_on_assistance + f.double_assistance",
        when="在保（低保、特困）的人已有死亡登记；或低保家庭核对人均月收入达到低保标准的 {dibao_edge_multiple} 倍；或一人在两户同时在保，或同时享受低保和特困",
    ),
    Rule(
        "R11",
        "特困标准不达标",
        ("县民政局", "县财政局"),
        "2",
        ("mz_assistance",),
        "f.tekun_below_standard > 0",
        {"records": "f.tekun_below_standard"},
        "'基本生活费 ≥ {tekun_basic_multiple} × 低保标准；照料护理费 ≥ 最低工资的 1/10、1/6、1/3'",
        "'特困供养金低于标准：' || f.tekun_below_standard_detail",
        "按标准补发特困供养金",
        "f.tekun_below_standard",
        when="在保特困记录的基本生活费低于低保标准的 {tekun_basic_multiple} 倍，或照料护理费低于最低工资（{minimum_wage} 元）的 1/10、1/6、1/3（全自理、半护理、全护理）",
    ),
    Rule(
        "M01",
        "模型高风险",
        ("县民政局",),
        "13",
        (),  # no feed gate: the model's own check decides whether it scores
        "s.risk_score >= {m01_threshold}",
        {"risk_score": "round(s.risk_score, 4)", "model_version": "s.model_version"},
        "'{m01_threshold}'",
        "'模型评估6个月内需要救助的概率为 ' || round(100 * s.risk_score)::INTEGER || '%' || "
        "coalesce('，主要因素：' || s.top_factors, '') || "
        "coalesce('；估算人均月收入约 ' || s.estimated_income_per_capita::INTEGER || ' 元（估算，未经核对，不作为低保认定依据）', '')",
        "入户走访核实，按情况纳入监测或救助",
        "s.risk_score",
        when="没有规则命中、但模型评估6个月内需要救助的概率 ≥ {m01_threshold}（≥ {m01_high_band} 为橙）",
        model=True,
        level="CASE WHEN s.risk_score >= {m01_high_band} THEN '橙' ELSE '黄' END",
    ),
)
FEATURE_RULES = tuple(r for r in RULES if not r.model)

# The published record a rule's is judged against (transform/monitoring/backtest.py): Tongling's
# monitoring raised about 15,900 warnings, after which 2,145 people were assisted (≈ 13 %).
TONGLING_WARNINGS, TONGLING_ASSISTED = 15_900, 2_145
TONGLING_CONVERSION = TONGLING_ASSISTED / TONGLING_WARNINGS
(MODEL_RULE,) = (r for r in RULES if r.model)

LEVEL_ORDER = LEVELS  # most urgent first


def _medical_line(policy: Policy) -> str:
    """SQL of R03's out-of-pocket line for the household f: one line, or one per status where the
    policy sets them (the most protected status a member has decides)."""
    rules = policy.rules
    tiers = rules.medical_threshold_by_status
    if not tiers:
        return str(rules.medical_out_of_pocket_threshold)
    column = {"特困": "f.on_tekun", "低保": "f.on_dibao", "低保边缘": "f.on_dibao_edge"}
    whens = " ".join(f"WHEN {column[status]} > 0 THEN {line}" for status, line in tiers.items())
    return f"(CASE {whens} ELSE {rules.medical_out_of_pocket_threshold} END)"


def policy_values(policy: Policy) -> dict[str, str]:
    """The placeholders rule SQL may use, as SQL literals, from the policy in force."""
    rules, std, model = policy.rules, policy.standards, policy.model
    lo, hi = policy.measures.temporary_assistance_serious_illness
    return {
        "m01_threshold": str(float(model.m01_threshold)),
        "m01_high_band": str(float(model.m01_high_band)),
        "dibao_edge_multiple": str(rules.dibao_edge_multiple),
        "medical_out_of_pocket_threshold": _medical_line(policy),
        "tekun_basic_multiple": str(policy.compliance.tekun_basic_multiple),
        "temporary_assistance_serious_illness": f"{lo}–{hi}",
        "ta_low": f"{lo * std.dibao_standard_urban:,}",
        "ta_high": f"{hi * std.dibao_standard_urban:,}",
    } | {  # the windows the reasons name ("近90天")
        name: str(getattr(rules, name))
        for name in (
            "medical_window_months",
            "serious_illness_window_months",
            "petition_window_days",
            "emergency_window_days",
            "contribution_window_months",
        )
    }


def describe(rule: Rule, policy: Policy) -> str:
    """When the rule fires, in plain Chinese, with the numbers of ``policy``."""
    rules, std, model = policy.rules, policy.standards, policy.model
    low, high = rules.working_age
    values = {
        "m01_threshold": f"{model.m01_threshold:.0%}",
        "m01_high_band": f"{model.m01_high_band:.0%}",
        "dibao_standard_urban": std.dibao_standard_urban,
        "dibao_standard_rural": std.dibao_standard_rural,
        "minimum_wage": std.minimum_wage,
        "tekun_basic_multiple": policy.compliance.tekun_basic_multiple,
        "working_age_low": low,
        "working_age_high": high,
        "petition_categories": "、".join(rules.petition_categories),
        "hardship_words": "、".join(f"“{w}”" for w in rules.hardship_words),
        "tekun_extension_max_school": "、".join(rules.tekun_extension_max_school),
        "medical_out_of_pocket_threshold": f"{rules.medical_out_of_pocket_threshold:,}"
        + (
            "（" + "、".join(f"{k}家庭 {v:,}" for k, v in rules.medical_threshold_by_status.items()) + "）"
            if rules.medical_threshold_by_status
            else ""
        ),
    }
    return rule.when.format(**(asdict(rules) | values))


def level_text(rule: Rule, policy: Policy) -> str:
    """The level as the documents and the workbooks' rule sheet name it."""
    return "黄/橙" if rule.model else policy.level_of(rule.code)


def render(template: str, policy: Policy) -> str:
    return template.format(**policy_values(policy))
