"""The DuckDB warehouse at ``<home>/warehouse.duckdb``.

DuckDB allows one writer per file: every asset that writes here runs in the
``warehouse`` pool (limit 1, see dagster.yaml). Within a Dagster run, the steps share one
instance, each in a cursor of its own (RunConnection, set up by assets.common.Warehouse, the Dagster
resource); outside one, ``connect`` opens the warehouse and closes it again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from jiuzhu.config import Feed, load_feeds
from warehouse.encryption import (
    WAREHOUSE_ALIAS,
    attach,
    check_not_lost,
    encrypt_in_place,
    httpfs_extension,
    mark_created,
    warehouse_key,
)
from warehouse.migrations import LEFT_BEHIND, MIGRATIONS

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


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, frame: object) -> Iterator[None]:
    """A pandas frame readable in SQL as ``name`` for the block only (written into a table there)."""
    con.register(name, frame)
    try:
        yield
    finally:
        con.unregister(name)


# warehouse/ddl/<name>.sql, in this order: the schemas, then each schema's fixed tables. Raw tables
# follow the feed spec (ensure_raw_table); core.*, staging.<feed> and model.feature_history are built by transform/.
SCHEMA_DDL = ("schemas", "audit", "staging", "core", "monitoring", "model", "simulation")


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``schema.name`` is a table of the warehouse (the current database), or ``database.schema.name``
    one of another database attached (model training's month ends are built in memory)."""
    *database, schema, name = table.split(".")
    return bool(
        con.execute(
            """SELECT count(*) FROM duckdb_tables()
               WHERE database_name = coalesce(?, current_database()) AND schema_name = ? AND table_name = ?""",
            [database[0] if database else None, schema, name],
        ).fetchall()[0][0]
    )


def run_ddl(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute((DDL_DIR / f"{name}.sql").read_text(encoding="utf-8"))


# The catalogue of the fixed schemas as this process last left it in current shape: a connection that
# finds the same skips the DDL and the migrations' checks (a night opens the warehouse dozens of times).
# (Schemas a migration drops count too: a warehouse that holds them is not in current shape.)
_SHAPED = ("raw", *(name for name in SCHEMA_DDL if name != "schemas"), *LEFT_BEHIND)
_SHAPE = f"""SELECT hash(string_agg(concat_ws('.', schema_name, table_name, column_name, data_type), ',' ORDER BY ALL))
            FROM duckdb_columns() WHERE database_name = current_database()
              AND schema_name IN ({", ".join(f"'{name}'" for name in _SHAPED)})"""
_CURRENT_SHAPES: set[tuple[str, int]] = set()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Every fixed table in its current shape: created when missing, migrated when built by an earlier version."""
    database = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    seen = (str(database.fetchall()[0][0]), con.execute(_SHAPE).fetchall()[0][0])
    if seen in _CURRENT_SHAPES:
        return
    _ensure(con)
    _CURRENT_SHAPES.add((seen[0], con.execute(_SHAPE).fetchall()[0][0]))


def _ensure(con: duckdb.DuckDBPyConnection) -> None:
    for name in SCHEMA_DDL:
        run_ddl(con, name)
    for step in MIGRATIONS:
        if step.needed(con):
            with transaction(con):
                step.apply(con, lambda name: run_ddl(con, name))
    for feed in load_feeds().values():
        ensure_raw_table(con, feed)


# DuckDB's own memory ceiling: above it, large sorts, joins and tables spill to disk instead of
# growing the process (the night must fit beside others, and a county twice the size still runs).
# The spill folder is the home's scratch folder unless JIUZHU_DUCKDB_TEMP names another (a larger
# disk); its files are encrypted like the warehouse.
MEMORY_ENV, TEMP_ENV = "JIUZHU_DUCKDB_MEMORY", "JIUZHU_DUCKDB_TEMP"
DEFAULT_MEMORY = "3GB"


def duckdb_limits(home: Path) -> tuple[str, Path]:
    """DuckDB's memory limit and spill folder for the warehouse in ``home``, as the environment sets them."""
    memory = os.environ.get(MEMORY_ENV, "").strip() or DEFAULT_MEMORY
    temp = os.environ.get(TEMP_ENV, "").strip()
    return memory, Path(temp) if temp else home / SCRATCH_DIR / "duckdb"


_VERIFIED_EXTENSIONS: set[tuple] = set()


def _identity(path: Path) -> tuple:
    st = path.stat()
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _config(memory: str, spill: Path, verified: bool) -> dict:
    return {
        "memory_limit": memory,
        "temp_directory": str(spill),
        "temp_file_encryption": True,
        # nothing is fetched from the internet: the one extension needed ships in a pinned package
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        # DuckDB checks the extension's signature on the first load in this process (0.1 s); later
        # connections load the very same file (same inode, size and time) without checking again
        "allow_unsigned_extensions": verified,
    }


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the encrypted warehouse at ``path`` (warehouse/encryption.py).
    Spill files go to the spill folder (duckdb_limits), encrypted too."""
    home = path.parent
    check_not_lost(home, path)
    creating = not path.exists()
    key = warehouse_key(home, creating)
    memory, spill = duckdb_limits(home)
    spill.mkdir(parents=True, exist_ok=True, mode=0o700)
    extension = httpfs_extension()
    verified = _identity(extension) in _VERIFIED_EXTENSIONS
    try:
        con = duckdb.connect(config=_config(memory, spill, verified))
    except (duckdb.ParserException, duckdb.InvalidInputException) as exc:  # what the operator set, in one line
        raise ValueError(f"{MEMORY_ENV}={memory!r} 不是有效的内存大小（例如 3GB、800MB）: {exc}") from None
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


def _session(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET enable_progress_bar = false")  # a night's log is for operators, not a terminal


def _ready(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse at ``path``, its session set, its fixed tables current when it writes."""
    con = _open(path, read_only)
    try:
        _session(con)
        if not read_only:
            ensure_schema(con)
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def connect(path: Path | str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = _ready(Path(path), read_only)
    try:
        yield con
    finally:
        con.close()


class RunConnection:
    """One DuckDB instance over the warehouse for a whole Dagster run, opened by the first step that
    asks: each step then works in a cursor of its own (its own session, temp tables and transaction;
    closing it rolls back what was left uncommitted). Opening the encrypted warehouse and checkpointing
    it on close, once per step, cost a night of some 70 steps about 7 s. The instance writes: a
    step that asks for a read-only connection gets a cursor like any other (one instance per file
    and process; a second would not see the first's uncommitted state and could write behind it).
    The instance keeps what it read cached, up to DuckDB's memory limit: a step that then holds much
    in Python (training) closes it and opens one of its own (assets.common.Warehouse.connect, alone).
    An instance that a fatal error invalidated is replaced by a fresh one for the next step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = None

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._live().cursor()
        try:
            cur.execute(f"USE {WAREHOUSE_ALIAS}")  # a cursor starts in the in-memory database
            _session(cur)
            yield cur
        finally:
            cur.close()

    def _live(self) -> duckdb.DuckDBPyConnection:
        if self._con is not None:
            try:
                self._con.execute("SELECT 1")
            except duckdb.Error:  # "database has been invalidated": the next step starts afresh
                self.close()
        if self._con is None:
            self._con = _ready(self.path, read_only=False)
        return self._con

    def close(self) -> None:
        """Checkpoint and close the instance (the next step that asks opens another)."""
        con, self._con = self._con, None
        if con is not None:
            try:
                con.close()
            except duckdb.Error:  # an invalidated instance: what it committed is in the WAL
                pass
