"""Quality gates on staging.<feed>, measured on tonight's extract (transform.audit.quality).

Blocking where going on would make the warning list wrong: for the roster
(config/quality.yaml `list_stopping_feeds`), a failed gate stops everything
downstream — only an unusable roster stops the list. For any other feed the
same gates are errors, not Dagster blocks: the feed gate (audit.feed_gate)
leaves that feed out of tonight's rules, and the list still goes out for what
the other feeds support.
"""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from typing import Any

import dagster as dg

from assets.common import NightSettings, Warehouse, night_of
from jiuzhu.config import Feed, load_feeds, load_quality
from transform.audit.quality import FeedQuality, measure

GATES = ("quarantine_share_within_limit", "duplicate_keys_within_limit", "snapshot_not_shrunk")
WARNINGS = ("row_count_in_usual_range", "persons_found_in_roster")


def _specs(feed: Feed) -> list[dg.AssetCheckSpec]:
    key = dg.AssetKey(["staging", feed.name])
    blocking = feed.name in load_quality()["list_stopping_feeds"]
    names = [g for g in GATES if g != "snapshot_not_shrunk" or feed.kind == "snapshot"]
    names += [w for w in WARNINGS if w != "persons_found_in_roster" or feed.name in load_quality()["coverage_feeds"]]
    return [
        dg.AssetCheckSpec(n, asset=key, blocking=blocking and n in GATES, description=DESCRIPTIONS[n]) for n in names
    ]


DESCRIPTIONS = {
    "quarantine_share_within_limit": "今晚被隔离的数据行占比不超过上限（默认5%；少于10行不关闭）。"
    "Share of tonight's rows quarantined within the limit (never closed over fewer than gate_min_rows rows).",
    "duplicate_keys_within_limit": "今晚业务主键重复的行（已隔离，保留最后一行）占比不超过上限（默认1%）。"
    "Share of tonight's rows with a repeated natural key (quarantined as DUPLICATE_KEY, the last kept) within the limit.",
    "snapshot_not_shrunk": "名册快照比上一期减少不超过20%。The snapshot did not shrink by more than the limit.",
    "row_count_in_usual_range": "今晚的行数与近7期中位数相比在正常范围内（警告）。Row count against the feed's history (warning).",
    "persons_found_in_roster": "本部门数据中的人员大多能在民政名册中找到（警告）。Share of the feed's persons in the roster (warning).",
}


def _result(feed: Feed, name: str, fq: FeedQuality) -> dg.AssetCheckResult:
    limits = load_quality()
    key = dg.AssetKey(["staging", feed.name])
    meta: dict[str, Any] = {"extract_date": str(fq.extract_date), "rows_tonight": fq.rows_tonight}
    severity = dg.AssetCheckSeverity.ERROR
    if name == "quarantine_share_within_limit":
        passed = not fq.quarantine_over_limit
        meta |= {
            "quarantined": fq.quarantined_tonight,
            "share": fq.quarantine_share,
            "top_reasons": dg.MetadataValue.json([list(r) for r in fq.top_reasons]),
        }
    elif name == "duplicate_keys_within_limit":
        passed = not fq.duplicates_over_limit
        meta |= {
            "rows_with_duplicated_key": fq.duplicate_keys,
            "share": fq.duplicate_share,
            "natural_key": "+".join(feed.natural_key),
        }
    elif name == "snapshot_not_shrunk":
        passed = fq.snapshot_shrink is None or fq.snapshot_shrink <= limits["max_snapshot_shrink"]
        meta |= {
            "snapshot_rows": fq.snapshot_rows or 0,
            "previous_snapshot_rows": fq.previous_snapshot_rows or 0,
            "shrink": fq.snapshot_shrink or 0.0,
        }
    elif name == "row_count_in_usual_range":
        low, high = limits["row_count_band"]
        too_small = (fq.history_median_rows or 0) < limits["row_count_min_median"]
        passed = fq.row_count_ratio is None or too_small or low <= fq.row_count_ratio <= high
        severity = dg.AssetCheckSeverity.WARN
        meta |= {"history_median_rows": fq.history_median_rows or 0.0, "ratio": fq.row_count_ratio or 0.0}
    else:  # persons_found_in_roster
        passed = fq.roster_coverage is None or fq.roster_coverage >= limits["min_roster_coverage"]
        severity = dg.AssetCheckSeverity.WARN
        meta |= {"roster_coverage": fq.roster_coverage if fq.roster_coverage is not None else 1.0}
    if feed.returned_form and name in GATES:  # its shares close no gate (transform.audit.quality.measure)
        severity = dg.AssetCheckSeverity.WARN
    if fq.extract_date is None and feed.returned_form:
        meta["note"] = "尚无反馈 (no answers returned yet)"  # nothing to measure, nothing wrong
    elif fq.extract_date is None:
        passed, meta["note"] = False, "没有可用的数据文件 (no usable file)"
    return dg.AssetCheckResult(asset_key=key, check_name=name, passed=passed, severity=severity, metadata=meta)


def build_quality_checks(feed: Feed) -> dg.AssetChecksDefinition:
    specs = _specs(feed)

    @dg.multi_asset_check(specs=specs, name=f"{feed.name}_quality_gates")
    def quality_gates(context: dg.AssetCheckExecutionContext, warehouse: Warehouse, night: NightSettings):
        with warehouse.connect(read_only=True) as con:
            fq = measure(con, feed, night_of(context, night))
        for spec in specs:
            yield _result(feed, spec.name, fq)

    return quality_gates


quality_checks = [build_quality_checks(feed) for feed in load_feeds().values()]
