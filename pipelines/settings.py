"""Per-run settings: where the landing zone is and which night the run covers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

COUNTY_TZ = ZoneInfo("Asia/Shanghai")
WAREHOUSE_POOL = "warehouse"  # see dagster.yaml: one writer at a time


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

    def policy_in_force(self) -> dict:
        from jiuzhu.config import load_policy

        return load_policy(self.as_of_date(), Path(self.policy) if self.policy else None)
