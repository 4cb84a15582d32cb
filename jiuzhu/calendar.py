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


def night_out_of_range(as_of: dt.date, first_night: dt.date, now: dt.datetime | None = None) -> str | None:
    """Why a night cannot be run, in one line, or None: it has not ended yet (Beijing time), or it
    is before the county's first night of deliveries (no partition exists for it)."""
    yesterday = yesterday_in_county(now)
    if as_of > yesterday:
        return (
            f"--as-of {as_of} 尚未结束：夜间运行处理已经结束的一天，最晚为昨天（北京时间）{yesterday} "
            f"the night has not ended yet; the latest is {yesterday}"
        )
    if as_of < first_night:
        return (
            f"--as-of {as_of} 早于本县第一晚 {first_night}（config/county.yaml 的 first_night）"
            f"is before the county's first night"
        )
    return None
