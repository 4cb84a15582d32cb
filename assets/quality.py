"""Tonight's data quality: the feed gate (which feeds the rules may use), a scorecard
per department, and each department's workbook of rejected rows to fix at the source."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

import json
from pathlib import Path

import dagster as dg

from assets.common import NIGHTS, WAREHOUSE_POOL, NightSettings, Warehouse, night_of
from assets.staging import staging_assets
from exports.quality import write_quality_workbooks
from exports.ui_metadata import quarantine_chart, scorecard_table, validity_chart
from jiuzhu.config import load_feeds, load_quality
from transform.audit.quality import measure_all
from transform.audit.scorecards import quarantined_by_reason, scorecard_rows, store_scorecards
from transform.monitoring.feedback import REASONS as FEEDBACK_REASONS
from transform.monitoring.feedback import check_feedback
from transform.staging.spec_sql import REASONS as STAGING_REASONS
from warehouse.resource import transaction

REASONS = STAGING_REASONS | FEEDBACK_REASONS  # every row-level reason code, in Chinese


@dg.asset(
    key=["audit", "township_feedback"],
    partitions_def=NIGHTS,
    group_name="quality",
    owners=["team:civil_affairs"],
    tags={"layer": "quality", "department": "township"},
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    deps=[dg.AssetKey(["staging", "zj_feedback"])],
    description=(
        "镇街反馈的核查：预警编号不存在、属于其他镇街、核查日期早于预警下发的反馈行被隔离并注明原因"
        "（核查日期晚于报送日、核查结果不在列表中的，标准化时已隔离），其余用于当晚的预警名单。\n\n"
        "Township feedback checked before the list uses it: rows naming a warning never issued, a warning of "
        "another township, or a check date before the warning began are quarantined with their reason."
    ),
)
def township_feedback(
    context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings
) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    with warehouse.connect() as con, transaction(con):
        quarantined = check_feedback(con, as_of, context.run.run_id)
        by_reason = con.execute(
            """SELECT reason_code, count(*) FROM audit.quarantine WHERE feed = 'zj_feedback' AND stage = 'feedback'
               AND run_id = ? GROUP BY ALL ORDER BY ALL""",
            [context.run.run_id],
        ).fetchall()
    return dg.MaterializeResult(
        metadata={
            "quarantined_tonight": quarantined,
            "by_reason": dg.MetadataValue.md(
                "\n".join(f"- {code}（{REASONS[code]}）×{n}" for code, n in by_reason) or "今晚没有隔离的反馈 (none)"
            ),
        }
    )


@dg.asset(
    key=["audit", "feed_gate"],
    partitions_def=NIGHTS,
    group_name="quality",
    owners=["team:civil_affairs"],
    tags={"layer": "quality"},
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    deps=[a.key for a in staging_assets] + [township_feedback.key],
    description=(
        "今晚哪些部门数据可用于预警规则：隔离占比、主键重复、名册缩减等检查未通过的数据不参与今晚的规则，"
        "并注明原因；只有民政名册不可用时才停止预警名单。\n\nWhich feeds tonight's rules may use. A feed that "
        "fails a gate is left out (its rules are reported as not evaluated); only an unusable roster stops the list."
    ),
)
def feed_gate(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    with warehouse.connect() as con:
        measured = measure_all(con, as_of)
        with transaction(con):  # the night's gate whole, or last run's left as it was
            con.execute("DELETE FROM audit.feed_gate WHERE as_of_date = ?", [as_of])
            con.executemany(
                "INSERT INTO audit.feed_gate BY NAME SELECT ? AS as_of_date, ? AS feed, ? AS usable, ? AS problems, ?::JSON AS measured",
                [
                    [
                        as_of,
                        fq.feed,
                        fq.usable,
                        "；".join(fq.problems) or None,
                        json.dumps(fq.as_dict(), ensure_ascii=False),
                    ]
                    for fq in measured
                ],
            )
    rows = ["| feed | 可用 usable | 原因 problems |", "|---|---|---|"]
    rows += [f"| {fq.feed} | {'✓' if fq.usable else '✗'} | {'；'.join(fq.problems)} |" for fq in measured]
    return dg.MaterializeResult(
        metadata={
            "usable_feeds": sum(fq.usable for fq in measured),
            "unusable_feeds": dg.MetadataValue.json([fq.feed for fq in measured if not fq.usable]),
            "gate": dg.MetadataValue.md("\n".join(rows)),
        }
    )


@dg.asset(
    key=["audit", "scorecards"],
    partitions_def=NIGHTS,
    group_name="quality",
    owners=["team:civil_affairs"],
    tags={"layer": "quality"},
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "excel"},
    deps=[feed_gate.key],
    description=(
        "各部门数据质量记分卡（每晚）：及时性（最近提取日期、距今天数、是否按时）、完整性、有效性、主键重复、主要隔离原因，"
        "今晚按原因代码统计的隔离行图；并为每个部门数据生成被隔离行清单（exports/<日期>/quality/<feed>.xlsx，身份证号已脱敏），供源头整改。\n\n"
        "A scorecard per department per night (freshness: last extract, age, on time; completeness, validity, "
        "duplicates, top reasons), a chart of tonight's quarantined rows by reason code, and "
        "each feed's workbook of quarantined rows with masked ID numbers, to fix at the source."
    ),
)
def scorecards(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    out_dir = Path(warehouse.home) / "exports" / as_of.isoformat() / "quality"
    with warehouse.connect() as con:
        measured = measure_all(con, as_of)
        rows = scorecard_rows(con, measured, as_of)
        quarantined = quarantined_by_reason(con, measured)
        # the night's scorecards and the log of its workbooks land together, or last run's stay as they were
        with transaction(con):
            store_scorecards(con, as_of, rows)
            written = write_quality_workbooks(con, load_feeds().values(), as_of, out_dir, context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "scorecard": dg.MetadataValue.md(scorecard_table(rows, REASONS)),
            "validity_chart": dg.MetadataValue.md(validity_chart(rows, as_of, load_quality()["max_quarantine_share"])),
            "quarantined_rows_tonight": sum(n for _, _, n in quarantined),
            "quarantine_reasons_chart": dg.MetadataValue.md(quarantine_chart(quarantined, as_of, REASONS)),
            "stale_feeds": dg.MetadataValue.json([r["feed"] for r in rows if not r["fresh"]]),
            "quality_workbooks": dg.MetadataValue.path(str(out_dir)),
            "quarantined_rows_listed": sum(written.values()),
        }
    )
