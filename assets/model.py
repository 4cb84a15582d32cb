"""The risk model: retrained about monthly from point-in-time training rows, promoted only
when it does better on held-out months; and tonight's score for every roster household."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

import datetime as dt
from functools import partial
from pathlib import Path

import dagster as dg

from assets.common import NIGHTS, WAREHOUSE_POOL, NightSettings, Warehouse, night_of
from assets.core import CORE_TABLES
from exports.charts import calibration_chart_markdown
from exports.model_card import card_text, write_model_card
from exports.ui_metadata import score_histogram
from transform.model.retrain import (
    MIN_MONTHS,
    MIN_POSITIVES,
    keep_heldout_scores,
    promotion,
    train_candidate,
    training_frame,
)
from transform.model.scoring import score_households
from warehouse import risk_store


@dg.asset(
    key=["model", "risk_model"],
    partitions_def=NIGHTS,
    group_name="model",
    pool=WAREHOUSE_POOL,
    kinds={"sklearn"},
    owners=["team:civil_affairs"],
    tags={"layer": "model"},
    deps=[["core", t] for t in CORE_TABLES],
    description="风险模型（约每月重新训练）：各月末当晚的家庭特征（model.feature_history，每个月末只计算一次）与其后6个月"
    "是否纳入救助，逻辑回归与梯度提升两个候选，校准后在后几个月上比较；只有优于当前模型时才启用。\n\n"
    "Risk model, retrained monthly from each month end's features as they stood that night (kept once, never "
    "rebuilt), promoted only when better.",
)
def risk_model(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
    as_of, home = night_of(context, night), Path(warehouse.home)
    every = night.policy_in_force(as_of).risk_model.retrain_every_days
    existing = risk_store.current(home)
    if existing and dt.date.fromisoformat(existing[2]["trained_on"]) > as_of:
        # a past night (a backfill): it is scored by the model that was in force then, never retrained
        return dg.MaterializeResult(
            metadata={
                "trained": False,
                **_in_force(home, as_of),
                "note": "a past night: the model in force then is used",
            }
        )
    if existing and dt.date.fromisoformat(existing[2]["trained_on"]) > as_of - dt.timedelta(days=every):
        return dg.MaterializeResult(
            metadata={"trained": False, **_in_force(home, as_of), "note": f"not due: retrained every {every} days"}
        )
    # training holds gigabytes in Python: DuckDB lets go of what it cached first
    training = training_frame(partial(warehouse.connect, alone=True), home, as_of)
    frame, dates = training.frame, training.dates
    history = {
        "history_months_built": len(training.built),
        "history_months_kept": len(dates) - len(training.built),
        # before the first roster: rebuilt from a bulk delivery's records by their own dates
        "history_months_reconstructed": len(training.reconstructed),
    }
    positives = int(frame["label"].sum()) if frame is not None else 0
    if frame is None or positives < MIN_POSITIVES or len(dates) < MIN_MONTHS:
        context.log.warning(f"risk model not trained: {positives} labelled entries over {len(dates)} months of history")
        return dg.MaterializeResult(
            metadata={"trained": False, "positives": positives, "months": len(dates), **history}
        )
    k = night.policy_in_force(as_of).risk_model.visit_capacity_per_township
    model, card, held_out = train_candidate(frame, as_of, positives, k, training.rows, training.history)
    version = risk_store.save(home, model, as_of, card)
    with warehouse.connect() as con:  # M01's record reads them (monitoring/rule_backtest)
        keep_heldout_scores(con, version, held_out)
    markdown = card_text(version, model, card)
    chart = calibration_chart_markdown(card["card"]["calibration"], f"校准：预测概率与实际比例（模型 {version}）")
    promoted, why = promotion(model, frame, existing)
    if promoted:
        risk_store.promote(home, version, as_of)
    return dg.MaterializeResult(
        metadata={
            "trained": True,
            "version": version,
            "promoted": promoted,
            "decision": why,
            "kind": model.kind,
            "metrics": dg.MetadataValue.json(model.metrics),
            "training_rows": training.rows,
            "training_rows_read": len(frame),
            "positives": positives,
            **history,
            "candidate_card": dg.MetadataValue.md(markdown),
            "calibration": dg.MetadataValue.md(chart),
            **_in_force(home, as_of),
        }
    )


def _in_force(home: Path, as_of: dt.date) -> dict:
    """The model in force on the night and its card, shown every night (trained or not)."""
    current = risk_store.current(home, as_of)
    if current is None:
        return {
            "model_in_force": "none",
            "model_card": dg.MetadataValue.md("尚无启用的模型：M01 不产生预警。No model in force yet: M01 is silent."),
        }
    version, model, stored = current
    return {"model_in_force": version, "model_card": dg.MetadataValue.md(card_text(version, model, stored))}


@dg.asset(
    key=["monitoring", "household_scores"],
    partitions_def=NIGHTS,
    group_name="monitoring",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    owners=["team:civil_affairs"],
    tags={"layer": "monitoring", "contract": "OUTPUTS.md"},
    deps=[risk_model.key],
    description="每户的风险分（6个月内需要救助的校准概率）、模型版本和主要因素（中文），预警与否都写入，便于事后审计；"
    "界面中显示分数分布和 M01 阈值。\n\nEvery roster household's score (OUTPUTS.md), model version and top factors, "
    "warned or not; the UI shows the score distribution against the M01 threshold and high band of the policy.",
)
def household_scores(
    context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings
) -> dg.MaterializeResult:
    as_of, home = night_of(context, night), Path(warehouse.home)
    current = risk_store.current(home, as_of)  # a backfilled night is scored by the model in force then
    if current is None:
        return dg.MaterializeResult(metadata={"scored": 0, "note": "no model in force on this night: M01 is silent"})
    version, model, card = current
    with warehouse.connect() as con:
        scores = score_households(con, as_of, version, model, carry_over=not night.rebuild)
        # the card of the model that scored the night goes out with the night's exports, every night
        card_file = write_model_card(
            con, home / "exports" / as_of.isoformat(), as_of, card_text(version, model, card), context.run.run_id
        )
    m01 = night.policy_in_force(as_of).model
    threshold, high = float(m01.m01_threshold), float(m01.m01_high_band)
    values = scores["risk_score"].to_numpy(dtype=float)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(scores)),
            "model_version": version,
            # the others' inputs are those of the latest night the same model scored: their scores are carried
            "predicted_tonight": int(scores["predicted"].sum()),
            "mean_score": float(scores["risk_score"].mean()) if len(scores) else 0.0,
            "m01_threshold": threshold,
            "m01_high_band": high,
            "at_or_above_threshold": int((values >= threshold).sum()),
            "at_or_above_high_band": int((values >= high).sum()),
            "score_distribution": dg.MetadataValue.md(score_histogram(values, threshold, high, as_of, version)),
            "held_out": dg.MetadataValue.json(card["metrics"]),
            "model_card_file": dg.MetadataValue.path(str(card_file)),
        }
    )
