"""Which households' features a night computes again, and the others carried over (issue 14, scope 2).

core.household_features of the latest night core was built for is kept. Tonight computes again only
the households whose inputs changed since, or whose facts the date itself moves; the others keep
their row, as_of_date advanced. A household is computed again when one of its members, or the
household itself, has:

- a row of the tables core builds before the features (household_members, persons, households,
  assistance: rebuilt in full each night, and cheap) that differs from that night's, every column but
  as_of_date compared: a new roster, an assistance record starting or ending, a birthday (age);
- a row of an incremental feed in a file that night's build did not have, with every version of its
  key (a late correction may move a record to another person); or one whose extract_date or
  superseded_on lies between the two nights (it came into force, or went out);
- a date of an incremental feed's row that a comparison with the night moves past between the two
  nights (lo, hi: the two nights, either way round: a backfill goes back). The comparisons are read
  from the features files: each ``$as_of`` with the operator before it and the window after it
  (``$as_of - INTERVAL (...) MONTH|DAY|YEAR``, evaluated with the night's values; none: w = 0), for
  the feeds the file reads (household_features.sql compares every department's facts). A date e with
  ``e > night - w`` (or ``<=``) changes its answer for e in (lo - w, hi - w]; with ``>=`` (or ``<``),
  in [lo - w, hi - w); with anything else, in both.

Every other household's row is a function of rows and windows that did not change: it is what a
full build gives. What may change every household builds all again (``None`` from changed_households):
another version of core's SQL, another policy value or township, a staging rule version, a fact added
up again (the insurance history: monthly), another petition classifier, a file gone from staging,
nights more than two months apart (MAX_GAP_DAYS), or more than a third of the households changed
(MAX_SHARE: computing a few then costs as much as computing all). A night rebuilt from scratch
(``jiuzhu run --rebuild``) computes every household.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import duckdb

from jiuzhu.config import load_feeds
from transform.hardship import CLASSIFIER_IN_FORCE, hardship_petitions
from transform.sql import PLACEHOLDER, hashed_rows, run_sql
from warehouse.resource import table_exists

STATE = "core.features_state"  # the night core.household_features stands for, and what it was built from
DIRTY = "_jz_households_again"  # tonight's households to compute again (temp)
MOVED, FILES_BEFORE = "_jz_moved_dates", "_jz_files_before"  # the dates windows moved past; the last night's files
BEFORE_TABLES = {  # core's tables built before the features, by the keys that say whose row it is
    "household_members": ("household_id", "person_key"),
    "persons": ("person_key",),
    "households": ("household_id",),
    "assistance": ("household_id", "person_key"),
}
TEMPS = (DIRTY, MOVED, FILES_BEFORE, *(f"_jz_before_{table}" for table in BEFORE_TABLES))  # dropped by core
# values that differ every night, and whose effect the rows and dates above find
NIGHTLY = re.compile(r"^(as_of|as_of_month|in_force_\w+)$")
MAX_GAP_DAYS = 62
MAX_SHARE = 1 / 3
STATE_FORMAT = "features delta 1"  # bump when what the stamp or the detection covers changes
# a comparison with the night: the operator before $as_of (not $as_of_month), and the window after it
AS_OF = re.compile(r"(?P<op>>=|<=|<>|<|>|=)?\s*\$as_of\b(?P<interval>\s*-\s*INTERVAL\s*\()?", re.IGNORECASE)
VALUE = re.compile(r"\s+AS\s+\w+", re.IGNORECASE)
SIDES = {">": "after", "<=": "after", ">=": "before", "<": "before"}  # otherwise: both ends
ALL_FEEDS_FILE = "household_features.sql"  # compares the members' facts of every department with the night
DERIVED = {"hardship_petitions": "xf_petitions"}  # placeholders over a feed (transform/core/build.py)
UNIT = re.compile(r"\s*(MONTH|DAY|YEAR)\b", re.IGNORECASE)


def stamp(con: duckdb.DuckDBPyConnection, sql_files: list[Path], params: dict) -> str:
    """What every household's features depend on beyond its own rows: the SQL, every value but the
    night's own, the staging rules, and the petition classifier in force."""
    digest = hashlib.sha256(STATE_FORMAT.encode())
    for path in sorted(sql_files):
        digest.update(path.read_bytes())
    digest.update(hardship_petitions("x").encode())
    digest.update(repr(sorted((k, v) for k, v in params.items() if not NIGHTLY.match(k))).encode())
    digest.update(repr(con.execute("SELECT feed, version FROM staging.feed_versions ORDER BY ALL").fetchall()).encode())
    classifier = con.execute(f"SELECT {CLASSIFIER_IN_FORCE}", {"as_of": params["as_of"]}).fetchall()
    digest.update(repr(classifier).encode())
    return digest.hexdigest()


