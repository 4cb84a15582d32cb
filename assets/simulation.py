"""Fund demand and policy simulation (items 1 and 18): each night, what every programme costs under the
policy in force against what the rolls pay; on request, a proposed policy's night beside it
(``jiuzhu simulate`` or this module's asset from the UI), with a workbook and a JSON for the bureau."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from assets.common import NIGHTS, WAREHOUSE_POOL, NightSettings, Warehouse, night_of
from exports.charts import markdown_table, paired_bar_chart_png, png_markdown, stacked_bar_chart_markdown
from exports.simulation import SimulationReport, write_simulation
from jiuzhu.config import load_policy, load_proposal, load_townships
from jiuzhu.policy import Policy
from models.compliance import standard_shares
from transform.monitoring.fund_demand import (
    by_programme,
    component_text,
    demand_summary,
    household_demand,
    reconciliation,
)
from transform.monitoring.simulation import (
    Simulation,
    affected_households,
    headline,
    programme_table,
    rule_table,
    save,
    simulate,
    township_table,
)
from warehouse.person_key import install, load_key
from warehouse.resource import registered, transaction


def _yuan(value: float) -> str:
    return f"{value:,.0f}"


def fund_demand_tables(summary: pd.DataFrame, programmes: pd.DataFrame, policy: Policy) -> tuple[str, str]:
    """The UI's two tables of a night's demand: by programme (``programmes``: by_programme of ``summary``;
    formula and rolls, monthly and annual), and the reconciliation of the rolls component by component."""
    by_prog = markdown_table(
        ["救助项目", "符合/在册户数", "人数", "公式测算（元/月）", "在册实发（元/月）", "公式测算（元/年）"],
        [
            [r.programme, int(r.eligible_households), int(r.persons), _yuan(r.formula_monthly),
             _yuan(r.recorded_monthly), _yuan(12 * r.formula_monthly)]
            for r in programmes.itertuples(index=False)
        ],
    )  # fmt: skip
    rec = markdown_table(
        ["救助项目", "构成", "户数", "金额与公式不同的户数", "公式测算", "在册实发", "差额（实发－测算）"],
        [
            [r.programme, component_text(r.component, policy), int(r.households), int(r.differing_households),
             _yuan(r.formula), _yuan(r.recorded), _yuan(r.difference)]
            for r in reconciliation(summary).itertuples(index=False)
        ],
    )  # fmt: skip
    return by_prog, rec


@dg.asset(
    key=["monitoring", "fund_demand"],
    partitions_def=NIGHTS,
    group_name="monitoring",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    owners=["team:civil_affairs"],
    tags={"layer": "monitoring"},
    deps=[["core", "household_features"], ["config", "policy_in_force"]],
    description="资金需求（第18条）：现行政策下各救助项目（低保差额、特困基本生活和照料护理、低保边缘、临时救助、孤儿）"
    "按镇街、城乡的月度和年度测算，与救助名册实发金额对账（符合条件未在册、在册无近期核对、在册不符合、金额与公式不同）。\n\n"
    "Fund demand under the policy in force, by programme, township and 城乡, reconciled with what the rolls pay.",
)
def fund_demand(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    policy = night.policy_in_force(as_of)
    with warehouse.connect() as con:
        household_demand(con, as_of, policy)
        summary = demand_summary(con)
        con.execute("DROP TABLE _jz_demand")
        with registered(con, "_jz_fund_demand", summary.assign(as_of_date=as_of)), transaction(con):
            con.execute("DELETE FROM monitoring.fund_demand WHERE as_of_date = ?", [as_of])
            con.execute("INSERT INTO monitoring.fund_demand BY NAME SELECT * FROM _jz_fund_demand")
    programmes = by_programme(summary)
    by_prog, rec = fund_demand_tables(summary, programmes, policy)
    chart = paired_bar_chart_png(
        list(programmes["programme"]),
        {"公式测算": list(programmes["formula_monthly"] / 1e4), "在册实发": list(programmes["recorded_monthly"] / 1e4)},
        f"各救助项目月度资金（{as_of}）",
        "万元/月",
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(summary)),
            "monthly_demand": round(float(programmes["formula_monthly"].sum()), 2),
            "monthly_recorded": round(float(programmes["recorded_monthly"].sum()), 2),
            "by_programme": dg.MetadataValue.md(by_prog),
            "reconciliation": dg.MetadataValue.md(rec),
            "demand_by_programme": dg.MetadataValue.md(png_markdown(chart, "各救助项目月度资金")),
        }
    )


def run_simulation(
    con: duckdb.DuckDBPyConnection, home: Path, proposal_path: Path, as_of: dt.date, run_id: str | None = None
) -> tuple[Simulation, SimulationReport, Path, Path]:
    """Simulate the proposal at ``proposal_path`` on the night ``as_of`` (run before), keep the
    figures in simulation.*, and write <name>.xlsx and <name>.json; returns them."""
    install(con, load_key(home))
    proposal = load_proposal(proposal_path, as_of)
    in_force = load_policy(as_of)
    sim = simulate(con, as_of, proposal, in_force)
    figures = headline(sim)
    affected = affected_households(sim)
    save(con, sim, figures, affected)
    rec = reconciliation(sim.before.summary)
    rec["text"] = [component_text(c, in_force) for c in rec["component"]]
    report = SimulationReport(
        name=proposal.name,
        digest=proposal.digest,
        as_of=as_of,
        figures=figures,
        changes=proposal.changes,
        compliance=sim.compliance,
        shares_in_force=standard_shares(in_force),
        shares_proposed=standard_shares(proposal.policy),
        programmes=programme_table(sim),
        townships=township_table(sim, {t.code: t.official_name for t in load_townships()}),
        rules=rule_table(sim),
        households=affected,
        reconciliation=rec,
    )
    workbook, figures_path = write_simulation(con, report, home, run_id)
    return sim, report, workbook, figures_path


class SimulationConfig(dg.Config):
    """The proposal to simulate: a policy file (only the keys that change, or a whole policy file), and
    the night (YYYY-MM-DD; empty: the latest night run)."""

    policy: str
    as_of: str = ""


@dg.asset(
    key=["monitoring", "policy_simulation"],
    group_name="monitoring",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "excel"},
    owners=["team:civil_affairs"],
    tags={"layer": "monitoring"},
    deps=[["monitoring", "warnings"], ["monitoring", "fund_demand"]],
    description="政策测算（第1、18条）：按提案的政策文件重算一晚——新增/不再符合条件的家庭、增减的预警、各项目资金需求，"
    "与现行政策对比；不改动监测表。在启动面板填 policy（提案文件路径）和 as_of（可空：最近一晚）。导出 "
    "<home>/exports/<日期>/simulation/<提案名>.xlsx 和 .json。\n\n"
    "A proposed policy's night beside the policy in force. Materialise with config: policy (the proposal "
    "file), as_of (empty: the latest night).",
)
def policy_simulation(
    context: dg.AssetExecutionContext, config: SimulationConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        as_of = dt.date.fromisoformat(config.as_of) if config.as_of else latest_night(con)
        _, report, workbook, figures_path = run_simulation(
            con, Path(warehouse.home), Path(config.policy), as_of, context.run.run_id
        )
    f = report.figures
    newly = report.townships[report.townships["newly_dibao"] + report.townships["newly_edge"] > 0]
    return dg.MaterializeResult(
        metadata={
            "proposal": f"{report.name} ({report.digest})",
            "as_of": as_of.isoformat(),
            **{
                k: f[k]
                for k in (
                    "newly_eligible",
                    "no_longer_eligible",
                    "warnings_added",
                    "warnings_removed",
                    "monthly_demand",
                    "monthly_demand_in_force",
                )
            },
            "compliance": dg.MetadataValue.md("\n".join(f"- {p}" for p in report.compliance) or "符合第1、2条"),
            "demand_by_programme": dg.MetadataValue.md(png_markdown(report.demand_chart, "各救助项目月度资金需求")),
            "newly_eligible_by_township": dg.MetadataValue.md(
                stacked_bar_chart_markdown(
                    [f"{r.township} {r.residence_type}" for r in newly.itertuples(index=False)],
                    {"低保": list(newly["newly_dibao"]), "低保边缘": list(newly["newly_edge"])},
                    "新增符合条件的户数（按镇街、城乡）",
                    "户",
                )
                if len(newly)
                else "没有新增符合条件的家庭"
            ),
            "item1_ratio": dg.MetadataValue.md(png_markdown(report.ratio_chart, "第1条：低保标准与人均消费支出")),
            "workbook": dg.MetadataValue.path(str(workbook)),
            "figures": dg.MetadataValue.path(str(figures_path)),
        }  # fmt: skip
    )


def latest_night(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The latest night whose list was built (the night a simulation runs on by default)."""
    night = con.execute("SELECT max(as_of_date) FROM monitoring.rule_status").fetchall()[0][0]
    if night is None:
        raise ValueError("仓库里还没有任何一晚的预警名单：先运行 jiuzhu run")
    return night
