"""The warehouse's fixed tables: created from warehouse/ddl/<schema>.sql, brought up to date by
warehouse/migrations.py, and written by column name, never by position."""

from __future__ import annotations

import re
from pathlib import Path

from warehouse.migrations import MIGRATIONS
from warehouse.resource import connect, ensure_schema

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("ingest", "transform", "exports", "warehouse", "assets", "checks", "pipelines", "models", "jiuzhu")

# The tables as an earlier version built them: audit.files before 'superseded' (and before
# superseded_by and display_name), the scorecards before freshness, the scores before the estimate,
# the warnings before their deadlines, the ended ones before their reason, the hits and the
# warnings before what found a person outside the roster; and the schemas a night that stopped while
# building a month end for training in the warehouse itself left behind.
OLD_TABLES = """
CREATE SCHEMA train_core; CREATE TABLE train_core.household_features AS SELECT 'H1' AS household_id;
CREATE SCHEMA train_restricted; CREATE TABLE train_restricted.person_ids AS SELECT 'H1' AS household_id;
DROP TABLE audit.files; DROP TABLE audit.scorecards; DROP TABLE monitoring.household_scores;
DROP TABLE monitoring.warnings; DROP TABLE monitoring.resolved_warnings; DROP TABLE monitoring.rule_hits;
CREATE TABLE monitoring.rule_hits (
    as_of_date DATE NOT NULL, subject_type VARCHAR NOT NULL, subject_id VARCHAR NOT NULL, rule_code VARCHAR NOT NULL,
    rule_name VARCHAR NOT NULL, level VARCHAR NOT NULL, figures JSON NOT NULL, threshold VARCHAR,
    policy_items VARCHAR NOT NULL, reason VARCHAR NOT NULL, departments VARCHAR[] NOT NULL, measure VARCHAR NOT NULL,
    severity DOUBLE, suppressed BOOLEAN NOT NULL DEFAULT false, PRIMARY KEY (as_of_date, subject_id, rule_code));
CREATE TABLE monitoring.warnings (
    as_of_date DATE NOT NULL, warning_id VARCHAR NOT NULL, household_id VARCHAR, person_masked_id VARCHAR,
    township_code VARCHAR NOT NULL, township_name VARCHAR NOT NULL, village VARCHAR, level VARCHAR NOT NULL,
    rule_codes VARCHAR[] NOT NULL, risk_score DOUBLE, departments VARCHAR[] NOT NULL, reasons VARCHAR NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('new', 'continuing', 'escalated')), first_flagged_on DATE NOT NULL,
    subject_id VARCHAR NOT NULL, measures VARCHAR, last_feedback VARCHAR, PRIMARY KEY (as_of_date, warning_id));
CREATE TABLE monitoring.resolved_warnings (
    as_of_date DATE NOT NULL, warning_id VARCHAR NOT NULL, household_id VARCHAR, person_masked_id VARCHAR,
    township_code VARCHAR NOT NULL, township_name VARCHAR NOT NULL, village VARCHAR, last_level VARCHAR NOT NULL,
    rule_codes VARCHAR[] NOT NULL, first_flagged_on DATE NOT NULL, last_flagged_on DATE NOT NULL, outcome VARCHAR,
    PRIMARY KEY (as_of_date, warning_id));
CREATE TABLE audit.files (
    file_id BIGINT PRIMARY KEY, feed VARCHAR NOT NULL, file_name VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    extract_date DATE, status VARCHAR NOT NULL CHECK (status IN ('loaded', 'rejected', 'duplicate')),
    reason_code VARCHAR, reason VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
    format VARCHAR, encoding VARCHAR, sheet VARCHAR, header_row INTEGER, size_bytes BIGINT, seconds DOUBLE,
    run_id VARCHAR, ingested_at TIMESTAMP NOT NULL);
CREATE TABLE audit.scorecards (
    as_of_date DATE NOT NULL, department VARCHAR NOT NULL, feed VARCHAR NOT NULL, extract_date DATE,
    days_since_last_file INTEGER, expected_cadence_days INTEGER, fresh BOOLEAN, rows_tonight BIGINT,
    completeness DOUBLE, validity DOUBLE, duplicate_keys BIGINT, files_rejected BIGINT, top_reasons VARCHAR,
    usable BOOLEAN, PRIMARY KEY (as_of_date, feed));
CREATE TABLE monitoring.household_scores (
    as_of_date DATE NOT NULL, household_id VARCHAR NOT NULL, risk_score DOUBLE NOT NULL,
    model_version VARCHAR NOT NULL, top_factors VARCHAR, PRIMARY KEY (as_of_date, household_id));
INSERT INTO audit.files VALUES (7, 'mz_members', 'm_20261101.csv', 'ab', DATE '2026-11-01', 'loaded', NULL, NULL,
    3, 3, 0, 'csv', 'utf-8', NULL, 1, 120, 0.1, 'r1', TIMESTAMP '2026-11-01 23:00:00');
INSERT INTO audit.scorecards (as_of_date, department, feed, usable) VALUES (DATE '2026-11-01', '民政', 'mz_members', true);
INSERT INTO monitoring.household_scores VALUES (DATE '2026-11-01', 'H1', 0.2, 'v1', NULL);
"""


def columns(con) -> list[tuple]:
    return con.execute(
        """SELECT schema_name, table_name, column_index, column_name, data_type FROM duckdb_columns()
           WHERE database_name = current_database() AND schema_name IN ('audit', 'core', 'monitoring') ORDER BY ALL"""
    ).fetchall()


