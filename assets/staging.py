"""Layer 2 — staging: one typed, normalised table per feed, made by one factory from the spec.

Rows that cannot be standardised go to audit.quarantine with a stable reason;
every raw row is in exactly one of staging.<feed> or the quarantine.
"""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from typing import Any

import dagster as dg

from assets.common import NIGHTS, NightSettings, Warehouse, feed_asset_args, night_of
from jiuzhu.config import Feed, load_feeds
from transform.staging.build import build_staging
from transform.staging.spec_sql import REASONS


def build_staging_asset(feed: Feed) -> dg.AssetsDefinition:
    @dg.asset(
        **feed_asset_args(
            feed,
            "staging",
            f"{feed.department}「{feed.title}」标准化数据：身份证号统一为18位，日期、金额、枚举值、镇街代码统一，"
            f"无法标准化的行进入隔离表并注明原因。is_current 标出当晚有效的记录。每晚只标准化新到或被替换文件所在的提取日期，"
            "规则变更时全部重新标准化。\n\n"
            f"Typed, normalised `{feed.name}` ({feed.kind}): 18-digit ID numbers, dates, money, canonical "
            "enumerations and township codes; rows that cannot be standardised are quarantined with a stable "
            "reason code. `is_current` marks the rows in force on the as-of date. A night standardises only the "
            "extract dates with a new or superseded file; a change of the rules restandardises the whole feed.",
            deps=[dg.AssetKey(["raw", feed.name])],
        ),
        partitions_def=NIGHTS,  # staging holds the rows in force on the night's date
    )
    def staging_feed(
        context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings
    ) -> dg.MaterializeResult:
        as_of = night_of(context, night)
        with warehouse.connect() as con:
            report = build_staging(con, feed, as_of, context.run.run_id, rebuild=night.rebuild)
        reasons = "\n".join(
            ["| 原因 reason | 行数 rows |", "|---|---|"]
            + [f"| {code} {REASONS.get(code, '')} | {n} |" for code, n in report.reasons]
        )
        metadata: dict[str, Any] = {
            "dagster/row_count": dg.MetadataValue.int(report.rows),
            "current_rows": report.current_rows,
            "quarantined_rows": report.quarantined,
            "quarantine_reasons": dg.MetadataValue.md(reasons if report.reasons else "没有隔离行 (none quarantined)"),
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
        }
        if report.in_force is not None:
            metadata["snapshot_in_force"] = dg.MetadataValue.text(report.in_force.isoformat())
        return dg.MaterializeResult(metadata=metadata)

    return staging_feed


staging_assets = [build_staging_asset(feed) for feed in load_feeds().values()]