def previous(con: duckdb.DuckDBPyConnection, stamp_now: str, as_of: dt.date) -> dt.date | None:
    """The night the kept features stand for, when tonight may start from them (else None)."""
    rows = con.execute(f"SELECT as_of_date, stamp, file_ids FROM {STATE}").fetchall()
    if len(rows) != 1 or not table_exists(con, "core.household_features"):
        return None
    night, kept, files = rows[0]
    if kept != stamp_now or abs((as_of - night).days) > MAX_GAP_DAYS:
        return None
    gone = con.execute(
        "SELECT count(*) FROM unnest(?::BIGINT[]) f(file_id) ANTI JOIN staging.standardised_files USING (file_id)",
        [files],
    ).fetchall()[0][0]
    if gone:  # a file replaced by another delivery: its rows went without a trace of whose they were
        return None
    con.execute(f"CREATE OR REPLACE TEMP TABLE {FILES_BEFORE} AS SELECT unnest(?::BIGINT[]) AS file_id", [files])
    return night


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """No state while a night builds core: one that stops half way leaves the next to compute every household."""
    con.execute(f"DELETE FROM {STATE}")


def remember(con: duckdb.DuckDBPyConnection, as_of: dt.date, stamp_now: str, computed: int) -> None:
    con.execute(
        f"""INSERT INTO {STATE} (as_of_date, stamp, file_ids, computed)
            SELECT ?, ?, coalesce((SELECT list(file_id ORDER BY file_id) FROM staging.standardised_files), []), ?""",
        [as_of, stamp_now, computed],
    )


def keep_before(con: duckdb.DuckDBPyConnection) -> None:
    """Last night's rows of the tables core rebuilds first, each as its keys and a hash of the rest."""
    for table, keys in BEFORE_TABLES.items():
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _jz_before_{table} AS {hashed_rows(f'core.{table}', keys, 'row_hash')}"
        )


def windows(sql_files: list[Path], params: dict) -> set[tuple[str, int, str, str]]:
    """Each comparison of a date with the night that the files write, as (feed, length, unit, side): the
    feeds whose dates it may compare (the file's own; household_features.sql's: every feed's, through
    the members' facts), the window before the night (``$as_of - INTERVAL (...) MONTH``, evaluated with
    the night's values; none: 0 DAY), and which end of the window a date crossing it sits on."""
    feeds = load_feeds()
    found = {(feed, 0, "DAY", "after") for feed in feeds}  # every date after the night before: whatever reads it
    with duckdb.connect() as scratch:
        for path in sql_files:
            text = path.read_text(encoding="utf-8")
            read = set(feeds) if path.name == ALL_FEEDS_FILE else _feeds_read(text, feeds)
            for match in AS_OF.finditer(text):
                length, unit, end = 0, "DAY", match.end()
                if VALUE.match(text, end):  # the night as a value (as_of_date), compared with nothing
                    continue
                if match.group("interval"):
                    depth = 1
                    while depth:  # the parenthesis that closes INTERVAL's
                        depth += {"(": 1, ")": -1}.get(text[end], 0)
                        end += 1
                    unit_match = UNIT.match(text, end)
                    if not unit_match:
                        raise ValueError(
                            f"{path.name}: an INTERVAL without MONTH, DAY or YEAR: {text[match.start() : end]}"
                        )
                    (statement,) = duckdb.extract_statements(f"SELECT ({text[match.end() : end - 1]})::INTEGER")
                    values = {name: params[name] for name in statement.named_parameters}
                    length, unit = scratch.execute(statement, values).fetchall()[0][0], unit_match.group(1).upper()
                side = SIDES.get(match.group("op") or "", "both")
                found |= {(feed, length, unit, side) for feed in read}
    return found


def _feeds_read(text: str, feeds: dict) -> set[str]:
    """The feeds a file reads: by their placeholders ({yb_settlements}, {yb_settlements_rows}, a derived
    one), and through the tables of the features files it reads (_jz_features_wj)."""
    named = set(PLACEHOLDER.findall(text))
    read = {f for f in feeds if f in named or f"{f}_rows" in named} | {DERIVED[n] for n in named if n in DERIVED}
    departments = set(re.findall(r"\b_jz_(?:features|household)_([a-z]+)", text))  # mz, wj, ...
    return read | {f for f in feeds if f.split("_")[0] in departments}


