"""Changes to the tables of warehouses built by earlier versions, oldest first.

warehouse/ddl/<schema>.sql creates every table in its current shape, so a new warehouse needs
none of these steps; a warehouse built before a change gets it here. ensure_schema
(warehouse/resource.py) runs, after the DDL, each step whose ``needed`` finds the change
missing, each in its own transaction. Every step reads the catalogue to tell whether it is
done, so running them again does nothing and no version number is kept (a table for it would
be one more audit table in front of the auditors).

A new change is appended to MIGRATIONS and written into its table's CREATE TABLE too, added
columns last: a migrated warehouse and a new one then have the same columns in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

# Runs warehouse/ddl/<name>.sql on the connection (CREATE ... IF NOT EXISTS: safe to run again).
RunDdl = Callable[[str], None]


@dataclass(frozen=True)
class Migration:
    name: str
    needed: Callable[[duckdb.DuckDBPyConnection], bool]
    apply: Callable[[duckdb.DuckDBPyConnection, RunDdl], None]


def _missing_columns(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    have = {
        r[0]
        for r in con.execute(
            """SELECT column_name FROM duckdb_columns()
               WHERE database_name = current_database() AND schema_name = ? AND table_name = ?""",
            [schema, table],
        ).fetchall()
    }
    return [(name, kind) for name, kind in columns if name not in have]


def add_columns(schema: str, table: str, columns: list[tuple[str, str]]) -> Migration:
    """Columns added to a table after warehouses were built with it (ALTER TABLE puts them last)."""

    def apply(con: duckdb.DuckDBPyConnection, _ddl: RunDdl) -> None:
        for name, kind in _missing_columns(con, schema, table, columns):
            con.execute(f"ALTER TABLE {schema}.{table} ADD COLUMN {name} {kind}")

    return Migration(
        f"{schema}.{table}: + {', '.join(n for n, _ in columns)}",
        lambda con: bool(_missing_columns(con, schema, table, columns)),
        apply,
    )


def _files_status_lacks_superseded(con: duckdb.DuckDBPyConnection) -> bool:
    """audit.files as first built: its status CHECK does not allow 'superseded'."""
    checks = con.execute(
        """SELECT string_agg(constraint_text, ' ') FROM duckdb_constraints()
           WHERE database_name = current_database() AND schema_name = 'audit' AND table_name = 'files'
             AND constraint_type = 'CHECK'"""
    ).fetchall()[0][0]
    return checks is not None and "superseded" not in checks


def _files_allow_superseded(con: duckdb.DuckDBPyConnection, ddl: RunDdl) -> None:
    # DuckDB cannot change a CHECK: the table is rebuilt from the DDL with the new one, every row kept
    con.execute("ALTER TABLE audit.files RENAME TO files_before_superseded")
    ddl("audit")
    con.execute("INSERT INTO audit.files BY NAME SELECT * FROM audit.files_before_superseded")
    con.execute("DROP TABLE audit.files_before_superseded")


def _scores_keyed(con: duckdb.DuckDBPyConnection) -> bool:
    """monitoring.household_scores as first built: with a PRIMARY KEY, whose index made replacing a
    night's 220,000 scores (a rerun, a late file, a backfill) take 27 s."""
    return bool(
        con.execute(
            """SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database()
               AND schema_name = 'monitoring' AND table_name = 'household_scores' AND constraint_type = 'PRIMARY KEY'"""
        ).fetchall()[0][0]
    )


def _scores_unkeyed(con: duckdb.DuckDBPyConnection, ddl: RunDdl) -> None:
    # DuckDB cannot drop a key: the table is rebuilt from the DDL without it, every row kept
    con.execute("ALTER TABLE monitoring.household_scores RENAME TO household_scores_keyed")
    ddl("monitoring")
    con.execute("INSERT INTO monitoring.household_scores BY NAME SELECT * FROM monitoring.household_scores_keyed")
    con.execute("DROP TABLE monitoring.household_scores_keyed")


# Month ends were once built for training in these schemas of the warehouse itself (transform/model/history.py
# now builds them in memory): a night stopped there left their tables, ID numbers among them.
LEFT_BEHIND = ("train_core", "train_restricted")


def drop_left_behind(schema: str) -> Migration:
    def present(con: duckdb.DuckDBPyConnection) -> bool:
        found = "SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() AND schema_name = ?"
        return bool(con.execute(found, [schema]).fetchall()[0][0])

    def drop(con: duckdb.DuckDBPyConnection, _ddl: RunDdl) -> None:
        con.execute(f"DROP SCHEMA {schema} CASCADE")

    return Migration(f"{schema}: dropped", present, drop)


MIGRATIONS: list[Migration] = [
    # a later version of a file replaces the earlier one (ingest/loader.py)
    Migration("audit.files: status 'superseded'", _files_status_lacks_superseded, _files_allow_superseded),
    # freshness in the department scorecards (transform/audit/freshness.py)
    add_columns(
        "audit",
        "scorecards",
        [
            ("last_delivered", "DATE"),
            ("age_days", "INTEGER"),
            ("max_age_days", "INTEGER"),
            ("on_time", "VARCHAR"),
            ("freshness_note", "VARCHAR"),
        ],
    ),
    # the proxy-means income estimate beside each score (transform/model/scoring.py)
    add_columns("monitoring", "household_scores", [("estimated_income_per_capita", "DOUBLE")]),
    # deadlines and answers of the township loop (transform/monitoring/warnings.py)
    add_columns("monitoring", "warnings", [("level_since", "DATE"), ("due_on", "DATE"), ("first_feedback_on", "DATE")]),
    add_columns("monitoring", "resolved_warnings", [("ended_because", "VARCHAR")]),
    # where a township finds a person outside the roster (transform/monitoring/outsider_hits.sql)
    add_columns("monitoring", "rule_hits", [("found_by", "VARCHAR")]),
    add_columns("monitoring", "warnings", [("found_by", "VARCHAR")]),
    # scores carried over where nothing they were computed from changed (transform/model/scoring.py)
    add_columns("monitoring", "household_scores", [("inputs_hash", "UBIGINT")]),
    Migration("monitoring.household_scores: no PRIMARY KEY", _scores_keyed, _scores_unkeyed),
    # each township's visit order, shared between households headed by women and by men (issue 15)
    add_columns("monitoring", "household_scores", [("visit_order", "INTEGER")]),
    *(drop_left_behind(schema) for schema in LEFT_BEHIND),
]
