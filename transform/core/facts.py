"""Facts: per-person sums over a feed's long history that a night's features read, kept between
nights in ``{restricted}.facts_<name>`` and built again only when what they read has changed.

A ``facts_<name>.sql`` file beside core's is one SELECT over feeds (``{<feed>}``, as they stood on the
night: transform.as_of) and bound values. Its stamp digests the file, each feed it reads (the rules
staging standardised it by, and its files extracted on or before the night: exactly the rows the
relation of the night can hold) and every value it binds. The same stamp means the same rows, so
the kept table stands. A fact over a monthly feed binds ``$as_of_month`` rather than ``$as_of``:
every night of a month then shares it, and the insurance history is added up once a month, not
nightly. Features read it as ``{facts_<name>}``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb

from jiuzhu.config import load_feeds
from transform.sql import PLACEHOLDER, run_sql
from warehouse.resource import table_exists

FACTS_DIR = Path(__file__).resolve().parent
FACTS_FORMAT = "facts 1"  # bump when what a stamp must cover changes
STAMPS = "fact_stamps"


def fact_files() -> list[Path]:
    return sorted(FACTS_DIR.glob("facts_*.sql"))


def fact_tables(restricted: str) -> dict[str, str]:
    """Each fact's ``{placeholder}`` and the table that holds it."""
    return {path.stem: f"{restricted}.{path.stem}" for path in fact_files()}


def ensure_facts(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    restricted: str,
    names: dict[str, str],
    params: dict,
    rebuild: bool = False,
) -> list[str]:
    """Every fact for ``as_of`` in ``{restricted}``: kept ones whose stamp still holds, the others (all:
    ``rebuild``) built again (``names``: what each placeholder of the files stands for). The facts built."""
    stamps = f"{restricted}.{STAMPS}"
    con.execute(f"CREATE TABLE IF NOT EXISTS {stamps} (fact VARCHAR PRIMARY KEY, stamp VARCHAR NOT NULL)")
    kept = dict(con.execute(f"SELECT fact, stamp FROM {stamps}").fetchall())
    tables = fact_tables(restricted)
    built = []
    for path in fact_files():
        text = path.read_text(encoding="utf-8")
        sql = PLACEHOLDER.sub(lambda m: names[m.group(1)], text)
        stamp = _stamp(con, as_of, text, sql, params)
        if not rebuild and kept.get(path.stem) == stamp and table_exists(con, tables[path.stem]):
            continue
        # the stamp goes first and comes back last: a night that stops in between builds the fact again
        con.execute(f"DELETE FROM {stamps} WHERE fact = ?", [path.stem])
        run_sql(con, f"CREATE OR REPLACE TABLE {tables[path.stem]} AS {sql}", params, path.name)
        con.execute(f"INSERT INTO {stamps} (fact, stamp) VALUES (?, ?)", [path.stem, stamp])
        built.append(path.stem)
    return built


def _stamp(con: duckdb.DuckDBPyConnection, as_of: dt.date, text: str, sql: str, params: dict) -> str:
    digest = hashlib.sha256(f"{FACTS_FORMAT}\n{text}".encode())
    named = set(PLACEHOLDER.findall(text))
    # the files whose rows the night can hold: extracted by the night, or by the day a rebuilt night's
    # records were known on (transform.as_of.reconstructed_relations)
    cutoff = max(as_of, params.get("known_on") or as_of)
    for feed in sorted(f for f in load_feeds() if f in named or f"{f}_rows" in named):  # keyed, or by ID number
        version = con.execute("SELECT version FROM staging.feed_versions WHERE feed = ?", [feed]).fetchall()
        files = con.execute(
            """SELECT file_id, extract_date FROM staging.standardised_files
               WHERE feed = ? AND extract_date <= ? ORDER BY ALL""",
            [feed, cutoff],
        ).fetchall()
        digest.update(repr((feed, version, files)).encode())
    (statement,) = duckdb.extract_statements(sql)
    digest.update(repr(sorted((name, params[name]) for name in statement.named_parameters)).encode())
    return digest.hexdigest()
