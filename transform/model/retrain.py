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
from transform.model.history import rebuilt_known_on, reconstructed_from
from transform.model.training import (
    REAL_MONTHS_ENOUGH,
    SAMPLE,
    build_training_rows,
    sample_training_rows,
    training_dates,
)
from transform.model.visit_order import with_visit_order
from warehouse.person_key import install, load_key
from warehouse.resource import registered, transaction

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
    first_roster: dt.date | None = None  # the month ends before it are rebuilt from the records known that day

    @property
    def reconstructed(self) -> list[dt.date]:
        return [d for d in self.dates if rebuilt_known_on(d, self.first_roster)]

    @property
    def history(self) -> dict | None:
        """What the card says of a history rebuilt from a bulk delivery (None: every month end had a roster)."""
        if not self.reconstructed or self.first_roster is None:
            return None
        return {
            "reconstructed_month_ends": [d.isoformat() for d in self.reconstructed],
            "month_ends": len(self.dates),
            "known_on": self.first_roster.isoformat(),
            "real_enough": REAL_MONTHS_ENOUGH,
        }


def training_frame(
    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]], home: Path, as_of: dt.date
) -> TrainingSet:
    """The point-in-time training rows up to the night. ``connect``: opens the warehouse."""
    with connect() as con:
        install(con, load_key(home))
        dates = training_dates(con, as_of)
        rows, built = build_training_rows(con, as_of, dates) if dates else (0, [])
        first_roster = reconstructed_from(con)
    if not rows:
        return TrainingSet(None, dates, built, 0, first_roster)
    # read on a connection of its own: DuckDB lets go of what building the month ends held, before the
    # frame is made (at the county default the peak went from 4.7 to 3.5 GiB)
    with connect() as con:
        # in a fixed order: the rows arrive in whatever order DuckDB's threads inserted them, and the
        # fit's validation split for early stopping (and so the model) follows the order
        rows = sample_training_rows(con)
        frame = model_frame(con, SAMPLE, order_by="as_of_date, household_id", narrow=True)
    return TrainingSet(frame, dates, built, rows, first_roster)


def train_candidate(
    frame: pd.DataFrame, as_of: dt.date, positives: int, visit_capacity: int, rows: int, history: dict | None = None
) -> tuple[TrainedModel, dict, pd.DataFrame]:
    """A model trained on the frame, its card (what the model store keeps beside it), and the scores it
    gave the held-out month ends (as_of_date, household_id, score: keep_heldout_scores)."""
    model = train(frame)
    if model.holdout is None:
        raise ValueError("training kept no held-out rows")
    # the card judges the order a township follows (visit_order.py), and the score's alone beside it
    figures = card_figures(with_visit_order(model.holdout), visit_capacity)
    held_out = model.holdout[["as_of_date", "household_id", "score"]]
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
        "history": history,  # TrainingSet.history: the month ends rebuilt from a bulk delivery, if any
    }
    return model, card, held_out


def keep_heldout_scores(con: duckdb.DuckDBPyConnection, version: str, scores: pd.DataFrame) -> None:
    """model.heldout_scores of the model ``version`` (each rule's record reads M01's from them)."""
    with registered(con, "_jz_heldout", scores), transaction(con):
        con.execute("DELETE FROM model.heldout_scores WHERE model_version = ?", [version])
        con.execute(
            """INSERT INTO model.heldout_scores (model_version, as_of_date, household_id, score)
               SELECT ?, as_of_date::DATE, household_id, score FROM _jz_heldout""",
            [version],
        )


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
