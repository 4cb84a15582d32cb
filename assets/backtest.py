"""Each rule's record (back-test) in the UI and the exports: how often each rule's warnings, and
M01's, led to assistance or were verified true, how early, and whether the rule earns its place."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.common import NIGHTS, WAREHOUSE_POOL, NightSettings, Warehouse, night_of
from assets.model import risk_model
from exports.backtest import write_backtest_workbook
from exports.charts import bar_chart_markdown, markdown_table
from exports.supervision import percent
from models.rules import TONGLING_CONVERSION
from transform.monitoring.backtest import COLUMNS, backtest, basis, complete_month_ends
from warehouse import risk_store
from warehouse.person_key import install, load_key
from warehouse.resource import registered, transaction


@dg.asset(
    key=["monitoring", "rule_backtest"],
    partitions_def=NIGHTS,
    group_name="monitoring",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "excel"},
    owners=["team:civil_affairs"],
    tags={"layer": "monitoring"},
    # after the night's workbooks: writing them clears the night's folder of earlier workbooks
    deps=[risk_model.key, ["exports", "warning_workbooks"]],
    description="规则回测：在训练历史的每个月末，每条规则（和 M01、整个名单）会新预警哪些户，其中6个月内纳入救助或"
    "核实属实的比例、提前天数、提前发现率，与铜陵约13%的转化率对照；导出 rule_backtest.xlsx。\n\n"
    "Each rule's record: at every month end of the training history, the households each rule (and M01, "
    "and the list as a whole) would have newly flagged, the share that entered assistance or were verified "
    "true within six months, the lead time and the early-discovery rate, against Tongling's 13 %.",
)
def rule_backtest(
    context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings
) -> dg.MaterializeResult:
    as_of, home = night_of(context, night), Path(warehouse.home)
    current = risk_store.current(home, as_of)
    version = current[0] if current else None
    with warehouse.connect() as con:
        install(con, load_key(home))  # the outcomes find assisted persons by their key
        month_ends = complete_month_ends(con, as_of)
        now = basis(month_ends, version, night.policy_in_force)
        last = con.execute(
            "SELECT computed_on, basis FROM monitoring.rule_backtest ORDER BY computed_on DESC LIMIT 1"
        ).fetchall()
        computed = not last or last[0][1] != now
        if computed:
            table = backtest(con, as_of, night.policy_in_force, version)
            computed_on = as_of
            with registered(con, "_jz_backtest", table.assign(computed_on=as_of, basis=now)), transaction(con):
                con.execute("DELETE FROM monitoring.rule_backtest WHERE computed_on = ?", [as_of])
                con.execute("INSERT INTO monitoring.rule_backtest BY NAME SELECT * FROM _jz_backtest")
        else:
            computed_on = last[0][0]
            table = con.execute(
                f"SELECT {', '.join(COLUMNS)} FROM monitoring.rule_backtest WHERE computed_on = ? ORDER BY rowid",
                [computed_on],
            ).df()
        if table.empty:
            return dg.MaterializeResult(
                metadata={
                    "computed": computed,
                    "month_ends": 0,
                    "note": "训练历史中还没有6个月已过完的月末。No month end of the history has six months behind it yet.",
                }
            )
        workbook = write_backtest_workbook(
            con, table, computed_on, as_of, home / "exports" / as_of.isoformat(), context.run.run_id
        )
    return dg.MaterializeResult(
        metadata={
            "computed": computed,
            "computed_on": computed_on.isoformat(),
            "month_ends": len(month_ends),
            "model_version": version or "none",
            "record": dg.MetadataValue.md(_record_table(table)),
            "conversion_chart": dg.MetadataValue.md(_chart(table)),
            "workbook": dg.MetadataValue.path(str(workbook)),
        }
    )


def _record_table(table: pd.DataFrame) -> str:
    return markdown_table(
        ["规则", "名称", "新预警户数", "转化率", "提前天数中位数", "提前发现率", "结论"],
        [
            [
                r.rule_code,
                r.rule_name,
                r.flags,
                percent(r.conversion) or "—",
                "—" if pd.isna(r.median_lead_days) else round(float(r.median_lead_days)),
                percent(r.early_discovery) or "—",
                r.verdict,
            ]
            for r in table.itertuples(index=False)
        ],
    )


def _chart(table: pd.DataFrame) -> str:
    shown = table[table["flags"] > 0]
    return bar_chart_markdown(
        [f"{r.rule_code} {r.rule_name}" for r in shown.itertuples(index=False)],
        [100 * float(r.conversion) for r in shown.itertuples(index=False)],
        "各规则预警的转化率（6个月内纳入救助或核实属实）",
        f"转化率 %（虚线：铜陵约 {TONGLING_CONVERSION:.0%}）",
        limit=100 * TONGLING_CONVERSION,
    )
