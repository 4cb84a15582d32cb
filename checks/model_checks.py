"""Check of the model layer: the model in use is at least as good as the transparent baseline."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from pathlib import Path

import dagster as dg

from assets.common import NightSettings, Warehouse, night_of
from assets.model import risk_model
from warehouse import risk_store


@dg.asset_check(
    asset=risk_model,
    name="model_in_use_beats_the_baseline",
    blocking=True,
    description="启用的模型在检验月份上不差于透明基线（逻辑回归）；新模型只有优于当前模型才会启用。阻断：否则不打分、不产生 M01。"
    " The model in use is at least as good as the logistic baseline on the held-out months.",
)
def model_in_use_beats_the_baseline(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse, night: NightSettings
) -> dg.AssetCheckResult:
    current = risk_store.current(Path(warehouse.home), night_of(context, night))
    if current is None:
        return dg.AssetCheckResult(passed=True, metadata={"note": "no model yet: nothing is scored, M01 is silent"})
    version, _, card = current
    mine = card["metrics"][card["kind"]].get("roc_auc") or 0.0
    baseline = card["metrics"].get("logistic_regression", {}).get("roc_auc") or 0.0
    return dg.AssetCheckResult(
        passed=mine >= baseline,
        metadata={"version": version, "held_out_roc_auc": mine, "baseline_roc_auc": baseline},
    )
