"""Layer 4 — monitoring: the policy in force, rule hits, the warning list with its
episodes, and the night's exports for townships and departments."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from dataclasses import asdict
from pathlib import Path

import dagster as dg

from assets.common import NIGHTS, WAREHOUSE_POOL, NightSettings, Warehouse, night_of
from assets.core import CORE_TABLES
from assets.quality import feed_gate
from exports.supervision import write_supervision_workbook
from exports.township import write_exports
from exports.ui_metadata import (
    hits_by_rule_table,
    oldest_unanswered_table,
    supervision_chart,
    supervision_table,
    township_level_chart,
    township_level_table,
    warnings_preview,
)
from transform.monitoring.feedback import not_taken
from transform.monitoring.overview import hits_by_rule, most_urgent_warnings, warnings_by_township_and_level
from transform.monitoring.supervision import build_supervision
from transform.monitoring.warnings import build_warnings


@dg.asset(
    key=["config", "policy_in_force"],
    partitions_def=NIGHTS,
    group_name="monitoring",
    kinds={"yaml"},
    owners=["team:civil_affairs"],
    tags={"layer": "monitoring"},
    description="当晚适用的政策参数文件（按生效日期选取）。The policy file in force on the as-of date, with its parameters.",
)
def policy_in_force(context: dg.AssetExecutionContext, night: NightSettings) -> dg.MaterializeResult:
    policy = night.policy_in_force(night_of(context, night))
    return dg.MaterializeResult(
        metadata={
            "effective_date": str(policy.effective_date),
            "source": policy.source,
            "standards": dg.MetadataValue.json(asdict(policy.standards)),
            "rules": dg.MetadataValue.json(asdict(policy.rules)),
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["monitoring", "rule_hits"],
            group_name="monitoring",
            kinds={"duckdb"},
            owners=["team:civil_affairs"],
            tags={"layer": "monitoring"},
            deps=[["core", t] for t in CORE_TABLES]
            + [feed_gate.key, policy_in_force.key, ["monitoring", "household_scores"]],
            description="当晚每条规则的命中：对象、规则、决定性数字、阈值、政策条款、来源记录；不能评估的规则注明原因。\n\n"
            "Tonight's rule hits (subject, rule, deciding figures, threshold, policy item, source records "
            "in monitoring.rule_sources); rules that could not be evaluated say why (monitoring.rule_status).",
        ),
        dg.AssetSpec(
            ["monitoring", "warnings"],
            group_name="monitoring",
            kinds={"duckdb"},
            owners=["team:civil_affairs"],
            tags={"layer": "monitoring", "contract": "OUTPUTS.md"},
            deps=[["monitoring", "rule_hits"]],
            description="预警名单（OUTPUTS.md）：每户（或名册外人员）一行，全部规则代码、等级、中文原因、责任单位、"
            "状态（新增/持续/升级）、首次预警日期；已解除的预警在 monitoring.resolved_warnings 列出一次。"
            "界面中只显示脱敏预览（不含姓名、地址、电话、原因）。\n\n"
            "The warning list (OUTPUTS.md): one row per household, or person outside the roster, with all "
            "rule codes, the most urgent level, reasons, departments, status (new / continuing / escalated) "
            "and first_flagged_on; warnings that end are listed once in monitoring.resolved_warnings. "
            "The UI shows a masked preview only (no names, addresses, phones or reasons).",
        ),
    ],
    pool=WAREHOUSE_POOL,
    partitions_def=NIGHTS,
    name="warning_list",
)
def warning_list(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings):
    as_of = night_of(context, night)
    with warehouse.connect() as con:
        night_list = build_warnings(con, as_of, night.policy_in_force(as_of))
        by_rule = hits_by_rule(con, as_of)
        by_town = warnings_by_township_and_level(con, as_of)
        preview = most_urgent_warnings(con, as_of)
    yield dg.MaterializeResult(
        asset_key=["monitoring", "rule_hits"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(night_list.hits),
            "hits_by_rule": dg.MetadataValue.md(hits_by_rule_table(by_rule)),
            "not_evaluated": dg.MetadataValue.json([{"rule": c, "reason": r} for c, r in night_list.not_evaluated]),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["monitoring", "warnings"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(night_list.warnings),
            "new": night_list.new,
            "escalated": night_list.escalated,
            "resolved": night_list.resolved,
            "by_township_and_level": dg.MetadataValue.md(township_level_table(by_town)),
            "warnings_by_township_and_level": dg.MetadataValue.md(township_level_chart(by_town, as_of)),
            "preview": dg.MetadataValue.md(warnings_preview(preview)),
        },
    )


@dg.asset(
    key=["exports", "warning_workbooks"],
    partitions_def=NIGHTS,
    group_name="exports",
    pool=WAREHOUSE_POOL,
    kinds={"excel"},
    owners=["team:civil_affairs"],
    tags={"layer": "exports", "contract": "OUTPUTS.md"},
    deps=[["monitoring", "warnings"]],
    description="各镇街预警工作簿（新增预警、持续预警、本期解除、规则说明；身份证号脱敏）、各责任单位清单和清单文件"
    "（行数、SHA-256），位于 <home>/exports/<日期>/。Township workbooks, department lists and the manifest.",
)
def warning_workbooks(
    context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings
) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    out_dir = Path(warehouse.home) / "exports" / as_of.isoformat()
    with warehouse.connect() as con:
        entries = write_exports(
            con, as_of, out_dir, night.policy_in_force(as_of), context.run.run_id, not_taken(con, as_of)
        )
    return dg.MaterializeResult(
        metadata={
            "directory": dg.MetadataValue.path(str(out_dir)),
            "township_workbooks": sum(e["kind"] == "township" for e in entries),
            "department_lists": sum(e["kind"] == "department" for e in entries),
            "manifest": dg.MetadataValue.path(str(out_dir / "manifest.json")),
        }
    )


@dg.asset(
    key=["monitoring", "township_supervision"],
    partitions_def=NIGHTS,
    group_name="monitoring",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "excel"},
    owners=["team:civil_affairs"],
    tags={"layer": "monitoring"},
    deps=[["monitoring", "warnings"]],
    description="镇街核查反馈督办（第12、16条）：各镇街及合计的在办预警、逾期未反馈、按期反馈率、反馈用时中位数、核查结果及属实率、"
    "最久未反馈的预警；并为县社会救助综合服务中心生成督办工作簿。\n\nSupervision of the townships: open and overdue "
    "warnings, answered within the deadline, median days to feedback, results and the share found true, the oldest "
    "unanswered warning; and the county centre's supervision workbook.",
)
def township_supervision(
    context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings
) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    out_dir = Path(warehouse.home) / "exports" / as_of.isoformat()
    with warehouse.connect() as con:
        rows = build_supervision(con, as_of)
        path = write_supervision_workbook(con, rows, as_of, out_dir, context.run.run_id, not_taken(con, as_of))
    total = rows[-1]
    return dg.MaterializeResult(
        metadata={
            "open_warnings": total["open_warnings"],
            "overdue": total["overdue"],
            "answered_on_time_share": total["answered_on_time_share"],
            "supervision": dg.MetadataValue.md(supervision_table(rows)),
            "oldest_unanswered": dg.MetadataValue.md(oldest_unanswered_table(rows)),
            "chart": dg.MetadataValue.md(supervision_chart(rows, as_of)),
            "workbook": dg.MetadataValue.path(str(path)),
        }
    )
