"""A policy simulation for the civil affairs bureau and the 财政局: <home>/exports/<as-of>/simulation/
<name>.xlsx (a summary with item 1's figure, by programme, by township, the warnings by rule, the
affected households, the reconciliation of the rolls) and <name>.json beside it with the headline
figures (transform/monitoring/simulation.py headline).

The affected households' list is for the bureau's analysts: ID numbers masked, and not for townships
(it names households a proposal would make eligible, before any decision)."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import duckdb
import pandas as pd

from exports.charts import paired_bar_chart_png, share_range_chart_png
from exports.excel import HEADER_FORMAT, TITLE_FORMAT, open_workbook, print_setup, write_cell, write_sheet
from exports.export_log import log_export
from jiuzhu.config import load_county
from jiuzhu.policy import key_names
from models.compliance import StandardShare

NOT_FOR_TOWNSHIPS = "仅供县民政局、县财政局分析使用，不下发镇街（名单是测算结果，不是认定结论）。"


@dataclass
class SimulationReport:
    """What the workbook shows, as the asset layer computed it (transform/monitoring/simulation.py)."""

    name: str
    digest: str
    as_of: dt.date
    figures: dict  # the headline (<name>.json)
    changes: dict[str, tuple[object, object]]  # dotted key -> (in force, proposed)
    compliance: list[str]  # where the proposal falls short of items 1 and 2 (a warning, not a refusal)
    shares_in_force: list[StandardShare]  # item 1 (models/compliance.py standard_shares)
    shares_proposed: list[StandardShare]
    programmes: pd.DataFrame  # simulation.programme_table
    townships: pd.DataFrame  # simulation.township_table
    rules: pd.DataFrame  # simulation.rule_table
    households: pd.DataFrame  # simulation.affected_households
    reconciliation: pd.DataFrame  # fund_demand.reconciliation, with the component in words (text)

    @cached_property
    def ratio_chart(self) -> bytes:
        """Item 1's figure, a PNG drawn once for the workbook and the UI: each standard's share of
        consumption, in force and proposed, against the range the proposal allows."""
        now = {s.zh: s.share for s in self.shares_in_force}
        rows = [(f"{s.zh}低保标准", s.low, s.high, {"现行": now[s.zh], "提案": s.share}) for s in self.shares_proposed]
        return share_range_chart_png(rows, f"第1条：低保标准与上年度人均消费支出（提案 {self.name}）")

    @cached_property
    def demand_chart(self) -> bytes:
        """Demand by programme, in force and proposed (a PNG, drawn once)."""
        p = self.programmes
        return paired_bar_chart_png(
            list(p["programme"]),
            {"现行政策": list(p["demand_in_force"] / 1e4), f"提案 {self.name}": list(p["demand_proposed"] / 1e4)},
            "各救助项目月度资金需求",
            "万元/月",
        )


def simulation_dir(home: Path, as_of: dt.date) -> Path:
    return home / "exports" / as_of.isoformat() / "simulation"


def write_simulation(
    con: duckdb.DuckDBPyConnection, report: SimulationReport, home: Path, run_id=None
) -> tuple[Path, Path]:
    """The workbook and the JSON of a simulation (logged in audit.exports); returns their paths."""
    out = simulation_dir(home, report.as_of)
    out.mkdir(parents=True, exist_ok=True)
    figures_path = out / f"{report.name}.json"
    figures_path.write_text(json.dumps(report.figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    path = out / f"{report.name}.xlsx"
    wb = open_workbook(path)
    fmt = {
        "header": wb.add_format(HEADER_FORMAT),
        "title": wb.add_format(TITLE_FORMAT),
        "yuan": wb.add_format({"num_format": "#,##0.00"}),
        "whole": wb.add_format({"num_format": "#,##0"}),
        "alarm": wb.add_format({"bold": True, "font_color": "#C0392B"}),
        "text": wb.add_format({"text_wrap": True, "valign": "top"}),
    }
    _summary(wb, fmt, report)
    _programmes(wb, fmt, report)
    _townships(wb, fmt, report)
    _rules(wb, fmt, report)
    _households(wb, fmt, report)
    _reconciliation(wb, fmt, report)
    wb.close()
    log_export(con, report.as_of, path, "policy_simulation", "县民政局、县财政局", len(report.households), run_id)
    return path, figures_path


def _title(report: SimulationReport, what: str) -> list[str]:
    return [
        f"{load_county().name}低收入人口监测预警 政策测算 — 提案 {report.name}（{report.digest}）— {what}，"
        f"截至 {report.as_of}",
        NOT_FOR_TOWNSHIPS,
    ]


def _plain(value):
    """A cell's value as write_cell takes it (numpy scalars as Python numbers; NaN, NaT as empty)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value.item() if hasattr(value, "item") else value


