"""audit.export_log: every file jiuzhu writes for someone outside the warehouse (township and
department workbooks, quality workbooks, the manifest, the model card), with its rows and
sha256, so an auditor can tell what was handed out, to whom, and when."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb


def log_export(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    path: Path,
    kind: str,
    recipient: str | None,
    rows: int | None,
    run_id: str | None = None,
) -> str:
    """Record one written file (appended: a night written twice is logged twice); returns its sha256."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    exports = next((p for p in path.parents if p.name == "exports"), path.parent)
    con.execute(
        """INSERT INTO audit.export_log (as_of_date, file, kind, recipient, rows, sha256, run_id, written_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)""",
        [as_of, path.relative_to(exports).as_posix(), kind, recipient, rows, sha, run_id],
    )
    return sha
