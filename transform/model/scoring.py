"""Tonight's scores: every roster household's probability of needing assistance within six
months (monitoring.household_scores), with the facts that raised it most, in Chinese, and
the proxy-means estimate of its income (shown as an estimate, never used by R01/R02).

A score is a function of the model and of the household's inputs alone. Each row keeps a hash of
its inputs (inputs_hash); a household whose hash is the one it had on the latest other night
scored by the same model gets that night's score, factors and estimate again, and only the others
are predicted and explained: on most nights, a small share of the county."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from models.risk import SCORING_THREADS, TrainedModel, factor_sentences
from transform.model.frames import model_frame
from warehouse.resource import transaction

CARRIED = ["risk_score", "top_factors", "estimated_income_per_capita"]


def score_households(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, version: str, model: TrainedModel, carry_over: bool = True
) -> pd.DataFrame:
    """Score every household of core.household_features; ``carry_over=False`` predicts every one again."""
    features = model_frame(con, "core.household_features", order_by="household_id")
    x = model.inputs(features)
    standard = pd.to_numeric(features["dibao_standard"]).to_numpy(dtype=float)
    out = pd.DataFrame({"as_of_date": as_of, "household_id": features["household_id"], "model_version": version})
    out["inputs_hash"] = pd.util.hash_pandas_object(x.assign(_standard=standard), index=False).to_numpy()
    earlier = _earlier(con, as_of, version if carry_over else None).astype(
        {"inputs_hash": "uint64", "risk_score": float, "top_factors": object}
    )
    out = out.merge(earlier, on=["household_id", "inputs_hash"], how="left")
    out["top_factors"] = out["top_factors"].astype(object)
    new = out["risk_score"].isna().to_numpy()
    if new.any():
        fresh = x[new]
        scores = model.predict(fresh, SCORING_THREADS)
        # the proxy-means estimate, as the model saw it (per-capita income over the standard, times the standard)
        ratio = fresh["est_income_to_standard"] if "est_income_to_standard" in fresh else pd.Series(np.nan, fresh.index)
        out.loc[new, "risk_score"] = scores
        out.loc[new, "top_factors"] = [factor_sentences(f) or None for f in model.explain(fresh, scores=scores)]
        out.loc[new, "estimated_income_per_capita"] = np.round(ratio.to_numpy(dtype=float) * standard[new], -1)
    con.register("_jz_scores", out)
    try:
        with transaction(con):  # the night's scores replaced whole, or left as they were
            con.execute("DELETE FROM monitoring.household_scores WHERE as_of_date = ?", [as_of])
            con.execute("INSERT INTO monitoring.household_scores BY NAME SELECT * FROM _jz_scores")
    finally:
        con.unregister("_jz_scores")
    return out


def _earlier(con: duckdb.DuckDBPyConnection, as_of: dt.date, version: str | None) -> pd.DataFrame:
    """The scores of the latest other night the same model scored, by household and inputs (none: no rows)."""
    return con.execute(
        f"""SELECT household_id, inputs_hash, {", ".join(CARRIED)} FROM monitoring.household_scores
            WHERE model_version = $version AND inputs_hash IS NOT NULL AND as_of_date = (
                SELECT max(as_of_date) FROM monitoring.household_scores
                WHERE model_version = $version AND inputs_hash IS NOT NULL AND as_of_date <> $as_of)""",
        {"version": version, "as_of": as_of},
    ).df()
