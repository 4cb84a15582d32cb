"""The county's calendar: its time zone and the night a run covers."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

COUNTY_TZ = ZoneInfo("Asia/Shanghai")


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
