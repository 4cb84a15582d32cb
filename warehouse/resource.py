"""The DuckDB warehouse at ``<home>/warehouse.duckdb``.

DuckDB allows one writer per file: every asset that writes here runs in the
``warehouse`` pool (limit 1, see dagster.yaml) and opens its own short-lived
connection (assets.common.Warehouse, the Dagster resource, opens it with ``connect``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from jiuzhu.config import Feed, load_feeds
from warehouse.encryption import attach, check_not_lost, encrypt_in_place, httpfs_extension, mark_created, warehouse_key
from warehouse.migrations import MIGRATIONS

DDL_DIR = Path(__file__).resolve().parent / "ddl"
SCRATCH_DIR = "tmp"  # under the home

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


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All of the block's writes, or none of them (a failure rolls back and is raised)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


# warehouse/ddl/<name>.sql, in this order: the schemas, then each schema's fixed tables. Raw tables
# follow the feed spec (ensure_raw_table); core.*, staging.<feed> and model.* are rebuilt by transform/.
SCHEMA_DDL = ("schemas", "audit", "staging", "core", "monitoring", "model")


def run_ddl(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute((DDL_DIR / f"{name}.sql").read_text(encoding="utf-8"))


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Every fixed table in its current shape: created when missing, migrated when built by an earlier version."""
    for name in SCHEMA_DDL:
        run_ddl(con, name)
    for step in MIGRATIONS:
        if step.needed(con):
            with transaction(con):
                step.apply(con, lambda name: run_ddl(con, name))
    for feed in load_feeds().values():
        ensure_raw_table(con, feed)


# DuckDB's own memory ceiling: above it, large sorts and tables spill to disk beside
# the warehouse instead of growing the process (the night must fit beside others).
MEMORY_LIMIT = os.environ.get("JIUZHU_DUCKDB_MEMORY", "3GB")


_VERIFIED_EXTENSIONS: set[tuple] = set()


def _identity(path: Path) -> tuple:
    st = path.stat()
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the encrypted warehouse at ``path`` (warehouse/encryption.py).
    Spill files go to the home's scratch folder, encrypted too."""
    home = path.parent
    check_not_lost(home, path)
    creating = not path.exists()
    key = warehouse_key(home, creating)
    spill = home / SCRATCH_DIR / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    extension = httpfs_extension()
    verified = _identity(extension) in _VERIFIED_EXTENSIONS
    con = duckdb.connect(
        config={
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": str(spill),
            "temp_file_encryption": True,
            # nothing is fetched from the internet: the one extension needed ships in a pinned package
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            # DuckDB checks the extension's signature on the first load in this process (0.1 s); later
            # connections load the very same file (same inode, size and time) without checking again
            "allow_unsigned_extensions": verified,
        }
    )
    try:
        con.execute(f"LOAD '{extension}'")
        _VERIFIED_EXTENSIONS.add(_identity(extension))
        try:
            attach(con, path, key, read_only)
        except duckdb.Error as exc:
            if "is not encrypted" not in str(exc):
                raise
            encrypt_in_place(con, path, key)  # a warehouse from before encryption
            attach(con, path, key, read_only)
    except BaseException:
        con.close()
        raise
    if creating:
        mark_created(home)
    return con


@contextmanager
def connect(path: Path | str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = _open(Path(path), read_only)
    con.execute("SET enable_progress_bar = false")  # a night's log is for operators, not a terminal
    try:
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()
