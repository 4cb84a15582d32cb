"""The core layer for date D: persons keyed by person_key, households and their members as
they stood that night, persons outside the roster, and one row of features per household.

Only records known on D count (transform.as_of); full ID numbers stay in staging
and in the restricted lookup (restricted.person_ids) that only the exports read.

The statements are the .sql files beside this module: the steps of BEFORE, every
``features_<department>.sql`` (found by name, see _features), then the steps of AFTER. Values are
bound parameters: ``$as_of``, every number and list of the policy in force under its own key
(``$medical_window_months``, ``$hardship_words``; see _parameters), the weights of
config/linkage.yaml and the townships. Only what must be SQL text is written in, once,
from ``{placeholders}``, and only identifiers: the schemas (``{core}``, ``{restricted}``: model
training builds past nights into schemas of its own), each feed as it stood on the night
(``{mz_members}``: keyed by person_key when the feed has an ID column, transform.as_of;
``{mz_members_rows}``: by ID number, to read a few persons' rows), the facts (transform/core/facts.py),
``{persons}`` for the names in the reasons' details (none for training: build_features), the
unions over the feeds that config/feeds.yaml says carry ID numbers or names, and in
household_features.sql the joins of the features files' tables (``{person_joins}``,
``{household_joins}``).

A new feed's facts take one file, ``features_<department>.sql``, beside its entry in
config/feeds.yaml (which gives it ``{<feed>}``) and the rule in models/rules.py that reads them.
The file creates the temp table ``_jz_features_<department>``: at most one row per person_key,
columns of its own; every member of core.household_members is joined to it (no row: NULLs). It
may also create ``_jz_household_<department>``: household_id and the new columns of
core.household_features, at most one row per household (no row: NULLs), which come after the
columns household_features.sql lists, file by file. Neither household_features.sql nor this
module changes. A file that reads another's table runs after it (human resources reads the
deaths that health records); otherwise they run by name.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from jiuzhu.config import FALLBACK_TOWNSHIP, ROSTER_FEED, load_feeds, load_linkage, load_townships
from jiuzhu.policy import Policy
from transform.as_of import current_feeds, in_force_dates, reconstructed_relations, relations
from transform.core import delta
from transform.core.facts import ensure_facts, fact_tables
from transform.hardship import hardship_petitions
from transform.sql import policy_number, run_file, run_sql
from transform.staging.build import persons_sql, persons_table
from warehouse.macros import install_macros
from warehouse.person_key import KEY_CACHE, KEY_CACHE_SCHEMA

SQL_DIR = Path(__file__).resolve().parent
FEATURES_DIR = SQL_DIR  # where the features_<department>.sql are found
BEFORE = ("person_ids", "household_members", "persons", "households", "persons_outside_roster", "assistance")
AFTER = ("household_features", "linkage_suggestions")  # departments' facts added up per household, then linkage
# what a month end kept for training does not need: household_features reads none of them, except
# persons' names in the reasons' details, which are not kept (transform/model/history.py)
NOT_FEATURES = ("persons", "persons_outside_roster", "linkage_suggestions")
TEMP_TABLE = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\s+TABLE\s+(\w+)", re.IGNORECASE)


@dataclass
class CoreReport:
    outside_roster: int
    multi_household_persons: int
    rows_with_linkage_suggestions: int
    features_computed: int  # households whose features were computed tonight; the others carried over


def build_core(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    policy: Policy,
    schema: str = "core",
    restricted: str = "restricted",
    rebuild: bool = False,
) -> CoreReport:
    """(Re)build <schema>.* for ``as_of``. Needs jz_person_key() installed (warehouse.person_key).

    The nightly run builds ``core``; model training builds past nights into its own
    schemas so that tonight's tables are never overwritten (build_features). ``rebuild``: the
    facts added up again even where their stamp holds (transform/core/facts.py).
    """
    computed = _build(con, as_of, policy, schema, restricted, features_only=False, rebuild=rebuild)
    counts = con.execute(
        f"""SELECT (SELECT count(*) FROM {schema}.persons_outside_roster),
                   (SELECT count(DISTINCT person_key) FROM {schema}.household_members WHERE households_count > 1),
                   (SELECT count(DISTINCT (feed, file_name, row_number)) FROM {schema}.linkage_suggestions)"""
    ).fetchall()[0]
    outside, multi, suggestions = counts
    return CoreReport(outside, multi, suggestions, computed)


def build_features(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    policy: Policy,
    schema: str,
    restricted: str,
    known_on: dt.date | None = None,
) -> None:
    """Only what <schema>.household_features needs for ``as_of`` (model training's past nights): no
    persons outside the roster, no linkage suggestions, and no names (the reasons' details that name
    members are not kept for training: transform/model/history.py). ``known_on``: a night before the
    first roster, rebuilt from the records' own dates as known on that day (transform.as_of.
    reconstructed_relations)."""
    _build(con, as_of, policy, schema, restricted, features_only=True, rebuild=False, known_on=known_on)


def rebuild_household_features(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> None:
    """core.household_features again under ``policy``, from the other core tables of the same night
    ``as_of`` (built before, under any policy: none of them reads one). A policy simulation's proposal
    (transform/monitoring/simulation.py), in its own transaction: no other table is built again, and the
    reasons' details name nobody (as for training)."""
    _build(con, as_of, policy, "core", "restricted", features_only=True, rebuild=False, members_built=True)


