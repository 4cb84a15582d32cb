"""rule_backtest.xlsx: each rule's record for the civil affairs bureau (transform/monitoring/backtest.py),
figures only (no household, no person)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from exports.excel import HEADER_FORMAT, TITLE_FORMAT, open_workbook, write_sheet
from exports.export_log import log_export
from exports.supervision import percent
from jiuzhu.config import load_county
from models.rules import TONGLING_ASSISTED, TONGLING_CONVERSION, TONGLING_WARNINGS

FILE = "rule_backtest.xlsx"
COLUMNS = [  # (header, column of monitoring.rule_backtest, width)
    ("规则", "rule_code", 7),
    ("名称", "rule_name", 22),
    ("等级", "level", 6),
    ("回测月末数", "month_ends", 9),
    ("新预警户数", "flags", 10),
    ("6个月内纳入救助或核实属实", "converted", 14),
    ("转化率", "conversion", 8),
    ("提前天数中位数", "median_lead_days", 11),
    ("期间新纳入救助户次", "entries", 12),
    ("其中事先预警", "found_before", 10),
    ("提前发现率", "early_discovery", 10),
    ("结论", "verdict", 44),
]


SHARES = {"conversion", "early_discovery"}


def write_backtest_workbook(
    con: duckdb.DuckDBPyConnection,
    table: pd.DataFrame,
    computed_on: dt.date,
    as_of: dt.date,
    out_dir: Path,
    run_id=None,
) -> Path:
    county = load_county()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FILE
    wb = open_workbook(path)
    header = wb.add_format(HEADER_FORMAT)
    title = wb.add_format(TITLE_FORMAT)
    text = wb.add_format({"text_wrap": True, "valign": "top"})
    share = wb.add_format({"align": "right", "valign": "top"})  # a share written as 13%, beside the counts
    shown = table.assign(
        conversion=table["conversion"].map(percent),
        early_discovery=table["early_discovery"].map(percent),
        median_lead_days=table["median_lead_days"].map(lambda v: None if pd.isna(v) else round(float(v))),
    )
    ws, _ = write_sheet(
        wb,
        "规则回测",
        [h for h, _, _ in COLUMNS],
        ([None if pd.isna(v) else v for v in row] for row in shown[[k for _, k, _ in COLUMNS]].itertuples(index=False)),
        widths=[w for _, _, w in COLUMNS],
        header_format=header,
        title_format=title,
        fit_rows=True,
        title=[
            f"{county.name}低收入人口监测预警 规则回测 — {computed_on} 计算，{as_of} 导出",
            "在训练历史的每个月末（其后6个月已过完），按当时的家庭情况看每条规则会新预警哪些户。",
            "转化率＝其中6个月内纳入救助（低保、特困、临时救助）或镇街核实“情况属实”的比例；"
            "提前天数＝从首次预警的月末到开始救助的天数；",
            "提前发现率＝期间所有新纳入救助中，事先6个月内被该规则预警的比例。",
            f"对照：铜陵市公开数据约 {TONGLING_WARNINGS:,} 条预警、{TONGLING_ASSISTED:,} 人获救助，"
            f"约 {TONGLING_CONVERSION:.0%}。M01 只在模型训练时未见过的月份上评估。",
        ],
        printed=f"规则回测 {computed_on}",
    )
    for j, (_, key, width) in enumerate(COLUMNS):  # cells written without a format take their column's
        ws.set_column(j, j, width, share if key in SHARES else text)
    wb.close()
    log_export(con, as_of, path, "rule_backtest", "县民政局", len(table), run_id)
    return path
