"""The policy file checked against items 1 and 2 of 乐办字〔2021〕21号 before any rule uses it."""

from __future__ import annotations

from dataclasses import asdict

from jiuzhu.policy import Policy


def compliance_problems(policy: Policy) -> list[str]:
    """Every way the standards break items 1 and 2, in Chinese; empty when they comply."""
    std, c = asdict(policy.standards), policy.compliance
    problems = []
    for kind, zh in (("urban", "城市"), ("rural", "农村")):
        monthly, consumption = std[f"dibao_standard_{kind}"], std[f"consumption_per_capita_{kind}"]
        share = monthly * 12 / consumption
        lo, hi = getattr(c, f"{kind}_share_of_consumption")
        if not lo <= share <= hi:
            problems.append(
                f"{zh}低保标准 {monthly} 元/月（全年 {monthly * 12} 元）占上年度{zh}居民人均消费支出 {consumption} 元的 "
                f"{share:.1%}，不在 {lo:.0%}–{hi:.0%} 之间（第1条）"
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


def standard_shares(policy: Policy) -> list[tuple[str, float, float, float, float]]:
    """Item 1 for each standard: (城市/农村, monthly standard, its share of last year's per-capita
    consumption over twelve months, the allowed low share, the allowed high share)."""
    std, c = policy.standards, policy.compliance
    out = []
    for kind, zh in (("urban", "城市"), ("rural", "农村")):
        monthly = float(getattr(std, f"dibao_standard_{kind}"))
        consumption = float(getattr(std, f"consumption_per_capita_{kind}"))
        low, high = getattr(c, f"{kind}_share_of_consumption")
        out.append((zh, monthly, monthly * 12 / consumption, float(low), float(high)))
    return out
