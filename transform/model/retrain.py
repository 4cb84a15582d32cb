"""Retraining the risk model: the night's training frame, a candidate trained on it with its card,
and the decision to put it in use (only when it does better than the model in use on the same
held-out months). The model store (warehouse/risk_store.py) keeps both."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from models.model_card import card_figures
from models.risk import TrainedModel, held_out_auc, train
from transform.model.frames import model_frame
from transform.model.training import SAMPLE, build_training_rows, sample_training_rows, training_dates
from warehouse.person_key import install, load_key

MIN_POSITIVES = 20  # fewer labelled entries than this: no model is trained (and M01 stays silent)
MIN_MONTHS = 4  # nor over fewer training dates


@dataclass
class TrainingSet:
    """What training reads: the rows sample_training_rows keeps (None when there are no training rows),
    the training dates, the month ends whose features had to be built (not kept by their own night, or
    stale), and how many training rows there are in all."""

    frame: pd.DataFrame | None
    dates: list[dt.date]
    built: list[dt.date]
    rows: int


def training_frame(
    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]], home: Path, as_of: dt.date
) -> TrainingSet:
    """The point-in-time training rows up to the night. ``connect``: opens the warehouse."""
    with connect() as con:
        install(con, load_key(home))
        dates = training_dates(con, as_of)
        rows, built = build_training_rows(con, as_of, dates) if dates else (0, [])
    if not rows:
        return TrainingSet(None, dates, built, 0)
    # read on a connection of its own: DuckDB lets go of what building the month ends held, before the
    # frame is made (at the county default the peak went from 4.7 to 3.5 GiB)
    with connect() as con:
        # in a fixed order: the rows arrive in whatever order DuckDB's threads inserted them, and the
        # fit's validation split for early stopping (and so the model) follows the order
        rows = sample_training_rows(con)
        frame = model_frame(con, SAMPLE, order_by="as_of_date, household_id", narrow=True)
    return TrainingSet(frame, dates, built, rows)


def train_candidate(
    frame: pd.DataFrame, as_of: dt.date, positives: int, visit_capacity: int, rows: int
) -> tuple[TrainedModel, dict]:
    """A model trained on the frame, and its card (what the model store keeps beside it)."""
    model = train(frame)
    figures = card_figures(model.holdout, visit_capacity)
    model.holdout = None  # the card keeps the figures; the artefact stays small
    card = {
        "trained_on": as_of.isoformat(),
        "kind": model.kind,
        "features": model.features,
        "train_dates": model.train_dates,
        "test_dates": model.test_dates,
        "metrics": model.metrics,
        "training_rows": rows,
        "training_rows_read": len(frame),
        "positives": positives,
        "card": figures,
        "income_estimate": model.income.metrics if model.income else None,
    }
    return model, card


def promotion(
    model: TrainedModel, frame: pd.DataFrame, existing: tuple[str, TrainedModel, dict] | None
) -> tuple[bool, str]:
    """Whether the new model should replace the one in use, and why."""
    new_auc = model.metrics[model.kind].get("roc_auc", 0.0)
    if not existing:
        return True, "no current model"
    # judged on the same rows: the new model's held-out months, which the model in use never trained on
    held_out = frame[frame["as_of_date"].dt.date.astype(str).isin(model.test_dates)]
    old_auc = held_out_auc(existing[1], held_out) or 0.0
    why = f"ROC-AUC on the held-out months {', '.join(model.test_dates)}: new {new_auc} vs in use ({existing[0]}) {old_auc}"
    return new_auc > old_auc, why
