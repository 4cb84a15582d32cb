"""Tonight's scores: every roster household's probability of needing assistance within six
months (monitoring.household_scores), with the facts that raised it most, in Chinese, and
the proxy-means estimate of its income (shown as an estimate, never used by R01/R02)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from models.risk import SCORING_THREADS, TrainedModel, factor_sentences
from transform.model.frames import model_frame
from warehouse.resource import transaction


def score_households(con: duckdb.DuckDBPyConnection, as_of: dt.date, version: str, model: TrainedModel) -> pd.DataFrame:
    features = model_frame(con, "core.household_features", order_by="household_id")
    x = model.inputs(features)
    scores: np.ndarray | list[float] = model.predict(x, SCORING_THREADS) if len(x) else []
    # the proxy-means estimate, as the model saw it (per-capita income over the standard, times the standard)
    ratio = x["est_income_to_standard"] if "est_income_to_standard" in x else pd.Series(np.nan, index=x.index)
    estimate = ratio.to_numpy(dtype=float) * pd.to_numeric(features["dibao_standard"]).to_numpy(dtype=float)
    out = pd.DataFrame(
        {"as_of_date": as_of, "household_id": features["household_id"], "risk_score": scores, "model_version": version}
    )
    out["top_factors"] = (
        [factor_sentences(f) or None for f in model.explain(x, scores=np.asarray(scores))] if len(x) else []
    )
    out["estimated_income_per_capita"] = np.round(estimate, -1)  # to 10 元: it is an estimate
    con.register("_jz_scores", out)
    try:
        with transaction(con):  # the night's scores replaced whole, or left as they were
            con.execute("DELETE FROM monitoring.household_scores WHERE as_of_date = ?", [as_of])
            con.execute("INSERT INTO monitoring.household_scores BY NAME SELECT * FROM _jz_scores")
    finally:
        con.unregister("_jz_scores")
    return out
