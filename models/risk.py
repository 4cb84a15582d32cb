"""The risk model (M01): the probability that a household needs assistance within six
months, from its features on a date. No I/O here: frames in, model and scores out.

Two candidates, trained on earlier months and judged on later ones: a transparent
regularised logistic regression and a gradient-boosted tree model, each calibrated on the
last training month (Platt scaling, see train). The better one on the held-out months is kept. Explanations are local
occlusion: how much the probability falls when one fact is set to what is typical
(its training median), reported for the three facts that raise it most.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from models.income import ProxyMeans, fit_proxy_means

# The model's native code runs on the threads it is given: OpenMP worker threads spin while they
# wait, and beside DuckDB (or another job) on two cores that turned seconds into minutes.
single_threaded = threadpool_limits  # used as: with single_threaded(1): ...
# Nightly scoring has the machine to itself (the warehouse connection waits, runs are queued one
# at a time), so the predictions of every household and of its explanations use every core.
SCORING_THREADS = os.cpu_count() or 1
# Training has the machine too. Gradient boosting splits its parallel work by feature (each feature's
# histogram summed by one thread, in row order), so it fits the same trees on any number of threads
# (the county default's model on one and on two predicted identically). The logistic regression
# trains on one: BLAS sums in an order that depends on its threads.
TRAINING_THREADS = SCORING_THREADS

# The facts the model may use, with the sentence an official can check.
FEATURES: dict[str, str] = {
    "members": "家庭人口 {v:.0f} 人",
    "children": "未成年人 {v:.0f} 人",
    "elderly": "60岁以上老人 {v:.0f} 人",
    "working_age": "劳动年龄成员 {v:.0f} 人",
    "able_to_work": "有劳动能力的劳动年龄成员 {v:.0f} 人",
    "severe_disability": "一级/二级残疾成员 {v:.0f} 人",
    "disabled": "残疾成员 {v:.0f} 人",
    "in_school": "在校学生 {v:.0f} 人",
    "income_to_standard": "核对人均收入为低保标准的 {v:.2f} 倍",
    "est_income_to_standard": "估算人均收入约为低保标准的 {v:.2f} 倍（估算，未经核对）",
    "wage_base_monthly": "申报的职工养老缴费基数合计每月 {v:,.0f} 元",
    "able_without_contributions": "有劳动能力但无职工社保缴费、未登记失业的成员 {v:.0f} 人",
    "has_verification": "近12个月有家庭经济状况核对",
    "on_dibao_edge": "低保边缘成员 {v:.0f} 人",
    "oop_3m": "近3个月医疗自付 {v:,.0f} 元",
    "oop_12m": "近12个月医疗自付 {v:,.0f} 元",
    "oop_rising": "近3个月医疗自付比前3个月增加 {v:,.0f} 元",
    "inpatient_12m": "近12个月住院 {v:.0f} 次",
    "serious_illness_24m": "近24个月大病成员 {v:.0f} 人",
    "chronic_conditions": "慢性病、罕见病登记 {v:.0f} 项",
    "deaths_90d": "近90天有成员死亡",
    "contributors_6m": "近6个月有社保缴费的成员 {v:.0f} 人",
    "no_contributions_6m": "近6个月无社保缴费记录",
    "contributions_stopped": "近3个月停止缴纳社保的成员 {v:.0f} 人",
    "contribution_arrears": "最近一个月未见职工养老缴费（此前在缴）的成员 {v:.0f} 人",
    "outpatient_rising": "近2个月门诊次数比此前同期多 {v:.0f} 次",
    "able_unemployed": "失业登记的劳动力 {v:.0f} 人",
    "hard_to_employ": "就业困难人员 {v:.0f} 人",
    "pension_monthly": "养老金每月 {v:,.0f} 元",
    "unemployment_benefit_monthly": "失业保险金每月 {v:,.0f} 元",
    "petitions_90d": "近90天信访 {v:.0f} 件",
    "rural": "农村户口",
}

# Directions an official would insist on: more income never raises the risk, a new illness or
# higher medical costs never lower it. The gradient-boosted model is held to them.
MONOTONE = {
    "income_to_standard": -1,
    "est_income_to_standard": -1,
    "wage_base_monthly": -1,
    "contributors_6m": -1,
    "oop_3m": 1,
    "oop_12m": 1,
    "oop_rising": 1,
    "serious_illness_24m": 1,
    "contributions_stopped": 1,
    "contribution_arrears": 1,
    "outpatient_rising": 1,
    "deaths_90d": 1,
}


def feature_frame(features: pd.DataFrame, income: ProxyMeans | None = None) -> pd.DataFrame:
    """The model's inputs from core.household_features rows (missing verified income stays missing;
    the proxy-means estimate stands in for everyone, verified or not)."""
    f = features
    x = pd.DataFrame(index=f.index)
    for name in FEATURES:
        if name in f.columns:
            x[name] = pd.to_numeric(f[name], errors="coerce").astype(float)
    x["has_verification"] = f["verification_date"].notna().astype(float)
    x["income_to_standard"] = pd.to_numeric(f["income_to_standard"], errors="coerce").astype(float)
    x["oop_rising"] = (pd.to_numeric(f["oop_3m"]) - pd.to_numeric(f["oop_prev_3m"])).astype(float).clip(lower=0)
    x["no_contributions_6m"] = (pd.to_numeric(f["contributors_6m"]) == 0).astype(float)
    x["rural"] = (f["residence_type"] == "农村").astype(float)
    standard = pd.to_numeric(f["dibao_standard"], errors="coerce").astype(float)
    x["est_income_to_standard"] = (income.estimate(f) / standard.to_numpy()) if income is not None else np.nan
    return x[list(FEATURES)].fillna(
        {c: 0.0 for c in FEATURES if c not in ("income_to_standard", "est_income_to_standard")}
    )


@dataclass
class TrainedModel:
    kind: str
    model: Any  # the calibrated candidate train() kept: predict_proba (Calibrated; a CalibratedClassifierCV before)
    medians: dict[str, float]
    metrics: dict[str, dict]
    train_dates: list[str]
    test_dates: list[str]
    income: ProxyMeans | None = None
    base_rate: float = 0.0  # share of positive training rows: the score of a typical household
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    holdout: pd.DataFrame | None = None  # held-out rows with their scores, for the model card (not saved)

    def inputs(self, features: pd.DataFrame) -> pd.DataFrame:
        """core.household_features rows as this model's inputs."""
        return feature_frame(features, self.income)

    def predict(self, x: pd.DataFrame, threads: int = 1) -> np.ndarray:
        """Probabilities; ``threads`` > 1 only where nothing else runs beside it (nightly scoring)."""
        with single_threaded(threads):
            return self.model.predict_proba(_impute(x[self.features], self.medians))[:, 1]

    def explain(self, x: pd.DataFrame, top: int = 3, scores: np.ndarray | None = None) -> list[list[tuple[str, float]]]:
        """Per row, the facts whose typical value would lower the probability most.

        Only rows scored above the county's base rate are explained (below it nothing raised
        the score above typical), and a fact is only tried where it differs from the typical
        value (elsewhere setting it to typical changes nothing): one batched prediction.
        """
        base = self.predict(x, SCORING_THREADS) if scores is None else np.asarray(scores)
        filled = _impute(x[self.features], self.medians)
        explain = np.flatnonzero(base > self.base_rate)
        rows, cols, frames = [], [], []
        for j, name in enumerate(self.features):
            value, typical_value = filled[name].to_numpy()[explain], self.medians[name]
            # a monotone fact can only have raised the score from the side of the typical value it rises towards
            direction = MONOTONE.get(name, 0) if self.kind == "gradient_boosting" else 0
            raised = (
                value > typical_value
                if direction > 0
                else value < typical_value
                if direction < 0
                else value != typical_value
            )
            sel = explain[raised]
            if len(sel):
                typical = filled.iloc[sel].copy()
                typical[name] = self.medians[name]
                rows.append(sel)
                cols.append(np.full(len(sel), j))
                frames.append(typical)
        drops = np.zeros((len(x), len(self.features)))
        if frames:
            r, c = np.concatenate(rows), np.concatenate(cols)
            drops[r, c] = base[r] - self.predict(pd.concat(frames, ignore_index=True), SCORING_THREADS)
        values = x[self.features].to_numpy(dtype=float)
        # stable: equal drops (isotonic steps) go to the earlier feature, not to how the sort fell on this machine
        order = np.argsort(-drops, axis=1, kind="stable")[:, :top]
        out: list[list[tuple[str, float]]] = [[] for _ in range(len(x))]
        for i in explain:  # only the explained rows: a small share of the county
            out[i] = [(self.features[j], float(values[i, j])) for j in order[i] if drops[i, j] > 1e-4]
        return out


