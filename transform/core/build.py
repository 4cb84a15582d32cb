"""The core layer for date D: persons keyed by person_key, households and their members as
they stood that night, persons outside the roster, and one row of features per household.

Only records known on D count (transform.as_of); full ID numbers stay in staging
and in the restricted lookup (restricted.person_ids) that only the exports read.

The statements are the .sql files beside this module, run in the order of STEPS. Values are
bound parameters: ``$as_of``, every number and list of the policy in force under its own key
(``$medical_window_months``, ``$hardship_words``; see _parameters), the weights of
config/linkage.yaml and the townships. Only what must be SQL text is written in, once,
from ``{placeholders}``: the schemas (``{core}``, ``{restricted}``: model training builds
past nights into schemas of its own), each feed as it stood on the night (``{mz_members}``:
keyed by person_key when the feed has an ID column, transform.as_of), and the unions over
the feeds that config/feeds.yaml says carry ID numbers or names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

import duckdb

from jiuzhu.config import FALLBACK_TOWNSHIP, load_feeds, load_linkage, load_townships
from transform.as_of import relations
from warehouse.macros import install_macros

SQL_DIR = Path(__file__).resolve().parent
ROSTER = "mz_members"  # the civil-affairs roster: who is a household's member
# Departments' facts per person (features_<department>.sql, temp tables _jz_features_*), then
# their sum per household. Health comes before human resources, which reads its deaths.
FEATURES = ("features_mz", "features_wj", "features_yb", "features_rs", "features_xf")
STEPS = ("person_ids", "household_members", "persons", "households", "persons_outside_roster", "assistance",
         *FEATURES, "household_features", "linkage_suggestions")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass
class CoreReport:
    outside_roster: int
    multi_household_persons: int
    rows_with_linkage_suggestions: int


def build_core(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: dict, schema: str = "core", restricted: str = "restricted"
) -> CoreReport:
    """(Re)build <schema>.* for ``as_of``. Needs jz_person_key() installed (warehouse.person_key).

    The nightly run builds ``core``; model training builds past nights into its own
    schemas so that tonight's tables are never overwritten.
    """
    install_macros(con)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}; CREATE SCHEMA IF NOT EXISTS {restricted}")
    names, params = _placeholders(schema, restricted), _parameters(as_of, policy)
    for step in STEPS:
        _run(con, step, names, params)
    temps = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, '_jz_features')")
    for (temp,) in temps.fetchall():  # each member's health and other facts: gone once added up
        con.execute(f"DROP TABLE {temp}")
    counts = con.execute(
        f"""SELECT (SELECT count(*) FROM {schema}.persons_outside_roster),
                   (SELECT count(DISTINCT person_key) FROM {schema}.household_members WHERE households_count > 1),
                   (SELECT count(DISTINCT (feed, file_name, row_number)) FROM {schema}.linkage_suggestions)"""
    ).fetchall()[0]
    return CoreReport(*counts)


def _run(con: duckdb.DuckDBPyConnection, step: str, names: dict[str, str], params: dict) -> None:
    """Run the statements of ``<step>.sql``, each with the parameters it names."""
    path = SQL_DIR / f"{step}.sql"
    sql = PLACEHOLDER.sub(lambda m: names[m.group(1)], path.read_text(encoding="utf-8"))
    for statement in duckdb.extract_statements(sql):
        unknown = statement.named_parameters - params.keys()
        if unknown:
            raise KeyError(f"{path.name} uses ${', $'.join(sorted(unknown))}: not a key of the policy or of build_core")
        con.execute(statement, {name: params[name] for name in statement.named_parameters})


def _placeholders(schema: str, restricted: str) -> dict[str, str]:
    """What each {placeholder} of the .sql files stands for."""
    feeds, rel = load_feeds(), relations()
    with_ids = [name for name, feed in feeds.items() if feed.identifies_persons]
    keyed = {
        name: f"(SELECT k.person_key, x.* EXCLUDE (id_number) FROM {rel[name]} x "
              f"JOIN {restricted}.person_ids k USING (id_number))"
        for name in with_ids
    }
    named = sorted((f for f in with_ids if feeds[f].name_priority), key=lambda f: -feeds[f].name_priority)
    return rel | keyed | {
        "core": schema,
        "restricted": restricted,
        "id_numbers": " UNION ".join(f"SELECT id_number FROM {rel[f]} WHERE id_number IS NOT NULL" for f in with_ids),
        "named_records": " UNION ALL ".join(
            f"SELECT person_key, name, extract_date, {int(feeds[f].name_priority)} AS src, file_id, source_row FROM {keyed[f]}"
            for f in named
        ),
        "seen_records": " UNION ALL ".join(f"SELECT person_key, '{f}' AS feed FROM {keyed[f]}" for f in with_ids if f != ROSTER),
    }


def _number(value):
    """A policy number as the type its SQL literal would have: 1.3 is DECIMAL(2,1), not a DOUBLE,
    so that 1.3 × 850 is exactly 1105 when a 特困 amount is compared with it."""
    return Decimal(repr(value)) if isinstance(value, float) else value


def _parameters(as_of: dt.date, policy: dict) -> dict:
    """Every value the .sql files may bind, by name."""
    rules, compliance = policy["rules"], policy["compliance"]
    care = compliance["care_share_of_minimum_wage"]
    towns = [(t.code, name) for t in load_townships() if t.code != FALLBACK_TOWNSHIP for name in (t.official_name, *t.aliases)]
    sections = (policy["standards"], rules, policy["features"], asdict(load_linkage()))
    values = {name: v for section in sections for name, v in section.items()}
    if len(values) < sum(map(len, sections)):  # $name must say which number it is
        raise ValueError("the policy and config/linkage.yaml use a key twice")
    values |= {
        "tekun_basic_multiple": compliance["tekun_basic_multiple"],
        "working_age_low": rules["working_age"][0], "working_age_high": rules["working_age"][1],
    }
    return {name: _number(v) for name, v in values.items()} | {
        "as_of": as_of,
        # a DuckDB MAP: care level -> share of the minimum wage
        "care_share_of_minimum_wage": {"key": list(care), "value": [_number(v) for v in care.values()]},
        "fallback_township": FALLBACK_TOWNSHIP,
        "town_codes": [code for code, _ in towns],
        "town_names": [name for _, name in towns],
    }