def test_a_warehouse_built_by_an_earlier_version_is_brought_up_to_date_once(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        new = columns(con)
        assert not any(step.needed(con) for step in MIGRATIONS)  # a new warehouse is built in the current shape
        con.execute(OLD_TABLES)
        assert all(step.needed(con) for step in MIGRATIONS)
    with connect(path) as con:  # opening it for writing migrates it
        assert columns(con) == new  # the same columns in the same order as a new warehouse's
        assert not any(step.needed(con) for step in MIGRATIONS)
        ensure_schema(con)  # again: nothing to do
        assert columns(con) == new
        # every row kept, and what the earlier tables could not hold they hold now
        assert con.execute("SELECT file_id, status, run_id, display_name FROM audit.files").fetchall() == [
            (7, "loaded", "r1", None)
        ]
        con.execute("UPDATE audit.files SET status = 'superseded', superseded_by = 8 WHERE file_id = 7")
        assert con.execute("SELECT feed, usable, on_time FROM audit.scorecards").fetchall() == [
            ("mz_members", True, None)
        ]
        assert con.execute(
            "SELECT household_id, estimated_income_per_capita FROM monitoring.household_scores"
        ).fetchall() == [("H1", None)]
        assert con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'files_before_superseded'"
        ).fetchall() == [(0,)]
        assert not con.execute("SELECT * FROM duckdb_schemas() WHERE schema_name LIKE 'train%'").fetchall()


def test_the_monitoring_tables_come_with_the_warehouse(tmp_path):
    with connect(tmp_path / "warehouse.duckdb") as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        }
    assert {
        "monitoring.warnings",
        "monitoring.rule_hits",
        "monitoring.household_scores",
        "audit.files",
        "audit.export_log",
        "core.key_fingerprint",
    } <= tables


INSERT = re.compile(r"INSERT\s+INTO\s+(\S+)\s+(\S+)", re.IGNORECASE)


def test_every_insert_names_its_columns():
    """Tables gain columns (warehouse/migrations.py): a write by position would put values in the
    wrong columns or fail, so every INSERT has a column list or is BY NAME."""
    found, positional = 0, []
    for package in PROJECT:
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix not in (".py", ".sql"):
                continue
            text = path.read_text(encoding="utf-8")
            for m in INSERT.finditer(text):  # the table and what follows it, on this line or the next
                found += 1
                if not (m.group(2).startswith("(") or m.group(2).upper() == "BY"):
                    line = text.count("\n", 0, m.start()) + 1
                    positional.append(f"{path.relative_to(ROOT)}:{line}: {' '.join(m.group(0).split())}")
    assert found >= 15 and positional == []


def test_duckdb_memory_and_spill_folder_follow_the_environment(tmp_path, monkeypatch):
    """An operator can give DuckDB more or less memory and a larger disk to spill to; a wrong size is
    said in one line naming the setting, not a DuckDB parser error."""
    import pytest

    spill = tmp_path / "spill"
    monkeypatch.setenv("JIUZHU_DUCKDB_MEMORY", "700MB")
    monkeypatch.setenv("JIUZHU_DUCKDB_TEMP", str(spill))
    with connect(tmp_path / "home" / "warehouse.duckdb") as con:
        memory, temp = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()[0]
    assert memory.startswith("667") and temp == str(spill)  # 700 MB is 667.5 MiB, as DuckDB shows it
    assert spill.is_dir() and spill.stat().st_mode & 0o777 == 0o700
    monkeypatch.setenv("JIUZHU_DUCKDB_MEMORY", "lots")
    with pytest.raises(ValueError, match="JIUZHU_DUCKDB_MEMORY='lots'"):
        with connect(tmp_path / "home" / "warehouse.duckdb"):
            pass


def test_a_runs_steps_share_one_instance_each_in_a_session_of_its_own(tmp_path):
    """A run opens the warehouse once (RunConnection): each step still starts clean, in the warehouse,
    with nothing of the step before; what a failed step left uncommitted is gone; what a step committed
    is there for the next and, once the run ends, for any other connection."""
    import duckdb
    import pytest

    from warehouse.resource import RunConnection

    path = tmp_path / "warehouse.duckdb"
    run = RunConnection(path)
    with run.cursor() as con:
        con.execute("CREATE TABLE audit.note (n INTEGER); INSERT INTO audit.note VALUES (1)")
        con.execute("CREATE TEMP TABLE _jz_step_only AS SELECT 1 AS x")
        first = con.execute("SELECT current_database()").fetchall()[0][0]
    with pytest.raises(RuntimeError):  # a step that fails inside its transaction
        with run.cursor() as con:
            con.execute("BEGIN TRANSACTION; INSERT INTO audit.note VALUES (2)")
            raise RuntimeError("a step fails")
    with run.cursor() as con:
        assert con.execute("SELECT current_database()").fetchall()[0][0] == first == "warehouse"
        assert con.execute("SELECT list(n) FROM audit.note").fetchall()[0][0] == [1]  # 2 rolled back
        with pytest.raises(duckdb.CatalogException):
            con.execute("SELECT * FROM _jz_step_only")  # the step before's temp table: not here
        con.execute("INSERT INTO audit.note VALUES (3)")
    run.close()
    with connect(path, read_only=True) as con:  # the run ended: its instance closed, its work on disk
        assert con.execute("SELECT list(n ORDER BY n) FROM audit.note").fetchall()[0][0] == [1, 3]
    run.close()  # closing twice is harmless
