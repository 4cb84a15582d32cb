"""Thin lookups into config/feeds.yaml, so the generator names columns and enum
values the way the feed spec does and fails loudly if the spec changes under it."""

from __future__ import annotations

from functools import cache

from jiuzhu.config import Column, Feed, load_feeds


def feeds() -> dict[str, Feed]:
    return load_feeds()


@cache
def column(feed: str, field: str) -> Column:
    for c in load_feeds()[feed].columns:
        if c.field == field:
            return c
    raise KeyError(f"{feed} has no field {field}")


def values(feed: str, field: str, *wanted: str) -> tuple[str, ...]:
    """The enum values a generator uses, checked against the spec."""
    allowed = column(feed, field).values
    missing = [w for w in wanted if w not in allowed]
    if missing:
        raise KeyError(f"{feed}.{field} has no value(s) {missing} in feeds.yaml")
    return wanted if wanted else allowed


def value(feed: str, field: str, wanted: str) -> str:
    return values(feed, field, wanted)[0]