def _impute(x: pd.DataFrame, medians: dict[str, float]) -> pd.DataFrame:
    return x.fillna(medians)


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    if len(np.unique(y)) < 2:
        return {"rows": int(len(y)), "positives": int(y.sum())}
    return {
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 5),
    }


# With a county's worth of training rows, larger trees pay off: at the county default they scored
# 0.870 against 0.855 on the last training month (chosen there, before the held-out months were
# looked at), and every leaf still holds hundreds of households. 300 trees at a rate of 0.05 scored
# as 500 at 0.03 there (0.8674 against 0.8668; 200 at 0.075: 0.8665, 150 at 0.1: 0.8659; county
# default, 2026-11-30) in 60 % of the time. A small county keeps the smaller trees: with a few
# hundred positives, leaves of 400 rows would be coarse (not measured further).
LARGE_TRAINING_ROWS = 1_000_000
SMALL_TREES = {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15}
LARGE_TREES = {"max_iter": 300, "learning_rate": 0.05, "max_leaf_nodes": 63, "min_samples_leaf": 400}


def trees_for(training_rows: int) -> dict:
    return LARGE_TREES if training_rows >= LARGE_TRAINING_ROWS else SMALL_TREES


# Training at county scale (millions of household-months) in minutes and a few GiB:
# - every positive is kept, and negatives beyond MAX_FIT_ROWS are sampled (seeded, in the warehouse:
#   transform/model/training.py), each kept one weighted by the inverse of the share kept (the frame's
#   WEIGHT column), so that the fit sees the county's real base rate;
# - each candidate is fitted twice, not four times as cross-validated calibration would: once on the
#   training months before the last, whose scores on the last month (later than anything it saw,
#   as tonight is) teach the calibration, and once on all training months, the model kept.
#   The calibration is Platt's (a logistic curve on the score's logit): it keeps the order of the
#   scores, where isotonic steps on one month's rows would tie households the model tells apart.
# 400,000 rather than 600,000: at the county default the fit took 88.6 s instead of 106.4 s and the
# held-out ROC-AUC was 0.8578 against 0.8560 (a difference within what the sample's seed moves).
MAX_FIT_ROWS = 400_000
EPSILON = 1e-6
# A training row's weight in the fit: 1 / the share of negatives kept, 1 for a positive, 0 for a row
# that is there for another reason (the calibration month's and the held-out months' unsampled rows,
# a verified household for the income estimate). A frame without it: every row weighs one.
WEIGHT = "fit_weight"


