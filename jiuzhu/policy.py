"""The policy file (config/policy/<effective date>.yaml) as a validated, typed object.

Each section is a frozen dataclass whose fields say, beside their type, the Chinese name and
the sane range of the number (``Number``, ``Pair``, ``Texts``, ``Keyed``). One walk over these
classes checks a file — every missing key and out-of-range number named in Chinese, before any
SQL uses it — and the same walk builds the ``Policy`` the code reads (``policy.rules.
petition_window_days``), so a key exists in one place. Numbers keep the type the file gives
them (850 stays an int, 1.3 a float), so the SQL and the Chinese texts print them as written.

These are sanity ranges, not policy: whether the standards comply with items 1 and 2 of the
county's policy is the blocking check of models/compliance.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from dataclasses import dataclass, field
from typing import Any


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
class Texts:  # a non-empty list of words
    zh: str


@dataclass(frozen=True)
class Keyed:  # one Number per key, e.g. per warning level
    keys: tuple[str, ...]
    zh: str  # with {key}
    low: float
    high: float
    integer: bool = False
    optional: bool = False  # the whole group may be left out of the file (None)

    def number(self, key: str) -> Number:
        return Number(self.zh.format(key=key), self.low, self.high, self.integer)


Check = Number | Pair | Texts | Keyed
LEVELS = ("红", "橙", "黄", "复核")
CARE_LEVELS = ("全自理", "半护理", "全护理")
STATUSES = ("特困", "低保", "低保边缘")  # assistance statuses a number may be set for, most protected first
RULE_CODES = ("R01", "R02", "R03", "R04", "R05", "R06", "R08", "R09", "R10", "R11")


def _(check: Check) -> Any:
    """A required field checked by ``check``."""
    return field(metadata={"check": check})


def _number(zh: str, low: float, high: float) -> Any:
    return _(Number(zh, low, high))


def _whole(zh: str, low: float, high: float) -> Any:
    return _(Number(zh, low, high, integer=True))


@dataclass(frozen=True)
class Standards:
    dibao_standard_urban: float = _number("城市低保标准（元/人·月）", 1, 100_000)
    dibao_standard_rural: float = _number("农村低保标准（元/人·月）", 1, 100_000)
    consumption_per_capita_urban: float = _number("上年度城镇居民人均消费支出（元/年）", 1, 10_000_000)
    consumption_per_capita_rural: float = _number("上年度农村居民人均消费支出（元/年）", 1, 10_000_000)
    minimum_wage: float = _number("最低工资标准（元/月）", 1, 1_000_000)


@dataclass(frozen=True)
class Compliance:
    urban_share_of_consumption: tuple[float, float] = _(Pair("城市低保标准占消费支出比例", 0, 1))
    rural_share_of_consumption: tuple[float, float] = _(Pair("农村低保标准占消费支出比例", 0, 1))
    max_urban_rural_ratio: float = _number("城乡标准最大比值", 1, 10)
    tekun_basic_multiple: float = _number("特困基本生活标准倍数", 1, 10)
    care_share_of_minimum_wage: dict[str, float] = _(Keyed(CARE_LEVELS, "{key}照料护理占最低工资比例", 0, 1))


@dataclass(frozen=True)
class RuleNumbers:
    dibao_edge_multiple: float = _number("低保边缘倍数", 1, 5)
    verification_max_age_months: int = _whole("核对结果有效月数", 1, 120)
    medical_out_of_pocket_threshold: float = _number("医疗自付预警线（元）", 1, 10_000_000)
    medical_window_months: int = _whole("医疗自付统计月数", 1, 120)
    working_age: tuple[float, float] = _(Pair("劳动年龄", 0, 120))
    serious_illness_window_months: int = _whole("大病统计月数", 1, 240)
    tekun_extension_max_school: tuple[str, ...] = _(Texts("特困延长供养的在校阶段"))
    tekun_child_age_limit: int = _whole("特困未成年年龄上限", 1, 30)
    petition_window_days: int = _whole("信访统计天数", 1, 3660)
    petition_categories: tuple[str, ...] = _(Texts("困难类信访问题类别"))
    hardship_words: tuple[str, ...] = _(Texts("说明家庭困难的诉求用语"))
    emergency_window_days: int = _whole("急难事件统计天数", 1, 3660)
    contribution_window_months: int = _whole("社保缴费统计月数", 1, 120)
    # R03's line for households with a member of that status (optional; Tongling: 特困 1,000, 低保
    # 5,000, 低保边缘 10,000, the others 15,000); left out, every household has the one line above
    medical_threshold_by_status: dict[str, float] | None = field(
        default=None, metadata={"check": Keyed(STATUSES, "{key}家庭医疗自付预警线（元）", 1, 10_000_000, optional=True)}
    )


@dataclass(frozen=True)
class FeatureWindows:
    trend_months: int = _whole("近期与此前对比的月数", 1, 60)
    wage_base_months: int = _whole("职工养老缴费基数的有效月数", 1, 60)
    inpatient_months: int = _whole("住院次数统计月数", 1, 120)
    outpatient_recent_months: int = _whole("近期门诊统计月数", 1, 60)
    outpatient_baseline_months: int = _whole("门诊对比基期月数", 1, 60)
    resident_tier_months: int = _whole("居民养老缴费档次统计月数", 1, 120)
    unemployment_benefit_months: int = _whole("失业保险金统计月数", 1, 60)
    arrears_months: int = _whole("职工养老断缴识别月数", 1, 60)
    child_age_below: int = _whole("未成年人年龄上限（不含）", 1, 30)
    elderly_age_from: int = _whole("老年人起始年龄", 40, 100)


@dataclass(frozen=True)
class Measures:
    temporary_assistance_serious_illness: tuple[float, float] = _(Pair("临时救助（重大疾病）倍数", 0, 100))
    temporary_assistance_education: tuple[float, float] = _(Pair("临时救助（教育负担）倍数", 0, 100))


@dataclass(frozen=True)
class ModelNumbers:
    m01_threshold: float = _number("M01 预警概率阈值", 0.0001, 0.9999)
    m01_high_band: float = _number("M01 橙色概率阈值", 0.0001, 0.9999)


@dataclass(frozen=True)
class Episodes:
    response_days: dict[str, int] = _(Keyed(LEVELS, "{key}色预警响应天数", 1, 365, integer=True))
    not_true_suppression_days: int = _whole("情况不属实的暂停天数", 0, 3660)
    worse_by: float = _number("恶化比例", 0, 10)


@dataclass(frozen=True)
class RiskModelNumbers:
    retrain_every_days: int = _whole("模型重新训练间隔天数", 1, 366)
    visit_capacity_per_township: int = _whole("每个镇街可走访户数", 1, 100_000)


@dataclass(frozen=True)
class Payments:
    """How the programmes pay (items 1, 2, 8), which fund demand and a policy simulation compute by."""

    dibao_minimum_per_person: float = _number("低保金每人每月最低发放额（元）", 0, 100_000)
    round_to: float = _number("保障金计算取整单位（元）", 0.01, 100)
    dibao_edge_per_person: float = _number("低保边缘每人每月发放额（元，0 为不发放现金）", 0, 100_000)
    temporary_assistance_months: int = _whole("临时救助按过去几个月的水平测算", 1, 60)


@dataclass(frozen=True)
class Policy:
    effective_date: dt.date
    standards: Standards
    compliance: Compliance
    rules: RuleNumbers
    features: FeatureWindows
    measures: Measures
    model: ModelNumbers
    episodes: Episodes
    risk_model: RiskModelNumbers
    payments: Payments
    levels: dict[str, tuple[str, ...]]  # level -> its rule codes; every code in exactly one
    source: str = ""  # the document it implements

    def level_of(self, code: str) -> str:
        """The level of a rule code (M01's depends on its score: models.rules.Rule.level)."""
        for level, codes in self.levels.items():
            if code in codes:
                return level
        raise KeyError(f"rule {code} has no level in the policy file")


def key_names() -> dict[str, str]:
    """Each number's dotted key in a policy file (standards.dibao_standard_rural) and its Chinese name
    (农村低保标准（元/人·月）): how a change of policy is shown to the bureau."""
    names: dict[str, str] = {}
    for section, cls in _section_classes().items():
        for f in dataclasses.fields(cls):
            check = f.metadata["check"]
            if isinstance(check, Keyed):
                names |= {f"{section}.{f.name}.{key}": check.zh.format(key=key) for key in check.keys}
            else:
                names[f"{section}.{f.name}"] = check.zh
    return names


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_value(where: str, check: Check, value: object, problems: list[str]) -> None:
    if isinstance(check, Keyed):
        if not isinstance(value, dict):
            problems.append(f"{where}（{check.zh.format(key='各级')}）：应为一组参数")
            return
        for key in check.keys:
            if key not in value:
                problems.append(f"{where}.{key}：缺少")
            else:
                _check_value(f"{where}.{key}", check.number(key), value[key], problems)
    elif isinstance(check, Number):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or (check.integer and value != int(value)):
            problems.append(f"{where}（{check.zh}）：应为{'整数' if check.integer else '数字'}，实际为 {value!r}")
        elif not check.low <= value <= check.high:
            problems.append(f"{where}（{check.zh}）：{value} 不在 {check.low:g}–{check.high:g} 之间")
    elif isinstance(check, Pair):
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
            problems.append(f"{where}（{check.zh}）：应为 [下限, 上限]，实际为 {value!r}")
        elif not check.low <= value[0] <= value[1] <= check.high:
            problems.append(f"{where}（{check.zh}）：{value} 应满足 {check.low:g} ≤ 下限 ≤ 上限 ≤ {check.high:g}")
    elif not (isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)):
        problems.append(f"{where}（{check.zh}）：应为非空的文字列表，实际为 {value!r}")


