"""Layer 4 — monitoring: the policy in force, rule hits, the warning list with its
episodes, and the night's exports for townships and departments."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from pathlib import Path

import dagster as dg
from python_calamine import CalamineWorkbook

from assets.charts import bar_chart_markdown
from assets.core import CORE_TABLES
from assets.quality import feed_gate
from models.compliance import compliance_problems
from pipelines.settings import NIGHTS, WAREHOUSE_POOL, NightSettings, night_of
from warehouse.exports import write_exports
from warehouse.monitoring import build_warnings
from warehouse.resource import Warehouse


@dg.asset(
    key=["config", "policy_in_force"],
    partitions_def=NIGHTS,
    group_name="monitoring",
    kinds={"yaml"},
    owners=["team:civil_affairs"],
    description="当晚适用的政策参数文件（按生效日期选取）。The policy file in force on the as-of date, with its parameters.",
)
def policy_in_force(context: dg.AssetExecutionContext, night: NightSettings) -> dg.MaterializeResult:
    policy = night.policy_in_force(night_of(context, night))
    return dg.MaterializeResult(
        metadata={
            "effective_date": str(policy["effective_date"]),
            "source": policy.get("source", ""),
            "standards": dg.MetadataValue.json(policy["standards"]),
            "rules": dg.MetadataValue.json({k: v for k, v in policy["rules"].items()}),
        }
    )


@dg.asset_check(
    asset=policy_in_force,
    name="complies_with_items_1_and_2",
    blocking=True,
    description="政策参数符合第1、2条：低保标准占上年度人均消费支出25–35%（城镇）、35–45%（农村），城乡比≤1.3，"
    "特困≥1.3倍低保标准，照料护理≥最低工资1/10、1/6、1/3。阻断：不合规的政策文件不用于预警。",
)
def policy_complies(context: dg.AssetCheckExecutionContext, night: NightSettings) -> dg.AssetCheckResult:
    problems = compliance_problems(night.policy_in_force(night_of(context, night)))
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "合规 (complies)")},
        description="；".join(problems) or None,
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["monitoring", "rule_hits"], group_name="monitoring", kinds={"duckdb"}, owners=["team:civil_affairs"],
                     deps=[["core", t] for t in CORE_TABLES] + [feed_gate.key, policy_in_force.key,
                                                               ["monitoring", "household_scores"]],
                     description="当晚每条规则的命中：对象、规则、决定性数字、阈值、政策条款、来源记录；不能评估的规则注明原因。"),
        dg.AssetSpec(["monitoring", "warnings"], group_name="monitoring", kinds={"duckdb"}, owners=["team:civil_affairs"],
                     deps=[["monitoring", "rule_hits"]],
                     description="预警名单（OUTPUTS.md）：每户（或名册外人员）一行，全部规则代码、等级、中文原因、责任单位、"
                                 "状态（新增/持续/升级）、首次预警日期；已解除的预警在 monitoring.resolved_warnings 列出一次。"),
    ],
    pool=WAREHOUSE_POOL,
    partitions_def=NIGHTS,
    name="warning_list",
)
def warning_list(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings):
    as_of = night_of(context, night)
    with warehouse.connect() as con:
        night_list = build_warnings(con, as_of, night.policy_in_force(as_of))
        by_rule = con.execute(
            "SELECT rule_code, hits, evaluated FROM monitoring.rule_status WHERE as_of_date = ? ORDER BY rule_code", [as_of]
        ).fetchall()
        by_town = con.execute(
            """SELECT township_name, level, count(*) FROM monitoring.warnings WHERE as_of_date = ?
               GROUP BY ALL ORDER BY 1, 2""", [as_of]
        ).fetchall()
    yield dg.MaterializeResult(
        asset_key=["monitoring", "rule_hits"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(night_list.hits),
            "hits_by_rule": dg.MetadataValue.md("\n".join(
                ["| 规则 | 命中 | 已评估 |", "|---|---|---|"] + [f"| {c} | {h if h is not None else '—'} | {'✓' if e else '✗'} |" for c, h, e in by_rule])),
            "not_evaluated": dg.MetadataValue.json([{"rule": c, "reason": r} for c, r in night_list.not_evaluated]),
        },
    )
    towns = sorted({t for t, _, _ in by_town})
    totals = [sum(n for t2, _, n in by_town if t2 == t) for t in towns]
    yield dg.MaterializeResult(
        asset_key=["monitoring", "warnings"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(night_list.warnings),
            "new": night_list.new, "escalated": night_list.escalated, "resolved": night_list.resolved,
            "by_township_and_level": dg.MetadataValue.md("\n".join(
                ["| 镇街 | 等级 | 户数 |", "|---|---|---|"] + [f"| {t} | {lv} | {n} |" for t, lv, n in by_town])),
            "warnings_per_township": dg.MetadataValue.md(
                bar_chart_markdown([f"T{i + 1}" for i in range(len(towns))], totals, f"Warnings per township, {as_of}",
                                   "households warned") + "\n\n" + "；".join(f"T{i + 1} = {t}" for i, t in enumerate(towns))
            ) if towns else dg.MetadataValue.md("今晚没有预警"),
        },
    )


@dg.asset(
    key=["exports", "warning_workbooks"],
    partitions_def=NIGHTS,
    group_name="exports",
    pool=WAREHOUSE_POOL,
    kinds={"excel"},
    owners=["team:civil_affairs"],
    deps=[["monitoring", "warnings"]],
    description="各镇街预警工作簿（新增预警、持续预警、本期解除、规则说明；身份证号脱敏）、各责任单位清单和清单文件"
    "（行数、SHA-256），位于 <home>/exports/<日期>/。Township workbooks, department lists and the manifest.",
)
def warning_workbooks(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    out_dir = Path(warehouse.home) / "exports" / as_of.isoformat()
    with warehouse.connect() as con:
        entries = write_exports(con, as_of, out_dir, night.policy_in_force(as_of))
    return dg.MaterializeResult(
        metadata={
            "directory": dg.MetadataValue.path(str(out_dir)),
            "township_workbooks": sum(e["kind"] == "township" for e in entries),
            "department_lists": sum(e["kind"] == "department" for e in entries),
            "manifest": dg.MetadataValue.path(str(out_dir / "manifest.json")),
        }
    )


@dg.asset_check(
    asset=warning_workbooks,
    name="workbooks_hold_exactly_the_warnings",
    blocking=False,
    description="工作簿中的预警与预警表完全一致（每个镇街、每个工作表的行数和预警编号）。",
)
def workbooks_hold_exactly_the_warnings(context: dg.AssetCheckExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.AssetCheckResult:
    as_of = night_of(context, night)
    out_dir = Path(warehouse.home) / "exports" / as_of.isoformat()
    with warehouse.connect(read_only=True) as con:
        expected = {
            (code, sheet, wid)
            for code, sheet, wid in con.execute(
                """SELECT township_code, CASE status WHEN 'new' THEN '新增预警' ELSE '持续预警' END, warning_id
                   FROM monitoring.warnings WHERE as_of_date = ?
                   UNION ALL SELECT township_code, '本期解除', warning_id FROM monitoring.resolved_warnings
                   WHERE as_of_date = ? AND township_code IN (SELECT township_code FROM monitoring.warnings WHERE as_of_date = ?)""",
                [as_of, as_of, as_of],
            ).fetchall()
        }
    found = set()
    for path in out_dir.glob("*_*.xlsx"):
        code = path.name.split("_")[0]
        wb = CalamineWorkbook.from_path(str(path))
        for sheet in ("新增预警", "持续预警", "本期解除"):
            for row in wb.get_sheet_by_name(sheet).to_python()[1:]:
                found.add((code, sheet, row[0]))
    return dg.AssetCheckResult(
        passed=found == expected,
        metadata={"in_table": len(expected), "in_workbooks": len(found),
                  "missing": len(expected - found), "unexpected": len(found - expected)},
    )
