"""What a policy file must hold, and the range of each number, checked before any SQL uses it.

A wrong number in a policy file (``petition_window_days: -90``, a threshold of 1.5 where a
probability is meant) would otherwise end deep inside a query, or quietly flag the wrong
households. These are sanity ranges, not policy: whether the standards comply with items 1
and 2 of the county's policy is the blocking check of models/compliance.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class PolicyError(ValueError):
    """The policy file is missing a number or holds one outside its range."""


@dataclass(frozen=True)
class Number:
    zh: str
    low: float
    high: float
    integer: bool = False


@dataclass(frozen=True)
class Pair:  # [low, high] with low <= high, both within the range
    zh: str
    low: float
    high: float


@dataclass(frozen=True)
class Texts:
    zh: str


LEVELS = ("红", "橙", "黄", "复核")
RULE_CODES = ("R01", "R02", "R03", "R04", "R05", "R06", "R08", "R09", "R10", "R11")

SCHEMA: dict[str, dict[str, object]] = {
    "standards": {
        "dibao_standard_urban": Number("城市低保标准（元/人·月）", 1, 100_000),
        "dibao_standard_rural": Number("农村低保标准（元/人·月）", 1, 100_000),
        "consumption_per_capita_urban": Number("上年度城镇居民人均消费支出（元/年）", 1, 10_000_000),
        "consumption_per_capita_rural": Number("上年度农村居民人均消费支出（元/年）", 1, 10_000_000),
        "minimum_wage": Number("最低工资标准（元/月）", 1, 1_000_000),
    },
    "compliance": {
        "urban_share_of_consumption": Pair("城市低保标准占消费支出比例", 0, 1),
        "rural_share_of_consumption": Pair("农村低保标准占消费支出比例", 0, 1),
        "max_urban_rural_ratio": Number("城乡标准最大比值", 1, 10),
        "tekun_basic_multiple": Number("特困基本生活标准倍数", 1, 10),
        "care_share_of_minimum_wage": {
            level: Number(f"{level}照料护理占最低工资比例", 0, 1) for level in ("全自理", "半护理", "全护理")
        },
    },
    "rules": {
        "dibao_edge_multiple": Number("低保边缘倍数", 1, 5),
        "verification_max_age_months": Number("核对结果有效月数", 1, 120, integer=True),
        "medical_out_of_pocket_threshold": Number("医疗自付预警线（元）", 1, 10_000_000),
        "medical_window_months": Number("医疗自付统计月数", 1, 120, integer=True),
        "working_age": Pair("劳动年龄", 0, 120),
        "serious_illness_window_months": Number("大病统计月数", 1, 240, integer=True),
        "tekun_extension_max_school": Texts("特困延长供养的在校阶段"),
        "tekun_child_age_limit": Number("特困未成年年龄上限", 1, 30, integer=True),
        "petition_window_days": Number("信访统计天数", 1, 3660, integer=True),
        "petition_categories": Texts("困难类信访问题类别"),
        "hardship_words": Texts("说明家庭困难的诉求用语"),
        "emergency_window_days": Number("急难事件统计天数", 1, 3660, integer=True),
        "contribution_window_months": Number("社保缴费统计月数", 1, 120, integer=True),
    },
    "features": {
        "trend_months": Number("近期与此前对比的月数", 1, 60, integer=True),
        "wage_base_months": Number("职工养老缴费基数的有效月数", 1, 60, integer=True),
        "inpatient_months": Number("住院次数统计月数", 1, 120, integer=True),
        "outpatient_recent_months": Number("近期门诊统计月数", 1, 60, integer=True),
        "outpatient_baseline_months": Number("门诊对比基期月数", 1, 60, integer=True),
        "resident_tier_months": Number("居民养老缴费档次统计月数", 1, 120, integer=True),
        "unemployment_benefit_months": Number("失业保险金统计月数", 1, 60, integer=True),
        "arrears_months": Number("职工养老断缴识别月数", 1, 60, integer=True),
        "child_age_below": Number("未成年人年龄上限（不含）", 1, 30, integer=True),
        "elderly_age_from": Number("老年人起始年龄", 40, 100, integer=True),
    },
    "measures": {
        "temporary_assistance_serious_illness": Pair("临时救助（重大疾病）倍数", 0, 100),
        "temporary_assistance_education": Pair("临时救助（教育负担）倍数", 0, 100),
    },
    "model": {
        "m01_threshold": Number("M01 预警概率阈值", 0.0001, 0.9999),
        "m01_high_band": Number("M01 橙色概率阈值", 0.0001, 0.9999),
    },
    "episodes": {
        "response_days": {level: Number(f"{level}色预警响应天数", 1, 365, integer=True) for level in LEVELS},
        "not_true_suppression_days": Number("情况不属实的暂停天数", 0, 3660, integer=True),
        "worse_by": Number("恶化比例", 0, 10),
    },
    "risk_model": {
        "retrain_every_days": Number("模型重新训练间隔天数", 1, 366, integer=True),
        "visit_capacity_per_township": Number("每个镇街可走访户数", 1, 100_000, integer=True),
    },
}


def _check(where: str, rule, value, problems: list[str]) -> None:
    if isinstance(rule, dict):
        if not isinstance(value, dict):
            problems.append(f"{where}：应为一组参数")
            return
        for key, sub in rule.items():
            if key not in value:
                problems.append(f"{where}.{key}：缺少")
            else:
                _check(f"{where}.{key}", sub, value[key], problems)
        return
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    if isinstance(rule, Number):
        if not number(value) or (rule.integer and float(value) != int(value)):
            problems.append(f"{where}（{rule.zh}）：应为{'整数' if rule.integer else '数字'}，实际为 {value!r}")
        elif not rule.low <= value <= rule.high:
            problems.append(f"{where}（{rule.zh}）：{value} 不在 {rule.low:g}–{rule.high:g} 之间")
    elif isinstance(rule, Pair):
        if not (isinstance(value, list) and len(value) == 2 and all(number(v) for v in value)):
            problems.append(f"{where}（{rule.zh}）：应为 [下限, 上限]，实际为 {value!r}")
        elif not rule.low <= value[0] <= value[1] <= rule.high:
            problems.append(f"{where}（{rule.zh}）：{value} 应满足 {rule.low:g} ≤ 下限 ≤ 上限 ≤ {rule.high:g}")
    elif isinstance(rule, Texts):
        if not (isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)):
            problems.append(f"{where}（{rule.zh}）：应为非空的文字列表，实际为 {value!r}")


def policy_problems(policy: object) -> list[str]:
    """Every missing key and out-of-range number of a policy file, in Chinese; [] when sound."""
    if not isinstance(policy, dict):
        return ["政策文件不是键值结构（YAML 映射）"]
    problems: list[str] = []
    if not isinstance(policy.get("effective_date"), dt.date):
        problems.append(f"effective_date（生效日期）：应为 YYYY-MM-DD 日期，实际为 {policy.get('effective_date')!r}")
    for section, rule in SCHEMA.items():
        if section not in policy:
            problems.append(f"{section}：缺少")
        else:
            _check(section, rule, policy[section], problems)
    model = policy.get("model") or {}
    if not problems and model["m01_high_band"] < model["m01_threshold"]:
        problems.append("model.m01_high_band（M01 橙色概率阈值）不能低于 model.m01_threshold")
    levels = policy.get("levels")
    if not isinstance(levels, dict) or set(levels) != set(LEVELS):
        problems.append(f"levels（预警等级）：应为 {'、'.join(LEVELS)} 四级，每级列出规则代码")
    else:
        listed = [code for codes in levels.values() for code in (codes or [])]
        unknown = sorted(set(listed) - set(RULE_CODES))
        missing = sorted(set(RULE_CODES) - set(listed))
        if unknown or missing or len(listed) != len(set(listed)):
            problems.append(
                f"levels（预警等级）：每条规则恰好属于一级（未知 {unknown or '无'}，未分级 {missing or '无'}）"
            )
    return problems


def validate_policy(policy: object, source: str) -> dict:
    problems = policy_problems(policy)
    if problems:
        raise PolicyError(
            f"政策文件 {source} 有 {len(problems)} 处问题（policy file is invalid）：" + "；".join(problems)
        )
    return policy  # type: ignore[return-value]
