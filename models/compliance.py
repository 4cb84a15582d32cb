"""The policy file checked against items 1 and 2 of 乐办字〔2021〕21号 before any rule uses it."""

from __future__ import annotations

from dataclasses import asdict
from typing import NamedTuple

from jiuzhu.policy import Policy


class StandardShare(NamedTuple):
    """Item 1 for one standard: its monthly amount and last year's per-capita consumption as the policy
    file writes them, the standard's share of it over twelve months, and the allowed share."""

    zh: str  # 城市, 农村
    monthly: float
    consumption: float
    share: float
    low: float
    high: float

    @property
    def inside(self) -> bool:
        return within(self.share, self.low, self.high)


def within(share: float, low: float, high: float) -> bool:
    """Item 1's range, allowing for floating point: a standard exactly at a bound computes a share
    that may fall the last bit outside it."""
    return low - 1e-9 <= share <= high + 1e-9


def standard_shares(policy: Policy) -> list[StandardShare]:
    """Item 1 for the urban and the rural standard."""
    std, c = asdict(policy.standards), policy.compliance
    out = []
    for kind, zh in (("urban", "城市"), ("rural", "农村")):
        monthly, consumption = std[f"dibao_standard_{kind}"], std[f"consumption_per_capita_{kind}"]
        low, high = getattr(c, f"{kind}_share_of_consumption")
        out.append(StandardShare(zh, monthly, consumption, monthly * 12 / consumption, low, high))
    return out


def compliance_problems(policy: Policy) -> list[str]:
    """Every way the standards break items 1 and 2, in Chinese; empty when they comply."""
    std, c = asdict(policy.standards), policy.compliance
    problems = []
    for s in standard_shares(policy):
        if not s.inside:
            problems.append(
                f"{s.zh}低保标准 {s.monthly} 元/月（全年 {s.monthly * 12} 元）占上年度{s.zh}居民人均消费支出 {s.consumption} 元的 "
                f"{s.share:.1%}，不在 {s.low:.0%}–{s.high:.0%} 之间（第1条）"
            )
    ratio = std["dibao_standard_urban"] / std["dibao_standard_rural"]
    if ratio > c.max_urban_rural_ratio:
        problems.append(f"城乡低保标准之比 {ratio:.2f}:1，超过 {c.max_urban_rural_ratio}:1（第1条）")
    if c.tekun_basic_multiple < 1.3:
        problems.append(f"特困基本生活标准倍数 {c.tekun_basic_multiple} 低于 1.3（第2条）")
    floors = {"全自理": 1 / 10, "半护理": 1 / 6, "全护理": 1 / 3}
    for level, floor in floors.items():
        share = c.care_share_of_minimum_wage.get(level, 0)
        if share + 1e-9 < floor:
            problems.append(f"{level}照料护理标准为最低工资的 {share:.3f}，低于 {floor:.3f}（第2条）")
    return problems
