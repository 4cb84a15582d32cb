"""The model card says how well the model serves each group, and how sure that is: each group's
ROC-AUC and recall at the townships' capacity with 95 % intervals, and whether the largest gap
stands out from noise (with few positives a gap can be noise)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.model_card import card_figures, card_markdown
from transform.model.visit_order import with_visit_order


def _holdout(n: int, positives_b: int, signal_b: float, seed: int = 5) -> pd.DataFrame:
    """Two head-sex groups: 男 with a clear signal and many positives, 女 with ``positives_b``
    positives and ``signal_b`` of the signal."""
    rng = np.random.default_rng(seed)
    sex = np.array(["男"] * n + ["女"] * n)
    label = np.zeros(2 * n, dtype=int)
    label[rng.choice(n, 300, replace=False)] = 1
    label[n + rng.choice(n, positives_b, replace=False)] = 1
    signal = np.where(sex == "男", 1.0, signal_b)
    score = 1 / (1 + np.exp(-(rng.normal(-4, 1, 2 * n) + 2.5 * signal * label)))
    return pd.DataFrame(
        {
            "as_of_date": "2026-04-30",
            "household_id": [f"h{i:05d}" for i in range(2 * n)],
            "township_name": rng.choice(["宝城街道", "乔官镇", "红河镇"], 2 * n),
            "residence_type": rng.choice(["城镇", "农村"], 2 * n),
            "head_sex": sex,
            "head_age": rng.integers(20, 90, 2 * n),
            "severe_disability": 0,
            "label": label,
            "score": score,
        }
    )


def test_each_group_has_intervals_and_a_real_gap_is_told_from_noise():
    figures = card_figures(_holdout(20_000, 300, signal_b=0.3), k=50)
    sex = figures["slices"]["head_sex"]
    for g in sex["groups"]:
        low, high = g["roc_auc_ci"]
        assert low < g["roc_auc"] < high and high - low < 0.1
        r_low, r_high = g["recall_at_k_ci"]
        assert r_low <= g["recall_at_k"] <= r_high
    assert sex["largest_auc_gap"] > 0.1 and sex["gap_beyond_noise"] is True and sex["auc_gap_ci"][0] > 0
    text = card_markdown("v", "gb", figures, ["2025-06-30"], ["2026-04-30"])
    assert "| 组 | 行数 | 正例 | ROC-AUC | 95% 区间 | recall@K（走访顺序） | 95% 区间 | recall@K（仅按分数） " in text
    assert "户主性别（AUC 最大差距" in text and "超出随机波动" in text


def test_a_gap_from_a_handful_of_positives_is_called_noise():
    # the same weak signal as above, but 6 positives: a gap as large as the card once showed (0.72 against
    # 0.88) that the data cannot tell from chance
    figures = card_figures(_holdout(20_000, 6, signal_b=0.3), k=50)
    sex = figures["slices"]["head_sex"]
    women = next(g for g in sex["groups"] if g["group"] == "女")
    assert women["positives"] == 6 and women["roc_auc_ci"][1] - women["roc_auc_ci"][0] > 0.15
    assert (
        sex["largest_auc_gap"] > 0.1
        and sex["gap_beyond_noise"] is False
        and sex["auc_gap_ci"][0] < 0 < sex["auc_gap_ci"][1]
    )
    assert "在随机波动之内" in card_markdown("v", "gb", figures, ["2025-06-30"], ["2026-04-30"])


def test_the_visit_order_shares_a_townships_places_between_the_heads_sexes():
    # 女-headed cases carry a third of the signal: by score alone their township's first places go to 男
    holdout = with_visit_order(_holdout(20_000, 300, signal_b=0.3))
    figures = card_figures(holdout, k=50)
    sex = figures["slices"]["head_sex"]
    women = next(g for g in sex["groups"] if g["group"] == "女")
    assert women["recall_at_k"] > women["recall_at_k_by_score"]
    assert sex["recall_at_k_largest_deviation"] < sex["recall_at_k_by_score_largest_deviation"]
    assert women["first_places_share"] < women["cases_share"]  # the diagnosis says why
    # each township's households in one order, 1..n, and within a group still by score
    for _, town in holdout.groupby(["as_of_date", "township_name"]):
        assert sorted(town["visit_order"]) == list(range(1, len(town) + 1))
        for _, group in town.groupby("head_sex"):
            by_order = group.sort_values("visit_order")["score"].to_numpy()
            assert (np.diff(by_order) <= 0).all()
    text = card_markdown("v", "gb", figures, ["2025-06-30"], ["2026-04-30"])
    assert "## 公平性：诊断与措施" in text and "| 总体 recall@K |" in text


def test_a_household_without_a_known_head_keeps_the_townships_pace():
    # alone in a group of its own it would take its township's first place; at the township's pace it
    # comes after every household whose score is higher in both groups
    rows = pd.DataFrame(
        {
            "as_of_date": "2026-04-30",
            "township_name": "乔官镇",
            "head_sex": ["男", "男", "女", "女", None],
            "household_id": ["a", "b", "c", "d", "e"],
            "score": [0.5, 0.3, 0.4, 0.2, 0.01],
        }
    )
    order = with_visit_order(rows).set_index("household_id")["visit_order"]
    assert order["e"] == 5
    assert order["a"] == 1 or order["c"] == 1