def _check_section(section: str, cls: type, values: object, problems: list[str]) -> None:
    if not isinstance(values, dict):
        problems.append(f"{section}：应为一组参数")
        return
    for f in dataclasses.fields(cls):
        check = f.metadata["check"]
        if f.name not in values and isinstance(check, Keyed) and check.optional:
            continue
        if f.name not in values:
            problems.append(f"{section}.{f.name}：缺少")
        else:
            _check_value(f"{section}.{f.name}", f.metadata["check"], values[f.name], problems)


def policy_problems(policy: object) -> list[str]:
    """Every missing key and out-of-range number of a policy file (as read from YAML), in
    Chinese; [] when sound."""
    if not isinstance(policy, dict):
        return ["政策文件不是键值结构（YAML 映射）"]
    problems: list[str] = []
    if not isinstance(policy.get("effective_date"), dt.date):
        problems.append(f"effective_date（生效日期）：应为 YYYY-MM-DD 日期，实际为 {policy.get('effective_date')!r}")
    for section, cls in _section_classes().items():
        if section not in policy:
            problems.append(f"{section}：缺少")
        else:
            _check_section(section, cls, policy[section], problems)
    model = policy.get("model") or {}
    if not problems and model["m01_high_band"] < model["m01_threshold"]:
        problems.append("model.m01_high_band（M01 橙色概率阈值）不能低于 model.m01_threshold")
    problems += _level_problems(policy.get("levels"))
    return problems