def _build(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    policy: Policy,
    schema: str,
    restricted: str,
    features_only: bool,
    rebuild: bool,
    known_on: dt.date | None = None,
    members_built: bool = False,
) -> int:
    """Build <schema>.*; the households whose features were computed (the others carried over: delta.py)."""
    install_macros(con)
    for name in (schema, restricted, KEY_CACHE_SCHEMA):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
    features = _features()
    person = [_person_table(path) for path, _ in features]
    household = [table for _, tables in features for table in tables if table.startswith("_jz_household_")]
    if known_on is None:
        current = current_feeds(con, as_of)
        rel = relations(current, bound=True)
        params = _parameters(as_of, policy) | in_force_dates(con, as_of)
    else:  # no file was extracted by the night: the records' own dates say what was known
        current, rel = frozenset(), reconstructed_relations()
        params = _parameters(as_of, policy) | in_force_dates(con, known_on) | {"known_on": known_on}
    persons = _persons(current, rel, named=not features_only)
    for table, sql in persons.values():  # read by three statements: reduced once
        if sql and not members_built:
            run_sql(con, f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}", params, table)
    names = (
        _placeholders(schema, restricted, rel, {f: table for f, (table, _) in persons.items()})
        | {
            "person_joins": "\n    ".join(f"LEFT JOIN {table} USING (person_key)" for table in person),
            "household_joins": "\n".join(f"LEFT JOIN {table} USING (household_id)" for table in household),
            # the persons' names for the reasons' details; for training, none
            "persons": f"(SELECT person_key, NULL::VARCHAR AS name FROM {restricted}.person_ids LIMIT 0)"
            if features_only
            else f"{schema}.persons",
        }
        | fact_tables(restricted)
    )
    skip = BEFORE + NOT_FEATURES if members_built else NOT_FEATURES if features_only else ()
    # tonight's night of core: the households whose inputs did not change keep last night's features
    # (a night rebuilt from scratch computes every household, and leaves the state the next night starts from)
    nightly = schema == "core" and not (features_only or members_built)
    sql_files = sorted(set(SQL_DIR.glob("*.sql")) | {path for path, _ in features})
    stamp = delta.stamp(con, sql_files, params) if nightly else ""
    before = delta.previous(con, stamp, as_of) if nightly and not rebuild else None
    if nightly:
        delta.forget(con)
    if before is not None:
        delta.keep_before(con)
    if rebuild:  # the persons and their keys, kept from night to night (person_ids.sql), made anew too
        con.execute(f"DROP TABLE IF EXISTS {restricted}.person_ids")
    for step in BEFORE:
        if step not in skip:
            run_file(con, SQL_DIR / f"{step}.sql", names, params)
    # after person_ids: facts are keyed by person_key; one added up again may change every household
    facts_built = ensure_facts(con, as_of, restricted, names, params, rebuild)
    windowed = [path for path, _ in features] + [SQL_DIR / "household_features.sql"]
    again = delta.changed_households(con, before, as_of, windowed, params) if before and not facts_built else None
    try:
        ff = FeaturesFiles(features, person, household)
        if again is not None:
            _features_of_some(con, as_of, names, params, ff)
        else:
            _features_of_all(con, schema, names, params, ff)
    finally:
        temps = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary "
            "AND (starts_with(table_name, '_jz_features') OR starts_with(table_name, '_jz_household') "
            "OR starts_with(table_name, '_jz_persons') "
            f"OR table_name IN ({', '.join(repr(t) for t in delta.TEMPS)}))"
        )
        for (temp,) in temps.fetchall():  # each member's health and other facts, ID numbers: gone once added up
            con.execute(f"DROP TABLE {temp}")
    for step in AFTER:
        if step not in skip and step != "household_features":
            run_file(con, SQL_DIR / f"{step}.sql", names, params)
    computed = again if again is not None else _count(con, f"{schema}.household_features")
    if nightly:
        delta.remember(con, as_of, stamp, computed)
    return computed


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