def changed_households(
    con: duckdb.DuckDBPyConnection, before: dt.date, as_of: dt.date, sql_files: list[Path], params: dict
) -> int | None:
    """Fill DIRTY with the households to compute again tonight (the module's text says which) and
    return how many; None: compute all (too many changed)."""
    lo, hi = min(before, as_of), max(before, as_of)
    # the dates a window's edge moved past between the two nights, by feed (the module's text): the
    # days added to lo - w and to hi - w for the first and the last date
    edges = {"after": (1, 1), "before": (0, 0), "both": (0, 1)}
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {MOVED} AS SELECT feed, d FROM (VALUES (NULL::VARCHAR, NULL::DATE)) t(feed, d) "
        "WHERE false"
        + "".join(
            f" UNION SELECT '{feed}', unnest(range(($lo - INTERVAL ({n}) {u})::DATE + {edges[side][0]}, "
            f"($hi - INTERVAL ({n}) {u})::DATE + {edges[side][1]}, INTERVAL 1 DAY))::DATE"
            for feed, n, u, side in sorted(windows(sql_files, params))
        ),
        {"lo": lo, "hi": hi},
    )
    run_sql(
        con,
        f"""CREATE OR REPLACE TEMP TABLE {DIRTY} AS
            -- each read once (MATERIALIZED), though both the persons and the households read them
            WITH feed_rows AS MATERIALIZED ({" UNION ALL ".join(_feed_rows(con))}),
            {"".join(f"changed_{t} AS MATERIALIZED ({_changed(t, k)}), " for t, k in BEFORE_TABLES.items())}
            persons AS (
                {" UNION ".join(f"SELECT person_key FROM changed_{t}" for t, k in BEFORE_TABLES.items() if "person_key" in k)}
                UNION SELECT k.person_key FROM feed_rows JOIN restricted.person_ids k USING (id_number)
            )
            SELECT DISTINCT household_id FROM (
                SELECT m.household_id FROM persons JOIN core.household_members m USING (person_key)
                {"".join(f" UNION ALL SELECT household_id FROM changed_{t}" for t, k in BEFORE_TABLES.items() if "household_id" in k)}
                UNION ALL SELECT household_id FROM feed_rows
            ) WHERE household_id IS NOT NULL""",
        {"lo": lo, "hi": hi},
        "core: the households to compute again",
    )
    changed, total = con.execute(
        f"SELECT (SELECT count(*) FROM {DIRTY}), (SELECT count(*) FROM core.households)"
    ).fetchall()[0]
    return changed if changed <= MAX_SHARE * total else None


def _changed(table: str, keys: tuple[str, ...]) -> str:
    """The keys of the rows of core.<table> added, changed or gone since the night before."""
    return f"""SELECT {", ".join(f"coalesce(n.{k}, b.{k}) AS {k}" for k in keys)}
               FROM _jz_before_{table} b FULL JOIN ({hashed_rows(f"core.{table}", keys, "row_hash")}) n USING ({", ".join(keys)}, row_hash)
               WHERE b.row_hash IS NULL OR n.row_hash IS NULL"""


def _feed_rows(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Each incremental feed's rows that changed for the night, or whose dates a window moved past:
    their ID number and household (NULL where the feed has none)."""
    out = []
    for name, feed in load_feeds().items():
        columns = {c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE staging.{name})").fetchall()}
        who = [c for c in ("id_number", "household_id") if c in columns]
        if feed.kind != "incremental" or not who:
            continue
        select = ", ".join(c if c in columns else f"NULL::VARCHAR AS {c}" for c in ("id_number", "household_id"))
        dates = [c.field for c in feed.columns if c.type in ("date", "month") and c.field in columns]
        keys = ", ".join(feed.key_fields)
        new = f"file_id NOT IN (SELECT file_id FROM {FILES_BEFORE})"
        moved = "".join(f" OR {d} IN (SELECT d FROM {MOVED} WHERE feed = '{name}')" for d in dates)
        out.append(
            f"""SELECT {select} FROM staging.{name}
                WHERE {new} OR (extract_date > $lo AND extract_date <= $hi)
                   OR (superseded_on > $lo AND superseded_on <= $hi){moved}
                UNION ALL  -- every version of a key a new file delivered again
                SELECT {select} FROM staging.{name} SEMI JOIN (SELECT {keys} FROM staging.{name} WHERE {new}) USING ({keys})"""
        )
    return out
