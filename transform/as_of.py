"""What was known on date D: each feed's rows as they stood that night.

A record counts for D only if its file was extracted on or before D (and the
feature SQL also requires its own date on or before D). Incremental feeds: the
latest version of each natural key among those files (by staging's superseded_on: a
filter, not a window over the history); snapshot feeds: the newest snapshot on or
before D (all its files together).

Each relation is a subquery to place in a statement's FROM; it reads the date from the
parameter ``$as_of``, which the statement binds (``con.execute(sql, {"as_of": D})``).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from jiuzhu.config import ROSTER_FEED, Feed, load_feeds
from transform.staging.build import rules_version, snapshot_in_force

ASSISTANCE_FEED = "mz_assistance"


def as_of_relation(feed: Feed, as_of: str = "$as_of", bound: bool = False) -> str:
    """A SQL subquery (in parentheses) over staging.<feed> as it stood on the date ``as_of`` (SQL).
    ``bound``: a snapshot feed's extract date in force is the parameter ``$in_force_<feed>``
    (in_force_dates), a value DuckDB can skip the other snapshots' blocks by, not a subquery."""
    if feed.kind == "snapshot":
        in_force = (
            f"${in_force_parameter(feed.name)}"
            if bound
            else f"(SELECT max(extract_date) FROM audit.files WHERE feed = '{feed.name}' AND status = 'loaded' "
            f"AND rows_read > 0 AND extract_date <= {as_of})"
        )
        # staging holds each key once per extract date (the others are quarantined): no window needed
        return f"(SELECT * FROM staging.{feed.name} WHERE extract_date = {in_force})"
    # the latest version known on the date: staging keeps when each row was superseded (by extract date)
    return (
        f"(SELECT * FROM staging.{feed.name} WHERE extract_date <= {as_of} "
        f"AND (superseded_on IS NULL OR superseded_on > {as_of}))"
    )


def relations(current: frozenset[str] = frozenset(), bound: bool = False) -> dict[str, str]:
    """Every feed's relation over ``$as_of``. The feeds named in ``current`` have their rows of the
    night marked already (staging's ``is_current``, computed for the same date: current_feeds),
    which reads no window over the feed's whole history. ``bound``: see as_of_relation; a snapshot
    feed's rows in force are then those of one extract date, which a scan finds by its blocks'
    dates rather than by reading is_current over every snapshot ever delivered."""
    return {
        name: f"(SELECT * FROM staging.{name} WHERE is_current)"
        if name in current and not (bound and feed.kind == "snapshot")
        else as_of_relation(feed, bound=bound)
        for name, feed in load_feeds().items()
    }


def reconstructed_relations() -> dict[str, str]:
    """Every feed's relation over ``$as_of`` for a night before the first roster snapshot, rebuilt from
    the records' own dates (a county whose history came in one bulk delivery, issue 15). The records
    are those known on ``$known_on`` (the first roster's date), each in its latest version then:

    - the roster and the assistance records are the snapshots in force on ``$known_on``
      (``$in_force_<feed>``, in_force_dates of that date): the roster less the persons born after
      ``$as_of`` and those whose death was known by then; an assistance record counts from its
      开始日期, in force (在保) unless its 终止日期 had passed;
    - an incremental feed's record counts from its own date plus the days it usually takes to be
      delivered (feeds.yaml known_after), and its other dates (a 注销日期) only once they had passed
      by as many days.
    """
    feeds = load_feeds()
    out = {}
    for name, feed in feeds.items():
        in_force = f"(SELECT * FROM staging.{name} WHERE extract_date = ${in_force_parameter(name)})"
        if feed.kind == "incremental":
            out[name] = _known_by_then(feed)
        elif name == ASSISTANCE_FEED:
            out[name] = f"""(SELECT * REPLACE (CASE WHEN end_date <= $as_of THEN end_date END AS end_date,
                                               CASE WHEN end_date > $as_of THEN '在保' ELSE status END AS status)
                            FROM {in_force} x WHERE start_date <= $as_of)"""
        elif name == ROSTER_FEED:  # births from the ID number, as core reads them (household_members.sql)
            deaths = _known_by_then(feeds["wj_deaths"])
            out[name] = f"""(SELECT * FROM {in_force} x
                            WHERE try_strptime(x.id_number[7:14], '%Y%m%d')::DATE <= $as_of
                              AND x.id_number NOT IN (SELECT id_number FROM {deaths} d WHERE d.id_number IS NOT NULL))"""
        else:
            raise ValueError(f"{name}: a snapshot feed that a history rebuilt from one delivery cannot date")
    return out


def _known_by_then(feed: Feed) -> str:
    """An incremental feed's records known on ``$known_on`` whose own date, plus its usual delay, is on or
    before ``$as_of``; a later date of the record is blanked (not yet known on ``$as_of``)."""
    assert feed.known_after, f"{feed.name} has no known_after"  # required of every incremental feed (config)
    date, days = feed.known_after
    later = [c.field for c in feed.columns if c.type == "date" and c.field != date]
    blank = (
        f" REPLACE ({', '.join(f'CASE WHEN {c} <= $as_of - {days} THEN {c} END AS {c}' for c in later)})"
        if later
        else ""
    )
    return (
        f"(SELECT *{blank} FROM staging.{feed.name} WHERE extract_date <= $known_on "
        f"AND (superseded_on IS NULL OR superseded_on > $known_on) AND {date} <= $as_of - {days})"
    )


def in_force_parameter(feed: str) -> str:
    return f"in_force_{feed}"


def in_force_dates(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> dict[str, dt.date | None]:
    """The parameters of relations(bound=True): each snapshot feed's extract date in force on ``as_of``
    (None: no snapshot yet, so no rows)."""
    return {
        in_force_parameter(name): snapshot_in_force(con, name, as_of)
        for name, feed in load_feeds().items()
        if feed.kind == "snapshot"
    }


def current_feeds(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> frozenset[str]:
    """The feeds whose staging marks the rows in force on ``as_of`` (the night staging last ran for),
    standardised by today's rules."""
    versions = dict(con.execute("SELECT feed, version FROM staging.feed_versions WHERE as_of = ?", [as_of]).fetchall())
    return frozenset(name for name, feed in load_feeds().items() if versions.get(name) == rules_version(feed))
