"""Checks of the monitoring layer: the policy in force complies with items 1 and 2 (blocking),
and the township workbooks hold exactly the night's warnings."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from pathlib import Path

import dagster as dg
from python_calamine import CalamineWorkbook

from assets.common import NightSettings, Warehouse, night_of
from assets.monitoring import policy_in_force, warning_workbooks
from exports.township import listed_warnings, township_workbooks
from models.compliance import compliance_problems


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


@dg.asset_check(
    asset=warning_workbooks,
    name="workbooks_hold_exactly_the_warnings",
    blocking=False,
    description="工作簿中的预警与预警表完全一致（每个镇街、每个工作表的行数和预警编号）。",
)
def workbooks_hold_exactly_the_warnings(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse, night: NightSettings
) -> dg.AssetCheckResult:
    as_of = night_of(context, night)
    out_dir = Path(warehouse.home) / "exports" / as_of.isoformat()
    with warehouse.connect(read_only=True) as con:
        expected = {
            (code, sheet, wid)
            for code, sheet, wid in con.execute(
                """SELECT township_code, CASE status WHEN 'new' THEN '新增预警' ELSE '持续预警' END, warning_id
                   FROM monitoring.warnings WHERE as_of_date = ?
                   UNION ALL SELECT township_code, '本期解除', warning_id FROM monitoring.resolved_warnings
                   WHERE as_of_date = ?""",
                [as_of, as_of],
            ).fetchall()
        }
    found = set()
    for path in township_workbooks(out_dir):
        code = path.name.split("_")[0]
        wb = CalamineWorkbook.from_path(str(path))
        for sheet in ("新增预警", "持续预警", "本期解除"):
            found |= {
                (code, sheet, warning_id) for warning_id in listed_warnings(wb.get_sheet_by_name(sheet).to_python())
            }
    return dg.AssetCheckResult(
        passed=found == expected,
        metadata={
            "in_table": len(expected),
            "in_workbooks": len(found),
            "missing": len(expected - found),
            "unexpected": len(found - expected),
        },
    )
