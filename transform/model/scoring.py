"""Tonight's scores: every roster household's probability of needing assistance within six
months (monitoring.household_scores), with the facts that raised it most, in Chinese, and
the proxy-means estimate of its income (shown as an estimate, never used by R01/R02).

A score is a function of the model and of the household's row of core.household_features alone.
Each score keeps a hash of that row (inputs_hash: every column but as_of_date, hashed in DuckDB); a
household whose hash is the one it had on the latest other night scored by the same model gets
that night's score, factors and estimate again, copied in the warehouse. Only the others are read
into pandas, estimated, predicted and explained: on most nights, a small share of the county."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from models.risk import SCORING_THREADS, TrainedModel, factor_sentences
from transform.model.frames import model_frame
from transform.model.visit_order import visit_order_sql
from transform.sql import hashed_rows
from warehouse.resource import transaction

FEATURES = "core.household_features"
CARRIED = ["risk_score", "top_factors", "estimated_income_per_capita"]
TONIGHT, KEPT, FRESH, PREDICTED = "_jz_scores_tonight", "_jz_scores_kept", "_jz_scores_fresh", "_jz_scores_predicted"


def score_households(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, version: str, model: TrainedModel, carry_over: bool = True
) -> pd.DataFrame:
    """Score every household of core.household_features; ``carry_over=False`` predicts every one again.
    Returns the night's household_id and risk_score, and whether it was predicted tonight (``predicted``)."""
    # the row as it stands, whatever the night: a superset of what the model and the estimate read
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TONIGHT} AS {hashed_rows(FEATURES, ['household_id'], 'inputs_hash')}")
    # the scores carried: the households whose row hashes as on the latest other night the same model scored
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {KEPT} AS
            SELECT household_id, inputs_hash, {", ".join(CARRIED)}
            FROM {TONIGHT} JOIN monitoring.household_scores s USING (household_id, inputs_hash)
            WHERE s.model_version = $version AND s.as_of_date = $earlier""",
        {"version": version, "earlier": _earlier_night(con, as_of, version) if carry_over else None},
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {FRESH} AS
            SELECT * FROM {FEATURES} ANTI JOIN {KEPT} USING (household_id)"""
    )
    features = model_frame(con, FRESH, order_by="household_id")
    predicted = pd.DataFrame({"household_id": features["household_id"]}).assign(
        risk_score=np.nan, top_factors=None, estimated_income_per_capita=np.nan
    )
    if len(features):
        x = model.inputs(features)
        standard = pd.to_numeric(features["dibao_standard"]).to_numpy(dtype=float)
        scores = model.predict(x, SCORING_THREADS)
        # the proxy-means estimate, as the model saw it (per-capita income over the standard, times the standard)
        ratio = x["est_income_to_standard"] if "est_income_to_standard" in x else pd.Series(np.nan, x.index)
        predicted["risk_score"] = scores
        predicted["top_factors"] = [factor_sentences(f) or None for f in model.explain(x, scores=scores)]
        predicted["estimated_income_per_capita"] = np.round(ratio.to_numpy(dtype=float) * standard, -1)
    con.register(PREDICTED, predicted)
    try:
        with transaction(con):  # the night's scores replaced whole, or left as they were
            con.execute("DELETE FROM monitoring.household_scores WHERE as_of_date = ?", [as_of])
            # each household carried or predicted tonight, never both (FRESH)
            # with each township's visit order, which depends on all its households' scores (visit_order.py)
            night = f"""(SELECT $as_of AS as_of_date, $version AS model_version, u.*, f.township_code, f.head_sex
                         FROM (FROM {KEPT}
                               UNION ALL BY NAME
                               SELECT p.household_id, t.inputs_hash, p.risk_score, p.top_factors::VARCHAR AS top_factors,
                                      p.estimated_income_per_capita
                               FROM {PREDICTED} p JOIN {TONIGHT} t USING (household_id)) u
                         JOIN {FEATURES} f USING (household_id))"""
            ordered = visit_order_sql(night, "as_of_date", "township_code", "risk_score", "household_id")
            con.execute(
                f"""INSERT INTO monitoring.household_scores BY NAME
                    SELECT * EXCLUDE (township_code, head_sex) FROM ({ordered}) ORDER BY household_id""",
                {"version": version, "as_of": as_of},
            )
        return con.execute(
            f"""SELECT s.household_id, s.risk_score, p.household_id IS NOT NULL AS predicted
                FROM monitoring.household_scores s LEFT JOIN {PREDICTED} p USING (household_id)
                WHERE s.as_of_date = ? ORDER BY s.household_id""",
            [as_of],
        ).df()
    finally:
        con.unregister(PREDICTED)
        for temp in (TONIGHT, KEPT, FRESH):
            con.execute(f"DROP TABLE IF EXISTS {temp}")


def _earlier_night(con: duckdb.DuckDBPyConnection, as_of: dt.date, version: str) -> dt.date | None:
    """The latest other night the same model scored (None: none)."""
    return con.execute(
        """SELECT max(as_of_date) FROM monitoring.household_scores
           WHERE model_version = ? AND inputs_hash IS NOT NULL AND as_of_date <> ?""",
        [version, as_of],
    ).fetchall()[0][0]
