"""The card of the model in force, written beside every night's exports
(exports/<date>/model_card.md) and logged in audit.export_log: whoever reads a night's list can
read what scored it, also on the nights the model is not retrained."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from exports.export_log import log_export
from models.model_card import card_markdown
from models.risk import TrainedModel


def write_model_card(
    con: duckdb.DuckDBPyConnection, out_dir: Path, as_of: dt.date, markdown: str, run_id: str | None = None
) -> Path:
    """<out_dir>/model_card.md; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model_card.md"
    path.write_text(markdown + "\n", encoding="utf-8")
    log_export(con, as_of, path, "model_card", None, None, run_id)
    return path


def card_text(version: str, model: TrainedModel, stored: dict) -> str:
    """The card of a stored model (warehouse.risk_store) as Markdown."""
    return card_markdown(
        version,
        model.kind,
        stored["card"],
        model.train_dates,
        model.test_dates,
        stored["income_estimate"],
        stored.get("history"),
    )