def _summary(wb, fmt, report: SimulationReport) -> None:
    ws = wb.add_worksheet("摘要")
    ws.set_column(0, 0, 40)
    ws.set_column(1, 3, 18)
    lines: list[tuple[list, str | None]] = [([t], "title") for t in _title(report, "摘要")] + [([], None)]
    lines.append((["调整的参数", "现行", "提案"], "header"))
    names = key_names()
    for key, (now, proposed) in report.changes.items():
        shown = ["未设" if v is None else v if isinstance(v, (int, float)) else str(v) for v in (now, proposed)]
        lines.append(([names.get(key, key), *shown], None))
    if not report.changes:
        lines.append((["提案与现行政策相同"], None))
    lines.append(([], None))
    if report.compliance:
        lines.append((["提示：提案不符合第1、2条的以下要求（县里可以另行决定，测算照常进行）"], "alarm"))
        lines += [([problem], "alarm") for problem in report.compliance]
    else:
        lines.append((["提案符合第1条（标准占消费支出的比例、城乡比）和第2条（特困、照料护理标准）。"], None))
    f = report.figures
    lines += [
        ([], None),
        (["主要数字", "现行政策", "提案", "变化"], "header"),
        (["新增符合条件的户数（低保、低保边缘）", None, f["newly_eligible"]], "whole"),
        (["不再符合条件的户数", None, f["no_longer_eligible"]], "whole"),
        (["预警名单新增的对象", None, f["warnings_added"]], "whole"),
        (["预警名单减少的对象", None, f["warnings_removed"]], "whole"),
    ]
    for label, now, proposed in (
        ("月度资金需求（元）", f["monthly_demand_in_force"], f["monthly_demand"]),
        ("年度资金需求（元）", f["annual_demand_in_force"], f["annual_demand"]),
    ):
        lines.append(([label, now, proposed, proposed - now], "yuan"))
    lines += [([], None), (["第1条：低保标准×12 占上年度人均消费支出", "标准（元/月）", "占比", "允许范围"], "header")]
    for side, shares in (("现行", report.shares_in_force), ("提案", report.shares_proposed)):
        for s in shares:
            outside = "" if s.inside else "（超出范围）"
            lines.append(
                ([f"{side} {s.zh}低保标准{outside}", s.monthly, f"{s.share:.1%}", f"{s.low:.0%}–{s.high:.0%}"], None)
            )
    for row, (cells, kind) in enumerate(lines):
        for col, value in enumerate(cells):
            style = fmt[kind] if kind in ("title", "header", "alarm") or (kind and col > 0) else None
            write_cell(ws, row, col, value, style)
    print_setup(ws, f"政策测算 {report.name} {report.as_of}", repeat_to=1)
    below = len(lines) + 1
    ws.insert_image(
        below, 0, "ratio.png", {"image_data": io.BytesIO(report.ratio_chart), "x_scale": 0.8, "y_scale": 0.8}
    )
    ws.insert_image(
        below + 18, 0, "demand.png", {"image_data": io.BytesIO(report.demand_chart), "x_scale": 0.8, "y_scale": 0.8}
    )


def _sheet(
    wb,
    fmt,
    report: SimulationReport,
    name: str,
    what: str,
    columns: Sequence[tuple[str, str, float, str | None]],
    frame: pd.DataFrame,
) -> None:
    """One table: columns (header, frame's column, width, format: 'yuan', 'whole', 'text' or None)."""
    rows = ([_plain(v) for v in r] for r in frame[[c for _, c, _, _ in columns]].itertuples(index=False))
    ws, _ = write_sheet(
        wb, name, [h for h, _, _, _ in columns], rows, widths=[w for _, _, w, _ in columns],
        header_format=fmt["header"], title=_title(report, what), title_format=fmt["title"], autofilter=True,
        printed=f"政策测算 {report.name} {report.as_of} {name}",
    )  # fmt: skip
    for j, (_, _, width, kind) in enumerate(columns):
        if kind:
            ws.set_column(j, j, width, fmt[kind])


