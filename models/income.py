"""Proxy-means income estimate: what a household's per-capita monthly income probably is,
for households without a recent 家庭经济状况核对.

Learned from the households that were verified (their verified income against what the
departments can see: declared wages, pensions, benefits, the 居民养老 tier chosen, who
lives in the household), then applied to everyone. It is a model feature and is shown
to the township as an estimate. It is never the basis of R01/R02, which need verified
income (RULES.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error

# What the departments can see of a household's means. Nothing from the verification itself.
PROXIES = [
    "members",
    "children",
    "elderly",
    "working_age",
    "able_to_work",
    "severe_disability",
    "disabled",
    "in_school",
    "rural",
    "wage_base_monthly",
    "pension_monthly",
    "unemployment_benefit_monthly",
    "contributors_6m",
    "resident_contributors_12m",
    "resident_tier_max",
    "able_without_contributions",
    "able_unemployed",
    "dibao_amount",
]

# A verification at most this old describes the household as its features do (the state may change).
FRESH_DAYS = 120


def proxy_frame(features: pd.DataFrame) -> pd.DataFrame:
    x = pd.DataFrame(index=features.index)
    for name in PROXIES:
        if name == "rural":
            x[name] = (features["residence_type"] == "农村").astype(float)
        else:
            x[name] = pd.to_numeric(features[name], errors="coerce").astype(float).fillna(0.0)
    return x


def verified_per_capita(features: pd.DataFrame) -> pd.Series:
    """The verified per-capita monthly income, where the verification is recent enough to learn from."""
    age = (pd.to_datetime(features["as_of_date"]) - pd.to_datetime(features["verification_date"])).dt.days
    income = pd.to_numeric(features["per_capita_monthly_income"], errors="coerce").astype(float)
    return income.where(age.le(FRESH_DAYS) & income.ge(0))


@dataclass
class ProxyMeans:
    model: HistGradientBoostingRegressor
    metrics: dict

    def estimate(self, features: pd.DataFrame) -> np.ndarray:
        """Per-capita monthly income (元), estimated from the proxies."""
        if len(features) == 0:
            return np.zeros(0)
        return np.maximum(np.expm1(self.model.predict(proxy_frame(features))), 0.0)


def fit_proxy_means(train: pd.DataFrame, test: pd.DataFrame, seed: int = 7) -> ProxyMeans:
    """Fit on verified households of the training months; judge on those of the held-out months."""
    y_tr = verified_per_capita(train)
    keep = y_tr.notna()
    model = HistGradientBoostingRegressor(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        l2_regularization=1.0,
        loss="absolute_error",
        random_state=seed,
    )
    model.fit(proxy_frame(train[keep]), np.log1p(y_tr[keep]))
    pm = ProxyMeans(model, {"training_households": int(keep.sum())})
    y_te = verified_per_capita(test)
    sel = y_te.notna()
    if sel.sum() >= 10:
        est = pm.estimate(test[sel])
        truth = y_te[sel].to_numpy()
        pm.metrics.update(
            {
                "test_households": int(sel.sum()),
                "mae_yuan": round(float(mean_absolute_error(truth, est)), 1),
                "median_abs_error_yuan": round(float(np.median(np.abs(truth - est))), 1),
                "spearman": round(float(pd.Series(est).corr(pd.Series(truth), method="spearman")), 3),
            }
        )
    return pm
