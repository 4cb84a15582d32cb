"""Layer 4 — monitoring: the policy in force, rule hits, the warning list with its
episodes, and the night's exports for townships and departments."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from pathlib import Path

import dagster as dg

from exports.charts import aliases, cjk_font, markdown_table, stacked_bar_chart_markdown, zh_or
from assets.core import CORE_TABLES
from assets.quality import feed_gate
from jiuzhu.idnumber import mask
from models.rules import LEVEL_ORDER
from assets.common import NIGHTS, WAREHOUSE_POOL, NightSettings, night_of
from exports.township import write_exports
from transform.monitoring.warnings import build_warnings
from assets.common import Warehouse


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
            "effective_date": str(policy["effective_date"]),
            "source": policy.get("source", ""),
            "standards": dg.MetadataValue.json(policy["standards"]),
            "rules": dg.MetadataValue.json({k: v for k, v in policy["rules"].items()}),
        }
    )


# LEVEL_ORDER: 红 > 橙 > 黄 > 复核; ASCII names when the server has no Chinese font (exports/charts.py)
LEVEL_COLOURS = {"红": "#c0392b", "橙": "#e67e22", "黄": "#f1c40f", "复核": "#5d6d7e"}
LEVEL_ASCII = {"红": "red", "橙": "orange", "黄": "yellow", "复核": "review"}
STATUS_ZH = {"new": "新增", "continuing": "持续", "escalated": "升级"}
PREVIEW_ROWS = 10
# The UI preview of the list: no name, address, phone or full ID number, and no reasons text either
# (it tells of illness, disability, deaths and medical spending: health details of a person).
PREVIEW_SQL = f"""
    SELECT warning_id, township_name, village, level, rule_codes, status, first_flagged_on, risk_score, person_masked_id
    FROM monitoring.warnings WHERE as_of_date = ?
    ORDER BY CASE level {' '.join(f"WHEN '{lv}' THEN {i}" for i, lv in enumerate(LEVEL_ORDER))} END,
             risk_score DESC NULLS LAST, township_code, warning_id
    LIMIT ?"""


def _township_level_chart(by_town: list[tuple[str, str, int]], as_of) -> str:
    """Warnings per township, stacked by level; townships as T1…Tn with a legend when the
    server cannot draw Chinese."""
    if not by_town:
        return "今晚没有预警 (no warnings tonight)"
    towns = sorted({t for t, _, _ in by_town})
    counts = {(t, lv): n for t, lv, n in by_town}
    labels, legend = aliases(towns)
    series = {zh_or(lv, LEVEL_ASCII[lv]): [counts.get((t, lv), 0) for t in towns] for lv in LEVEL_ORDER}
    colours = {zh_or(lv, LEVEL_ASCII[lv]): c for lv, c in LEVEL_COLOURS.items()}
    chart = stacked_bar_chart_markdown(labels, series, f"Warnings per township and level, {as_of}",
                                       "warnings (households, or persons outside the roster)", colours)
    key = "；".join(f"{LEVEL_ASCII[lv]} = {lv}" for lv in LEVEL_ORDER) if not cjk_font() else ""
    return "\n\n".join(part for part in (chart, legend, key) if part)


def _warnings_preview(rows: list[tuple]) -> str:
    """The first warnings (most urgent first) as a Markdown table, without personal data."""
    if not rows:
        return "今晚没有预警 (no warnings tonight)"
    header = ["预警编号 warning", "镇街 township", "村居 village", "等级 level", "规则 rules", "状态 status",
              "首次预警 first flagged", "风险分 risk", "身份证号(脱敏) masked ID"]
    body = [
        [wid, town, village, level, ", ".join(codes), STATUS_ZH.get(status, status), first,
         f"{score:.3f}" if score is not None else None, mask(masked) if masked else None]
        for wid, town, village, level, codes, status, first, score, masked in rows
    ]
    return (markdown_table(header, body) + f"\n\n前 {len(rows)} 条（按等级、风险分排序）；姓名、地址、电话、原因见各镇街工作簿。"
            "First warnings by level and score; names, addresses, phones and reasons are in the township workbooks only.")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["monitoring", "rule_hits"], group_name="monitoring", kinds={"duckdb"}, owners=["team:civil_affairs"],
                     tags={"layer": "monitoring"},
                     deps=[["core", t] for t in CORE_TABLES] + [feed_gate.key, policy_in_force.key,
                                                               ["monitoring", "household_scores"]],
                     description="当晚每条规则的命中：对象、规则、决定性数字、阈值、政策条款、来源记录；不能评估的规则注明原因。\n\n"
                                 "Tonight's rule hits (subject, rule, deciding figures, threshold, policy item, source records "
                                 "in monitoring.rule_sources); rules that could not be evaluated say why (monitoring.rule_status)."),
        dg.AssetSpec(["monitoring", "warnings"], group_name="monitoring", kinds={"duckdb"}, owners=["team:civil_affairs"],
                     tags={"layer": "monitoring", "contract": "OUTPUTS.md"},
                     deps=[["monitoring", "rule_hits"]],
                     description="预警名单（OUTPUTS.md）：每户（或名册外人员）一行，全部规则代码、等级、中文原因、责任单位、"
                                 "状态（新增/持续/升级）、首次预警日期；已解除的预警在 monitoring.resolved_warnings 列出一次。"
                                 "界面中只显示脱敏预览（不含姓名、地址、电话、原因）。\n\n"
                                 "The warning list (OUTPUTS.md): one row per household, or person outside the roster, with all "
                                 "rule codes, the most urgent level, reasons, departments, status (new / continuing / escalated) "
                                 "and first_flagged_on; warnings that end are listed once in monitoring.resolved_warnings. "
                                 "The UI shows a masked preview only (no names, addresses, phones or reasons)."),
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
        preview = con.execute(PREVIEW_SQL, [as_of, PREVIEW_ROWS]).fetchall()
    yield dg.MaterializeResult(
        asset_key=["monitoring", "rule_hits"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(night_list.hits),
            "hits_by_rule": dg.MetadataValue.md("\n".join(
                ["| 规则 | 命中 | 已评估 |", "|---|---|---|"] + [f"| {c} | {h if h is not None else '—'} | {'✓' if e else '✗'} |" for c, h, e in by_rule])),
            "not_evaluated": dg.MetadataValue.json([{"rule": c, "reason": r} for c, r in night_list.not_evaluated]),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["monitoring", "warnings"],
        metadata={
            "dagster/row_count": dg.MetadataValue.int(night_list.warnings),
            "new": night_list.new, "escalated": night_list.escalated, "resolved": night_list.resolved,
            "by_township_and_level": dg.MetadataValue.md("\n".join(
                ["| 镇街 | 等级 | 户数 |", "|---|---|---|"] + [f"| {t} | {lv} | {n} |" for t, lv, n in by_town])),
            "warnings_by_township_and_level": dg.MetadataValue.md(_township_level_chart(by_town, as_of)),
            "preview": dg.MetadataValue.md(_warnings_preview(preview)),
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
def warning_workbooks(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    out_dir = Path(warehouse.home) / "exports" / as_of.isoformat()
    with warehouse.connect() as con:
        entries = write_exports(con, as_of, out_dir, night.policy_in_force(as_of), context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "directory": dg.MetadataValue.path(str(out_dir)),
            "township_workbooks": sum(e["kind"] == "township" for e in entries),
            "department_lists": sum(e["kind"] == "department" for e in entries),
            "manifest": dg.MetadataValue.path(str(out_dir / "manifest.json")),
        }
    )
