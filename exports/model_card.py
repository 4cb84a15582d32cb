"""The model card of a newly trained risk model, written beside the night's exports
(exports/<date>/model_card.md) and logged in audit.export_log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from exports.export_log import log_export


def write_model_card(con: duckdb.DuckDBPyConnection, out_dir: Path, as_of: dt.date, markdown: str,
                     run_id: str | None = None) -> Path:
    """<out_dir>/model_card.md; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model_card.md"
    path.write_text(markdown + "\n", encoding="utf-8")
    log_export(con, as_of, path, "model_card", None, None, run_id)
    return path