@dataclass(frozen=True)
class FeaturesFiles:
    """The features files in the order they run (_features), and the temp tables they create: per person
    (_jz_features_<department>) and per household (_jz_household_<department>)."""

    files: list[tuple[Path, list[str]]]
    person: list[str]
    household: list[str]


def _features_of_all(
    con: duckdb.DuckDBPyConnection, schema: str, names: dict[str, str], params: dict, ff: FeaturesFiles
) -> None:
    """Every household's features into <schema>.household_features."""
    for path, _ in ff.files:
        run_file(con, path, names, params)
    _check_features(con, schema, ff.person, ff.household)
    run_file(con, SQL_DIR / "household_features.sql", names, params)
    added = [c for table in ff.household for c in _columns(con, table) if c != "household_id"]
    if added and _columns(con, f"{schema}.household_features")[-len(added) :] != added:  # DuckDB would rename: x_1
        raise ValueError(f"a column of {', '.join(ff.household)} has a name {schema}.household_features already uses")


def _features_of_some(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, names: dict[str, str], params: dict, ff: FeaturesFiles
) -> None:
    """The features of the households delta.changed_households chose, computed from their own rows of
    core's tables (copied into temp tables: a simulation builds core in a transaction, which may write
    one database only) and every other table as it is. core.household_features then holds them and the
    others' rows of the night before, as_of_date advanced (one statement)."""
    copies = {
        "household_members": f"SELECT * FROM core.household_members SEMI JOIN {delta.DIRTY} USING (household_id)",
        "households": f"SELECT * FROM core.households SEMI JOIN {delta.DIRTY} USING (household_id)",
        # a member's records under any household (what is paid to the person), and the households' own
        "assistance": f"""SELECT * FROM core.assistance
                          WHERE household_id IN (SELECT household_id FROM {delta.DIRTY})
                             OR person_key IN (SELECT person_key FROM temp.main.household_members)""",
    }
    try:
        for table, sql in copies.items():
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
        some = names | {"core": "temp.main", "table_kind": "TEMP TABLE"}
        _features_of_all(con, "temp.main", some, params, ff)
        con.execute(
            f"""CREATE OR REPLACE TABLE core.household_features AS
                SELECT * REPLACE ($as_of AS as_of_date) FROM core.household_features
                ANTI JOIN {delta.DIRTY} USING (household_id)
                UNION ALL BY NAME SELECT * FROM temp.main.household_features""",
            {"as_of": as_of},
        )
    finally:
        for table in [*copies, "household_features"]:
            con.execute(f"DROP TABLE IF EXISTS temp.main.{table}")


def _person_table(path: Path) -> str:
    return "_jz_features_" + path.stem.removeprefix("features_")


def _features() -> list[tuple[Path, list[str]]]:
    """The features files in the order they run, each with the temp tables it creates: by name,
    except that a file naming a table another creates runs after that one."""
    files = {}
    for path in sorted(FEATURES_DIR.glob("features_*.sql")):
        text = path.read_text(encoding="utf-8")
        files[path] = (text, TEMP_TABLE.findall(text))
        if _person_table(path) not in files[path][1]:
            raise ValueError(f"{path.name} creates no temp table {_person_table(path)}")
    order = []
    while files:
        ready = [
            path
            for path, (text, _) in files.items()
            if not any(
                re.search(rf"\b{table}\b", text)
                for other, (_, tables) in files.items()
                if other != path
                for table in tables
            )
        ]
        if not ready:
            raise ValueError(f"features files that read each other's tables: {', '.join(p.name for p in files)}")
        order.append((ready[0], files.pop(ready[0])[1]))
    return order


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]


def _check_features(con: duckdb.DuckDBPyConnection, schema: str, person: list[str], household: list[str]) -> None:
    """The features files' tables join as household_features.sql expects: at most one row per key
    (a second would count a member twice), and no member's fact under a name already taken
    (DuckDB would keep both, the second as x_1, and f.x would read the first)."""
    for table, key in [(t, "person_key") for t in person] + [(t, "household_id") for t in household]:
        extra = con.execute(f"SELECT count(*) - count(DISTINCT {key}) FROM {table}").fetchall()[0][0]
        if extra:
            raise ValueError(f"{table} has {extra} rows more than one per {key}")
    owner = dict.fromkeys(_columns(con, f"{schema}.household_members"), f"{schema}.household_members")
    for table in person:
        for column in _columns(con, table):
            if column != "person_key" and column in owner:
                raise ValueError(f"{table}.{column}: {owner[column]} has a column of that name")
            owner[column] = table