def _programmes(wb, fmt, report: SimulationReport) -> None:
    p = report.programmes.assign(
        difference=report.programmes["demand_proposed"] - report.programmes["demand_in_force"],
        annual_in_force=12 * report.programmes["demand_in_force"],
        annual_proposed=12 * report.programmes["demand_proposed"],
    )
    columns = [
        ("救助项目", "programme", 12, None),
        ("现行符合户数", "eligible_in_force", 13, "whole"),
        ("提案符合户数", "eligible_proposed", 13, "whole"),
        ("在册实发（元/月）", "recorded", 17, "yuan"),
        ("现行测算（元/月）", "demand_in_force", 17, "yuan"),
        ("提案测算（元/月）", "demand_proposed", 17, "yuan"),
        ("变化（元/月）", "difference", 15, "yuan"),
        ("现行测算（元/年）", "annual_in_force", 18, "yuan"),
        ("提案测算（元/年）", "annual_proposed", 18, "yuan"),
    ]
    _sheet(wb, fmt, report, "按项目", "按救助项目（特困、孤儿按在册人员；临时救助按过去月份的月平均）", columns, p)


def _townships(wb, fmt, report: SimulationReport) -> None:
    columns = [
        ("镇街", "township", 14, None),
        ("城乡", "residence_type", 6, None),
        ("新增符合低保", "newly_dibao", 12, "whole"),
        ("新增符合低保边缘", "newly_edge", 14, "whole"),
        ("不再符合低保", "no_longer_dibao", 12, "whole"),
        ("不再符合低保边缘", "no_longer_edge", 14, "whole"),
        ("预警新增对象", "warnings_added", 12, "whole"),
        ("预警减少对象", "warnings_removed", 12, "whole"),
        ("现行测算（元/月）", "demand_in_force", 17, "yuan"),
        ("提案测算（元/月）", "demand_proposed", 17, "yuan"),
        ("变化（元/月）", "difference", 15, "yuan"),
    ]
    _sheet(wb, fmt, report, "按镇街", "按镇街、城乡（按户主户口性质）", columns, report.townships)


def _rules(wb, fmt, report: SimulationReport) -> None:
    columns = [
        ("规则", "rule_code", 7, None),
        ("名称", "rule_name", 20, None),
        ("现行命中", "hits_in_force", 11, "whole"),
        ("提案命中", "hits_proposed", 11, "whole"),
        ("新增", "added", 9, "whole"),
        ("消除", "removed", 9, "whole"),
    ]
    _sheet(
        wb,
        fmt,
        report,
        "预警变化",
        "各规则命中的变化（“情况不属实”暂停的不计；M01 用今晚的模型分数）",
        columns,
        report.rules,
    )


def _households(wb, fmt, report: SimulationReport) -> None:
    h = report.households.assign(
        rules_added=report.households["rules_added"].map("、".join),
        rules_removed=report.households["rules_removed"].map("、".join),
        tier_in_force=report.households["tier_in_force"].replace("", "—"),
        tier_proposed=report.households["tier_proposed"].replace("", "—"),
    )
    columns = [
        ("户编号", "household_id", 14, None),
        ("户主身份证号（脱敏）", "head_masked_id", 20, None),
        ("镇街", "township_name", 12, None),
        ("村（社区）", "village", 14, None),
        ("城乡", "residence_type", 6, None),
        ("人数", "members", 6, "whole"),
        ("核对人均月收入（元）", "per_capita_monthly_income", 12, "yuan"),
        ("核对日期", "verification_date", 11, None),
        ("现行档次", "tier_in_force", 9, None),
        ("提案档次", "tier_proposed", 9, None),
        ("新增预警规则", "rules_added", 12, None),
        ("消除预警规则", "rules_removed", 12, None),
        ("现行测算（元/月）", "demand_in_force", 14, "yuan"),
        ("提案测算（元/月）", "demand_proposed", 14, "yuan"),
        ("变化（元/月）", "demand_change", 12, "yuan"),
    ]
    _sheet(wb, fmt, report, "受影响家庭", "受影响的家庭（档次变化在前，其次预警变化，再按测算金额变化）", columns, h)


def _reconciliation(wb, fmt, report: SimulationReport) -> None:
    columns = [
        ("救助项目", "programme", 10, None),
        ("构成", "text", 52, "text"),
        ("户数", "households", 9, "whole"),
        ("其中金额与公式不同的户数", "differing_households", 14, "whole"),
        ("公式测算（元/月）", "formula", 16, "yuan"),
        ("在册实发（元/月）", "recorded", 16, "yuan"),
        ("差额（实发－测算）", "difference", 16, "yuan"),
    ]
    _sheet(
        wb,
        fmt,
        report,
        "实发与测算对账",
        "现行政策下，在册实发与公式测算的差额，逐项说明",
        columns,
        report.reconciliation,
    )
