"""Per-run settings: where the landing zone is and which night the run covers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

COUNTY_TZ = ZoneInfo("Asia/Shanghai")
WAREHOUSE_POOL = "warehouse"  # see dagster.yaml: one writer at a time
PARTITION_TAG = "dagster/partition"

# One partition per night: the day (Beijing time) that the night's run covers. Every asset whose
# result depends on the date is partitioned by it, so the UI shows each night's state and a past
# night can be backfilled (point in time: nothing dated after it is used). The last partition is
# the day that has just ended. The first night is well before any history a county will load.
FIRST_NIGHT = "2020-01-01"
NIGHTS = dg.DailyPartitionsDefinition(start_date=FIRST_NIGHT, timezone="Asia/Shanghai")


def yesterday_in_county(now: dt.datetime | None = None) -> dt.date:
    """The night's run covers the day that just ended, Beijing time (OUTPUTS.md)."""
    now = now or dt.datetime.now(tz=COUNTY_TZ)
    return now.astimezone(COUNTY_TZ).date() - dt.timedelta(days=1)


def parse_as_of(text: str | None) -> dt.date:
    if not text:
        return yesterday_in_county()
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"as-of date must be YYYY-MM-DD, got {text!r}") from exc


class NightSettings(dg.ConfigurableResource):
    """The landing zone to read, the as-of date (YYYY-MM-DD; empty = yesterday, Beijing time),
    and optionally a policy file to use instead of the one in force (config/policy/)."""

    landing: str
    as_of: str = ""
    policy: str = ""

    def as_of_date(self) -> dt.date:
        return parse_as_of(self.as_of)

    def policy_in_force(self, as_of: dt.date | None = None) -> dict:
        """The policy in force on ``as_of`` (default: this resource's date), or the file given."""
        from jiuzhu.config import load_policy

        return load_policy(as_of or self.as_of_date(), Path(self.policy) if self.policy else None)


def night_of(context, night: NightSettings) -> dt.date:
    """The date this run covers: its partition (the nightly job, the schedule, a backfill), else the
    ``night`` resource's as_of (the landing-zone sensor's ingest runs are not partitioned).

    Read from the run's tags so that it is the same for every asset and check of the run."""
    run = context.run if hasattr(context, "run") else context.op_execution_context.run
    key = run.tags.get(PARTITION_TAG)
    return dt.date.fromisoformat(key) if key else night.as_of_date()