def split_dates(dates: list, test_months: int = 3) -> tuple[list, list]:
    """The training dates and the held-out ones: the last ``test_months`` (fewer when the history is
    short: two months at least are kept for training). The last training date calibrates."""
    dates = sorted(dates)
    test_months = max(1, min(test_months, len(dates) - 2))
    return dates[:-test_months], dates[-test_months:]


def negative_rate(positives: int, negatives: int, max_rows: int = MAX_FIT_ROWS) -> float:
    """The share of the training months' negatives the fit samples: about ``max_rows`` rows in all."""
    return min(1.0, max(max_rows - positives, 1) / max(negatives, 1))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of the rows the weights stand for (the two middle values' mean when it falls between
    them, as np.median does with equal weights); 0 when no value is known."""
    known = ~np.isnan(values) & (weights > 0)
    if not known.any():
        return 0.0
    order = np.argsort(values[known], kind="stable")
    v, cum = values[known][order], np.cumsum(weights[known][order])
    half = cum[-1] / 2
    i = int(np.searchsorted(cum, half))
    if np.isclose(cum[i], half) and i + 1 < len(v):
        return float((v[i] + v[i + 1]) / 2)
    return float(v[i])


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p)).reshape(-1, 1)


def _raw(estimator, x: pd.DataFrame) -> np.ndarray:
    """The fitted estimator's probability for each row, the same whatever other rows come with it.

    A household's score is carried to later nights (transform/model/scoring.py) and must equal what
    scoring it among all households gives. The logistic regression's dot product through BLAS is
    summed in an order that depends on the row's place in the batch (the last bit changes), so it is
    summed here row by row (einsum); the trees' predictions are per row already."""
    if isinstance(estimator, Pipeline):
        scaler, linear = estimator[0], estimator[-1]
        scaled = (np.asarray(x, dtype=float) - scaler.mean_) / scaler.scale_
        return 1 / (1 + np.exp(-(np.einsum("ij,j->i", scaled, linear.coef_[0]) + linear.intercept_[0])))
    return estimator.predict_proba(x)[:, 1]


@dataclass
class Calibrated:
    """A fitted classifier whose scores pass through Platt scaling learned on later, unseen rows."""

    estimator: Any
    platt: LogisticRegression

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return self.platt.predict_proba(_logit(_raw(self.estimator, x)))


def _fit(estimator, x: pd.DataFrame, y: np.ndarray, weights: np.ndarray):
    rows = weights > 0
    name = "logisticregression__sample_weight" if hasattr(estimator, "steps") else "sample_weight"
    return clone(estimator).fit(x[rows], y[rows], **{name: weights[rows]})