def _level_problems(levels: object) -> list[str]:
    if not isinstance(levels, dict) or set(levels) != set(LEVELS):
        return [f"levels（预警等级）：应为 {'、'.join(LEVELS)} 四级，每级列出规则代码"]
    listed = [code for codes in levels.values() for code in (codes or [])]
    unknown = sorted(set(listed) - set(RULE_CODES))
    missing = sorted(set(RULE_CODES) - set(listed))
    if unknown or missing or len(listed) != len(set(listed)):
        return [f"levels（预警等级）：每条规则恰好属于一级（未知 {unknown or '无'}，未分级 {missing or '无'}）"]
    return []


def _section_classes() -> dict[str, type]:
    """The sections of a policy file and the class of each (Policy's dataclass fields)."""
    hints = typing.get_type_hints(Policy)
    return {f.name: hints[f.name] for f in dataclasses.fields(Policy) if dataclasses.is_dataclass(hints[f.name])}


def _build(cls: type, values: dict) -> Any:
    def one(f: dataclasses.Field) -> object:
        value = values.get(f.name)
        check = f.metadata["check"]
        if value is None:  # an optional group left out
            return None
        if isinstance(check, Keyed):
            return {key: value[key] for key in check.keys}
        return tuple(value) if isinstance(check, (Pair, Texts)) else value

    return cls(**{f.name: one(f) for f in dataclasses.fields(cls)})


def validate_policy(policy: object, source: str) -> Policy:
    """The typed policy of a file's YAML, or PolicyError naming every problem (``source``: the file)."""
    problems = policy_problems(policy)
    if problems:
        raise PolicyError(
            f"政策文件 {source} 有 {len(problems)} 处问题（policy file is invalid）：" + "；".join(problems)
        )
    assert isinstance(policy, dict)
    sections = {name: _build(cls, policy[name]) for name, cls in _section_classes().items()}
    return Policy(
        effective_date=policy["effective_date"],
        levels={level: tuple(policy["levels"][level]) for level in LEVELS},
        source=str(policy.get("source") or ""),
        **sections,
    )