def _persons(current: frozenset[str], rel: dict[str, str], named: bool) -> dict[str, tuple[str, str | None]]:
    """Each feed with ID numbers: the table of its persons on the night (ID number, latest named row;
    ``named``: else no names), and the SQL that builds it (None: staging keeps it for tonight's
    incremental feeds; otherwise a temp table reduced from the feed's rows ``rel``: rows many, persons few)."""
    feeds = load_feeds()
    out: dict[str, tuple[str, str | None]] = {}
    for name, feed in feeds.items():
        if feed.identifies_persons:
            kept = persons_table(feed) if name in current and named else None
            out[name] = (kept, None) if kept else (f"_jz_persons_{name}", persons_sql(feed, rel[name], named=named))
    return out


def _placeholders(schema: str, restricted: str, rel: dict[str, str], persons: dict[str, str]) -> dict[str, str]:
    """What each {placeholder} of the .sql files stands for (``rel``: each feed as it stood on the night,
    transform.as_of.relations; ``persons``: each feed's table of persons, _persons)."""
    feeds = load_feeds()
    with_ids = [name for name, feed in feeds.items() if feed.identifies_persons]
    keyed = {
        name: f"(SELECT k.person_key, x.* EXCLUDE (id_number) FROM {rel[name]} x "
        f"JOIN {restricted}.person_ids k USING (id_number))"
        for name in with_ids
    }
    priority = {f: p for f in with_ids if (p := feeds[f].name_priority)}  # the feeds whose 姓名 names persons
    named = sorted(priority, key=lambda f: -priority[f])
    return (
        rel
        | keyed
        | {f"{name}_rows": rel[name] for name in with_ids}  # by ID number: to read a few persons' rows
        | {
            "core": schema,
            "all_members": f"{schema}.household_members",  # the whole roster, whichever households are computed
            "table_kind": "TABLE",
            "restricted": restricted,
            "person_keys": KEY_CACHE,  # every night's and every training month end's (person_ids.sql)
            # each petition known on the night, keyed, with whether it says hardship (R08)
            "hardship_petitions": hardship_petitions(keyed["xf_petitions"]),
            "id_numbers": " UNION ".join(f"SELECT id_number FROM {persons[f]}" for f in with_ids),
            "named_records": " UNION ALL ".join(
                f"SELECT x.id_number, x.named.name, x.named.extract_date, {int(priority[f])} AS src, "
                f"x.named.file_id, x.named.source_row FROM {persons[f]} x WHERE x.named IS NOT NULL"
                for f in named
            ),
            "seen_records": " UNION ALL ".join(
                f"SELECT x.id_number, '{f}' AS feed FROM {persons[f]} x" for f in with_ids if f != ROSTER_FEED
            ),
        }
    )


def _parameters(as_of: dt.date, policy: Policy) -> dict:
    """Every value the .sql files may bind, by name."""
    rules, compliance = policy.rules, policy.compliance
    care = compliance.care_share_of_minimum_wage
    towns = [
        (t.code, name)
        for t in load_townships()
        if t.code != FALLBACK_TOWNSHIP
        for name in (t.official_name, *t.aliases)
    ]
    sections = [asdict(s) for s in (policy.standards, rules, policy.features, load_linkage())]
    values = {name: v for section in sections for name, v in section.items()}
    if len(values) < sum(map(len, sections)):  # $name must say which number it is
        raise ValueError("the policy and config/linkage.yaml use a key twice")
    values |= {
        "tekun_basic_multiple": compliance.tekun_basic_multiple,
        "working_age_low": rules.working_age[0],
        "working_age_high": rules.working_age[1],
    }
    return {name: policy_number(v) for name, v in values.items()} | {
        "as_of": as_of,
        "as_of_month": as_of.replace(day=1),  # what a fact over a monthly feed reads (transform/core/facts.py)
        # a DuckDB MAP: care level -> share of the minimum wage
        "care_share_of_minimum_wage": {"key": list(care), "value": [policy_number(v) for v in care.values()]},
        "fallback_township": FALLBACK_TOWNSHIP,
        "snapshot_feeds": [name for name, feed in load_feeds().items() if feed.kind == "snapshot"],
        "town_codes": [code for code, _ in towns],
        "town_names": [name for _, name in towns],
    }