def train(rows: pd.DataFrame, test_months: int = 3, seed: int = 7, trees: dict | None = None) -> TrainedModel:
    """Train on the earlier months, judge on the last ``test_months`` (split_dates); keep the better
    candidate. Each training row weighs its WEIGHT (all one without the column).
    ``trees``: the gradient-boosting size (default: by the number of training rows stood for)."""
    # the same rows in any order give the same model (a copy only when they come in another order: at
    # county scale the frame is gigabytes)
    d, h = rows["as_of_date"].to_numpy(), rows["household_id"].to_numpy()
    if not ((d[1:] > d[:-1]) | ((d[1:] == d[:-1]) & (h[1:] > h[:-1]))).all():
        rows = rows.sort_values(["as_of_date", "household_id"], kind="stable", ignore_index=True)
    train_dates, test_dates = split_dates(list(rows["as_of_date"].unique()), test_months)
    tr, te = rows[rows["as_of_date"].isin(train_dates)], rows[rows["as_of_date"].isin(test_dates)]
    income = fit_proxy_means(tr, te, seed)
    x_tr, x_te = feature_frame(tr, income), feature_frame(te, income)
    y_tr, y_te = tr["label"].astype(int).to_numpy(), te["label"].astype(int).to_numpy()
    weights = tr[WEIGHT].to_numpy(dtype=float) if WEIGHT in tr.columns else np.ones(len(tr))
    trees = trees or trees_for(round(weights.sum()))
    # what is typical of the training rows stood for (the sampled negatives weigh what they stand for)
    medians = {c: _weighted_median(x_tr[c].to_numpy(dtype=float), weights) for c in x_tr.columns}
    x_fit = _impute(x_tr, medians).astype(np.float32)
    last = (tr["as_of_date"] == train_dates[-1]).to_numpy()  # the calibration month
    candidates = {
        "logistic_regression": make_pipeline(
            StandardScaler(), LogisticRegression(C=0.5, max_iter=2000, class_weight="balanced")
        ),
        "gradient_boosting": HistGradientBoostingClassifier(
            **trees, l2_regularization=1.0, random_state=seed, monotonic_cst=[MONOTONE.get(c, 0) for c in x_tr.columns]
        ),
    }
    fitted, metrics, held_out = {}, {}, {}
    for kind, estimator in candidates.items():
        with single_threaded(TRAINING_THREADS if kind == "gradient_boosting" else 1):
            earlier = _fit(estimator, x_fit, y_tr, np.where(last, 0.0, weights))
            platt = LogisticRegression().fit(_logit(_raw(earlier, x_fit[last])), y_tr[last])
            calibrated = Calibrated(_fit(estimator, x_fit, y_tr, weights), platt)
            held_out[kind] = calibrated.predict_proba(_impute(x_te, medians))[:, 1]
            metrics[kind] = _metrics(y_te, held_out[kind])
        fitted[kind] = calibrated
    metrics["gradient_boosting"]["trees"] = "large" if trees == LARGE_TREES else "small"
    best = max(fitted, key=lambda k: metrics[k].get("roc_auc", 0.0))
    day = lambda d: pd.Timestamp(d).date().isoformat()  # noqa: E731
    model = TrainedModel(
        best,
        fitted[best],
        medians,
        metrics,
        [day(d) for d in train_dates],
        [day(d) for d in test_dates],
        income,
        float(np.average(y_tr, weights=weights)) if weights.sum() else 0.0,
    )
    keep = [
        c
        for c in (
            "as_of_date",
            "household_id",
            "township_name",
            "residence_type",
            "head_sex",
            "head_age",
            "severe_disability",
            "contributors_6m",  # the card's diagnosis: cases without formal employment's signals
            "label",
        )
        if c in te.columns
    ]
    # the scores the metrics were taken on: what model.predict(x_te) gives (the same columns, imputed alike)
    model.holdout = te[keep].assign(score=held_out[best]).reset_index(drop=True)
    return model


def held_out_auc(model: TrainedModel, rows: pd.DataFrame) -> float | None:
    """A model's ROC-AUC on labelled training rows (the new model's held-out months): the fair way
    to compare the model in use with a new one is on the same rows."""
    if rows.empty or rows["label"].nunique() < 2:
        return None
    scores = model.predict(model.inputs(rows), SCORING_THREADS)  # the night's: it has the machine
    return round(float(roc_auc_score(rows["label"].astype(int), scores)), 4)


def factor_sentences(factors: list[tuple[str, float]]) -> str:
    return "；".join(FEATURES[name].format(v=value) for name, value in factors)
