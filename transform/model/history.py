"""The training history: each month end's household features as they stood that night
(model.feature_history) and who each household's members were (model.member_history, for the
labels), so that retraining reads what already ran and never rebuilds a past night.

A month end is kept by its own nightly run (``keep``, from core) or, when that night never ran
(a new county, a night missed), built once for training (``ensure_history``: core for that date
into the train_* schemas of an in-memory database). A kept month end is built again only when it is stale:
- what computes the features changed (the version: the core SQL, the configs core reads, the
  policy in force that night), or
- a file dated on or before the month end was loaded after it was kept (a late file, a
  correction): the month end as rebuilt tonight would read it too.
So the history always equals what rebuilding each month end from scratch would give.

A month end before the county's first roster snapshot (a county that connected with one bulk
delivery of its history) is rebuilt from the records' own dates as they were known on the day of
that first roster (``reconstructed_from``; transform.as_of.reconstructed_relations), and kept as
``reconstructed``: stale, too, when a file dated on or before that day arrives late.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from pathlib import Path

import duckdb
from tqdm import tqdm

from jiuzhu.config import ROSTER_FEED, load_feeds, load_linkage, load_policy, load_townships
from transform import as_of
from transform.core.build import SQL_DIR, build_features
from transform.model.frames import DETAIL
from warehouse.resource import table_exists

FEATURES, MEMBERS, NIGHTS = "model.feature_history", "model.member_history", "model.feature_history_nights"
# A month end is built for training in a database of its own, in memory (spilling, encrypted, to the
# home's spill folder when it must), and only its features are kept: its tables, ID numbers among them,
# never reach the warehouse's file. Written to the warehouse and dropped again, the tables had cost a
# third of each build (compressing and encrypting them): 19.6 -> 13.6 s a month end at the county default.
TRAIN_DATABASE = "jz_train"
TRAIN_SCHEMA, TRAIN_RESTRICTED = f"{TRAIN_DATABASE}.train_core", f"{TRAIN_DATABASE}.train_restricted"
HISTORY_FORMAT = "1"  # bump when this module changes what the history holds: every month end is built again


def is_month_end(d: dt.date) -> bool:
    return (d + dt.timedelta(days=1)).day == 1


def history_version(d: dt.date, known_on: dt.date | None = None) -> str:
    """What the features of month end ``d`` are computed by: core's SQL and code, what a night knew
    (transform/as_of.py), the configs it reads and the policy in force on ``d``; for a month end rebuilt
    from the records' own dates, the day they were known on."""
    digest = hashlib.sha256(HISTORY_FORMAT.encode())
    for path in sorted(SQL_DIR.glob("*.sql")) + [SQL_DIR / "build.py", SQL_DIR / "facts.py", Path(as_of.__file__)]:
        digest.update(path.read_bytes())
    for part in (load_feeds(), load_linkage(), load_townships(), load_policy(d), known_on):
        digest.update(repr(part).encode("utf-8"))
    return digest.hexdigest()


