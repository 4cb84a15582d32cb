"""Is each department still delivering? One check per raw feed: the newest
loaded extract on or before the night's as-of date is within the feed spec's
max_age (config/feeds.yaml; transform/audit/freshness.py measures it).

A warning, not a block: a late department does not stop the night; its feed is
shown as 逾期 (stale) here, in the scorecard and in the run summary.

Why not Dagster's own freshness (``FreshnessPolicy``, ``build_last_update_freshness_checks``,
both in Dagster 1.13): they measure wall-clock time since the asset was last
materialised. raw.<feed> is materialised every night whether the department sent
a file or not, so that would watch the pipeline, not the department; and a run
for a past as-of date must judge that date, not today's clock. The extract
dates in audit.files, against the as-of date, answer the question asked.
"""

# no `from __future__ import annotations`: Dagster reads these type hints at definition time
import dagster as dg

from assets.common import NightSettings, Warehouse, night_of
from jiuzhu.config import Feed, load_feeds
from transform.audit.freshness import freshness

CHECK_NAME = "fresh_within_cadence"


def build_freshness_check(feed: Feed) -> dg.AssetChecksDefinition:
    allowed_zh, allowed_en = feed.max_age_text

    @dg.asset_check(
        asset=dg.AssetKey(["raw", feed.name]),
        name=CHECK_NAME,
        blocking=False,
        description=(
            f"{feed.department}「{feed.title}」按时报送：截至当晚的数据日期，最近一次已加载数据的提取日期"
            f"距今不超过{allowed_zh}（警告，部门逾期不阻断夜间运行）。\n\n"
            f"Delivered on time: on the night's as-of date, the newest loaded extract of `{feed.name}` is at most "
            f"{allowed_en} old (warning; a late department does not stop the night)."
        ),
    )
    def fresh_within_cadence(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse, night: NightSettings
    ) -> dg.AssetCheckResult:
        as_of = night_of(context, night)
        with warehouse.connect(read_only=True) as con:
            (f,) = freshness(con, as_of, [feed])
        metadata = {
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
            "state": dg.MetadataValue.text(f"{f.label_zh} {f.state}"),
            "last_extract_date": dg.MetadataValue.text(f.last_loaded.isoformat() if f.last_loaded else "—"),
            "last_delivered_date": dg.MetadataValue.text(f.last_delivered.isoformat() if f.last_delivered else "—"),
            "allowed_age": dg.MetadataValue.text(f"{allowed_zh} / {allowed_en}"),
            "max_age_days": dg.MetadataValue.int(f.max_age_days),
            "message": dg.MetadataValue.text(f"{f.message_zh}\n{f.message_en}"),
        }
        if f.age_days is not None:
            metadata["age_days"] = dg.MetadataValue.int(f.age_days)
        return dg.AssetCheckResult(passed=f.fresh, severity=dg.AssetCheckSeverity.WARN, metadata=metadata)

    return fresh_within_cadence


freshness_checks = [build_freshness_check(feed) for feed in load_feeds().values()]
