"""The DuckDB warehouse at ``<home>/warehouse.duckdb``.

DuckDB allows one writer per file: every asset that writes here runs in the
``warehouse`` pool (limit 1, see dagster.yaml) and opens its own short-lived
connection through this resource.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
import duckdb

from jiuzhu.config import Feed, load_feeds

SQL_DIR = Path(__file__).resolve().parent / "sql"

# Columns every raw table carries besides the feed's own (all kept as delivered text).
RAW_LINEAGE_COLUMNS = (
    ("file_id", "BIGINT NOT NULL"),
    ("source_file", "VARCHAR NOT NULL"),
    ("source_row", "BIGINT NOT NULL"),
    ("sha256", "VARCHAR NOT NULL"),
    ("extract_date", "DATE NOT NULL"),
)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def raw_table(feed: Feed) -> str:
    return f"raw.{feed.name}"


def ensure_raw_table(con: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    """Create raw.<feed>, or add columns a newer feed spec introduced (never drop)."""
    cols = [f"{n} {t}" for n, t in RAW_LINEAGE_COLUMNS]
    cols += [f"{quote_ident(c)} VARCHAR" for c in feed.column_names]
    cols.append("extra_columns JSON")  # delivered columns the spec does not know
    con.execute(f"CREATE TABLE IF NOT EXISTS {raw_table(feed)} ({', '.join(cols)})")
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema='raw' AND table_name=?",
            [feed.name],
        ).fetchall()
    }
    for c in feed.column_names:
        if c not in have:
            con.execute(f"ALTER TABLE {raw_table(feed)} ADD COLUMN {quote_ident(c)} VARCHAR")


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute((SQL_DIR / "audit.sql").read_text(encoding="utf-8"))
    for feed in load_feeds().values():
        ensure_raw_table(con, feed)


# DuckDB's own memory ceiling: above it, large sorts and tables spill to disk beside
# the warehouse instead of growing the process (the night must fit beside others).
MEMORY_LIMIT = os.environ.get("JIUZHU_DUCKDB_MEMORY", "3GB")


@contextmanager
def connect(path: Path | str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": MEMORY_LIMIT})
    con.execute("SET enable_progress_bar = false")  # a night's log is for operators, not a terminal
    try:
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()


class Warehouse(dg.ConfigurableResource):
    """The county's DuckDB warehouse under the run's home directory."""

    home: str

    @property
    def path(self) -> Path:
        return Path(self.home) / "warehouse.duckdb"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.home).mkdir(parents=True, exist_ok=True)
        with connect(self.path, read_only=read_only) as con:
            yield con