def reconstructed_from(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The day of the county's first roster snapshot: month ends before it have no roster in force and
    are rebuilt from the records as known that day (None: no roster yet)."""
    return con.execute(
        "SELECT min(extract_date) FROM audit.files WHERE feed = ? AND status = 'loaded' AND rows_read > 0",
        [ROSTER_FEED],
    ).fetchall()[0][0]


def records_from(con: duckdb.DuckDBPyConnection, first_roster: dt.date) -> dt.date | None:
    """How far back the records delivered by the first roster's day reach: the first day from which
    every incremental feed that had delivered by then has records (each feed's earliest own date,
    feeds.yaml known_after; the latest of those). A feed that began later (the townships' answers)
    does not count."""
    firsts = [
        con.execute(
            f"SELECT min({feed.known_after[0]}) FROM staging.{name} WHERE extract_date <= ?", [first_roster]
        ).fetchall()[0][0]
        for name, feed in load_feeds().items()
        if feed.known_after and table_exists(con, f"staging.{name}")
    ]
    known = [d for d in firsts if d is not None]
    return max(known) if known else None


def _newest_file(con: duckdb.DuckDBPyConnection) -> int | None:
    return con.execute("SELECT max(file_id) FROM audit.files WHERE status = 'loaded'").fetchall()[0][0]


def keep(
    con: duckdb.DuckDBPyConnection,
    d: dt.date,
    schema: str = "core",
    kept_by: str = "night",
    known_on: dt.date | None = None,
) -> int:
    """Keep month end ``d``'s features and members from ``{schema}`` (built for ``d``; rebuilt from the
    records known on ``known_on``), replacing what was kept."""
    features = f"SELECT COLUMNS(c -> NOT ends_with(c, '{DETAIL}')) FROM {schema}.household_features"
    members = f"SELECT $d::DATE AS as_of_date, household_id, person_key FROM {schema}.household_members"
    if table_exists(con, FEATURES) and _columns(con, FEATURES) != _columns(con, f"({features})"):
        # core's columns changed (a new feature, a column's type): month ends of old and new columns cannot be mixed
        _forget(con)
    if not table_exists(con, FEATURES):  # its columns are core's: created from the first month end kept
        con.execute(f"CREATE TABLE {FEATURES} AS {features} LIMIT 0")
        con.execute(f"CREATE TABLE {MEMBERS} AS {members} LIMIT 0", {"d": d})
    con.execute("BEGIN TRANSACTION")
    try:
        for table in (FEATURES, MEMBERS, NIGHTS):
            con.execute(f"DELETE FROM {table} WHERE as_of_date = ?", [d])
        con.execute(f"INSERT INTO {FEATURES} BY NAME {features}")
        con.execute(f"INSERT INTO {MEMBERS} BY NAME {members}", {"d": d})
        households = con.execute(f"SELECT count(*) FROM {schema}.household_features").fetchall()[0][0]
        con.execute(
            f"""INSERT INTO {NIGHTS} (as_of_date, version, last_file_id, households, kept_by, kept_at)
                VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP)""",
            [d, history_version(d, known_on), _newest_file(con), households, kept_by],
        )
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return households


def stale(con: duckdb.DuckDBPyConnection, dates: list[dt.date]) -> list[dt.date]:
    """The month ends of ``dates`` that are not kept, or whose kept features are no longer what they would be."""
    first = reconstructed_from(con)
    kept = {
        d: (version, late)
        for d, version, late in con.execute(
            f"""SELECT n.as_of_date, n.version,
                       EXISTS (SELECT 1 FROM audit.files f WHERE f.status = 'loaded'
                               AND f.file_id > coalesce(n.last_file_id, 0)
                               AND f.extract_date <= greatest(n.as_of_date, coalesce(?, n.as_of_date)))
                FROM {NIGHTS} n""",
            [first],
        ).fetchall()
    }
    if not table_exists(con, FEATURES):
        kept = {}
    return [
        d for d in dates if d not in kept or kept[d][1] or kept[d][0] != history_version(d, rebuilt_known_on(d, first))
    ]


def rebuilt_known_on(d: dt.date, first_roster: dt.date | None) -> dt.date | None:
    """The day month end ``d``'s records are known on when it is rebuilt from their own dates (None: a
    roster was in force on ``d``, or there is none at all)."""
    return first_roster if first_roster is not None and d < first_roster else None


def ensure_history(
    con: duckdb.DuckDBPyConnection, dates: list[dt.date], progress: bool = True, rebuild: bool = False
) -> list[dt.date]:
    """Build and keep the month ends of ``dates`` that are missing or stale (all of them: ``rebuild``),
    core for each date into the train_* schemas in memory (TRAIN_DATABASE), never over tonight's core;
    the month ends built."""
    todo = list(dates) if rebuild else stale(con, dates)
    if not todo:
        return todo
    first = reconstructed_from(con)
    # disable=None: a bar only on a terminal (a night's log is for operators)
    bar = tqdm(todo, desc="训练历史 month ends", unit="month", file=sys.stderr, disable=None if progress else True)
    con.execute(f"ATTACH ':memory:' AS {TRAIN_DATABASE}")
    try:
        for d in bar:
            day = rebuilt_known_on(d, first)
            build_features(con, d, load_policy(d), schema=TRAIN_SCHEMA, restricted=TRAIN_RESTRICTED, known_on=day)
            keep(con, d, TRAIN_SCHEMA, kept_by="reconstructed" if day else "training", known_on=day)
    finally:  # only the features are kept: not the ID numbers (person_ids) nor the persons' facts
        con.execute(f"DETACH {TRAIN_DATABASE}")
    return todo


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    """The names and types of the columns of ``relation`` (a table, or a query in parentheses)."""
    return [(d[0], str(d[1])) for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]


def _forget(con: duckdb.DuckDBPyConnection) -> None:
    for table in (FEATURES, MEMBERS):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"DELETE FROM {NIGHTS}")
