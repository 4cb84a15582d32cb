"""The model card's figures, from the held-out months: how well the model separates, how
well-calibrated it is, how many true cases a township finds in its top K, and whether it
serves every group alike. Pure computation: a frame in, a dict out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

SLICES = {
    "township_name": "镇街",
    "residence_type": "城镇/农村",
    "head_sex": "户主性别",
    "head_age_group": "户主年龄",
    "disability": "重度残疾",
}


def _auc(y, p):
    return round(float(roc_auc_score(y, p)), 4) if len(np.unique(y)) == 2 else None


def _auc_se(auc: float, positives: int, negatives: int) -> float:
    """The standard error of a ROC-AUC (Hanley & McNeil, 1982): with few positives a group's AUC, and a
    gap between two groups, can be noise; the card says how wide."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return float(np.sqrt(max(var, 0.0)))


def _interval(centre: float, se: float, low: float = 0.0, high: float = 1.0) -> list[float]:
    """A 95 % interval, within [low, high]."""
    return [round(max(low, centre - 1.96 * se), 4), round(min(high, centre + 1.96 * se), 4)]


def _wilson(hits: int, n: int) -> list[float] | None:
    """The 95 % Wilson interval of a share ``hits`` / ``n`` (None: no cases)."""
    if n == 0:
        return None
    z, share = 1.96, hits / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(float(centre - half), 4), round(float(centre + half), 4)]


def card_figures(holdout: pd.DataFrame, k: int) -> dict:
    """``holdout``: as_of_date, township_name, residence_type, head_sex, head_age, severe_disability, label, score."""
    h = holdout.copy()
    h["head_age_group"] = pd.cut(h["head_age"].astype(float), [-1, 39, 59, 200], labels=["<40", "40-59", "60+"]).astype(
        str
    )
    h["disability"] = np.where(h["severe_disability"] > 0, "有", "无")
    y, p = h["label"].astype(int).to_numpy(), h["score"].to_numpy()
    overall = {
        "rows": len(h),
        "positives": int(y.sum()),
        "roc_auc": _auc(y, p),
        "pr_auc": round(float(average_precision_score(y, p)), 4) if y.sum() else None,
        "brier": round(float(brier_score_loss(y, p)), 5),
    }
    # calibration: predicted vs observed in bins of the score
    bins = pd.qcut(h["score"].rank(method="first"), q=min(10, max(2, len(h) // 50)), labels=False)
    calibration = h.groupby(bins).agg(predicted=("score", "mean"), observed=("label", "mean"), rows=("label", "size"))
    # recall at each township's visit capacity: positives among the first K a township visits each night,
    # in the order it follows (``visit_order``: transform/model/visit_order.py) and by the score alone
    by_score = h.groupby(["as_of_date", "township_name"])["score"].rank(ascending=False, method="first")
    h["in_top_k"] = (h["visit_order"] if "visit_order" in h else by_score) <= k
    h["in_top_k_by_score"] = by_score <= k
    top = h[h["in_top_k"]]
    recall_by_town = (top.groupby("township_name")["label"].sum() / h.groupby("township_name")["label"].sum()).fillna(0)
    overall["recall_at_k"] = round(float(top["label"].sum() / max(1, y.sum())), 4)
    overall["recall_at_k_by_score"] = round(float(h.loc[h["in_top_k_by_score"], "label"].sum() / max(1, y.sum())), 4)
    slices: dict[str, dict[str, Any]] = {}
    for column, title in SLICES.items():
        rows = []
        for value, g in h.groupby(column):
            positives, auc = int(g["label"].sum()), _auc(g["label"].astype(int), g["score"])
            is_case = g["label"].astype(bool)
            found, found_by_score = int((is_case & g["in_top_k"]).sum()), int((is_case & g["in_top_k_by_score"]).sum())
            se = _auc_se(auc, positives, len(g) - positives) if auc is not None else None
            cases, first = g[is_case], g[g["in_top_k_by_score"]]
            rows.append(
                {
                    "group": str(value),
                    "rows": len(g),
                    "positives": positives,
                    "roc_auc": auc,
                    "roc_auc_se": round(se, 4) if se is not None else None,
                    "roc_auc_ci": _interval(auc, se) if auc is not None and se is not None else None,
                    # of the group's positives, those among their township's first K that night
                    "recall_at_k": round(found / positives, 4) if positives else None,
                    "recall_at_k_ci": _wilson(found, positives),
                    "recall_at_k_by_score": round(found_by_score / positives, 4) if positives else None,
                    "recall_at_k_by_score_ci": _wilson(found_by_score, positives),
                    "mean_score": round(float(g["score"].mean()), 5),
                    "observed_rate": round(float(g["label"].mean()), 5),
                    # why a group may be found less: its share of the cases against its share of the first
                    # K places by score, how many of its cases had no formal employment's signals, and what
                    # its first places were worth against what their scores promised
                    "cases_share": round(positives / max(1, int(y.sum())), 4),
                    "first_places_share": round(len(first) / max(1, int(h["in_top_k_by_score"].sum())), 4),
                    "cases_without_contributions": round(float((cases["contributors_6m"] == 0).mean()), 4)
                    if positives and "contributors_6m" in g
                    else None,
                    "first_places_observed_to_predicted": round(float(first["label"].sum() / first["score"].sum()), 3)
                    if len(first) and first["score"].sum() > 0
                    else None,
                }
            )
        slices[column] = {
            "title": title,
            "groups": rows,
            **_auc_gap(rows),
            "recall_at_k_largest_deviation": _deviation([r["recall_at_k"] for r in rows], overall["recall_at_k"]),
            "recall_at_k_by_score_largest_deviation": _deviation(
                [r["recall_at_k_by_score"] for r in rows], overall["recall_at_k_by_score"]
            ),
        }
    worst = max(
        (v for v in slices.values() if v["largest_auc_gap"] is not None),
        key=lambda v: v["largest_auc_gap"],
        default=None,
    )
    return {
        "overall": overall,
        "k": k,
        "calibration": calibration.reset_index(drop=True).to_dict("records"),
        "recall_at_k_by_township": {t: round(float(r), 4) for t, r in recall_by_town.items()},
        "slices": slices,
        "largest_gap": {
            "dimension": worst["title"],
            "auc_gap": worst["largest_auc_gap"],
            "auc_gap_ci": worst["auc_gap_ci"],
            "beyond_noise": worst["gap_beyond_noise"],
        }
        if worst
        else None,
    }


def _auc_gap(rows: list[dict]) -> dict:
    """The largest ROC-AUC gap between two groups of a slice with its 95 % interval (whether it is told
    apart from noise)."""
    scored = [r for r in rows if r["roc_auc"] is not None and r["roc_auc_se"] is not None]
    if len(scored) < 2:
        return {"largest_auc_gap": None, "auc_gap_ci": None, "gap_beyond_noise": None}
    best, worst = max(scored, key=lambda r: r["roc_auc"]), min(scored, key=lambda r: r["roc_auc"])
    gap = best["roc_auc"] - worst["roc_auc"]
    ci = _interval(gap, float(np.hypot(best["roc_auc_se"], worst["roc_auc_se"])), low=-1.0)
    return {"largest_auc_gap": round(gap, 4), "auc_gap_ci": ci, "gap_beyond_noise": ci[0] > 0}


def _deviation(recalls: list[float | None], overall: float) -> float | None:
    """How far the group whose recall strays most is from the whole's, relative (0.2: ±20 %)."""
    known = [r for r in recalls if r is not None]
    return round(max(abs(r / overall - 1) for r in known), 4) if known and overall else None


def _cell(value: Any) -> str:
    """A figure in a table: a dash where there is none (a group with no positives, or no first places)."""
    return "—" if value is None else str(value)


def _span(ci: list[float] | None) -> str:
    return f"{ci[0]}–{ci[1]}" if ci else "—"


def _gap_text(s: dict) -> str:
    """A slice's gap as the card says it: with its interval and whether it stands out from noise."""
    if s.get("largest_auc_gap") is None:
        return "AUC 差距：组内正例不足，无法比较"
    text = f"AUC 最大差距 {s['largest_auc_gap']}"
    if s.get("auc_gap_ci"):
        verdict = "超出随机波动" if s["gap_beyond_noise"] else "在随机波动之内（正例少时差距可能只是噪声）"
        text += f"，95% 区间 {_span(s['auc_gap_ci'])}：{verdict}"
    if s.get("recall_at_k_largest_deviation") is not None:
        text += f"；各组 recall@K 与总体最多相差 {s['recall_at_k_largest_deviation']:.0%}"
        if s.get("recall_at_k_by_score_largest_deviation") is not None:
            text += f"（仅按分数排序时 {s['recall_at_k_by_score_largest_deviation']:.0%}）"
    return text


def _fairness_lines(figures: dict) -> list[str]:
    """Why households headed by women were found less, and what the visit order does about it."""
    o, groups = figures["overall"], figures["slices"]["head_sex"]["groups"]
    if "recall_at_k_by_score" not in o:
        return []

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.1%}"

    return [
        "",
        "## 公平性：诊断与措施 Fairness",
        "",
        f"诊断：仅按分数排序时，各组在每镇街前 {figures['k']} 个名额中所占比例与其在实际需要救助家庭中所占比例之比较；"
        "实际需要救助的家庭中缺少正规就业信号（近6个月无社保缴费）的比例；以及这些名额实际找到数与分数预测数之比"
        "（1 为准确，低于 1 为高估）。",
        "",
        "| 户主性别 | 实际比例 | 占需要救助家庭 | 占前K名额（按分数） | 需要救助家庭中无社保缴费 | 前K名额 实际/预测 |",
        "|---|---|---|---|---|---|",
        *[
            f"| {g['group']} | {g['observed_rate']} | {pct(g.get('cases_share'))} | {pct(g.get('first_places_share'))} "
            f"| {pct(g.get('cases_without_contributions'))} | {_cell(g.get('first_places_observed_to_predicted'))} |"
            for g in groups
        ],
        "",
        "措施：走访顺序。每个名额给到目前预计已找到比例（按校准概率计）较低的户主性别组，组内仍按分数从高到低；"
        "户主不明的家庭按全镇街的进度排。镇街工作簿中同一级别、同一反馈期限的预警按这一顺序排列，本说明的 recall@K "
        f"也按这一顺序计算。代价和效果（每镇街每晚前 {figures['k']} 户）：",
        "",
        "| | 仅按分数排序 | 走访顺序 |",
        "|---|---|---|",
        f"| 总体 recall@K | {pct(o['recall_at_k_by_score'])} | {pct(o['recall_at_k'])} |",
        *[
            f"| 户主{g['group']} | {pct(g.get('recall_at_k_by_score'))}（{_span(g.get('recall_at_k_by_score_ci'))}）"
            f" | {pct(g.get('recall_at_k'))}（{_span(g.get('recall_at_k_ci'))}） |"
            for g in groups
        ],
        "",
        "正例少时各组 recall 的 95% 区间很宽，差距可能只是噪声；城乡之间未另作平衡（见各组表）。",
    ]


def _history_lines(history: dict | None) -> list[str]:
    """What a history rebuilt from a bulk delivery is, and what it can bias (transform/model/history.py)."""
    if not history:
        return []
    rebuilt = history["reconstructed_month_ends"]
    return [
        f"- **训练历史为重建 reconstructed history:** {len(rebuilt)} 个月末（{rebuilt[0]} … {rebuilt[-1]}；"
        f"训练和检验月末共 {history['month_ends']} 个）"
        f"没有当时的家庭成员名册，由 {history['known_on']} 一次性交付的数据按业务日期重建：家庭成员取该日名册，"
        "去掉当时尚未出生和已去世的人；救助状态按开始、终止日期；各部门记录按其日期加上通常的交付延迟计入。",
        "- 可能的偏差 what this can bias: 此后迁出或注销的家庭和成员不在其中；家庭构成、残疾、劳动能力按交付日的名册"
        "倒推；只见到每条记录的最终版本（更正后），迟交的记录按时计入；此前去世的成员已不在该日名册中，近期死亡类因素"
        f"在重建月份中基本缺失。有名册且已满6个月观察期的月末达到 {history['real_enough']} 个后（接入约18个月后），训练只用真实历史。",
    ]


def card_markdown(
    version: str,
    kind: str,
    figures: dict,
    train_dates: list[str],
    test_dates: list[str],
    income: dict | None = None,
    history: dict | None = None,
) -> str:
    o = figures["overall"]
    lines = [
        f"# 风险模型说明 Model card — {version}",
        "",
        f"- 模型 model: {kind}（已校准 calibrated, isotonic）",
        f"- 训练月份 trained on month ends {train_dates[0]} … {train_dates[-1]}; 检验月份 judged on {', '.join(test_dates)}",
        *_history_lines(history),
        "- 目标 label: 之后6个月内纳入低保、特困或临时救助，或镇街核查情况属实",
        "",
        "| 指标 | 数值 |",
        "|---|---|",
        f"| ROC-AUC | {o['roc_auc']} |",
        f"| PR-AUC | {o['pr_auc']} |",
        f"| Brier | {o['brier']} |",
        f"| 检验行数 / 正例 | {o['rows']} / {o['positives']} |",
        f"| 每镇街走访前 {figures['k']} 户可找到的正例比例 recall@K | {o['recall_at_k']} |",
        "",
        "## 各镇街 recall@K",
        "",
        "| 镇街 | recall |",
        "|---|---|",
        *[f"| {t} | {r} |" for t, r in figures["recall_at_k_by_township"].items()],
    ]
    for s in figures["slices"].values():
        lines += [
            "",
            f"## {s['title']}（{_gap_text(s)}）",
            "",
            "| 组 | 行数 | 正例 | ROC-AUC | 95% 区间 | recall@K（走访顺序） | 95% 区间 | recall@K（仅按分数） "
            "| 平均分 | 实际比例 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {g['group']} | {g['rows']} | {g['positives']} | {_cell(g['roc_auc'])} | {_span(g.get('roc_auc_ci'))} "
            f"| {_cell(g.get('recall_at_k'))} | {_span(g.get('recall_at_k_ci'))} | {_cell(g.get('recall_at_k_by_score'))} "
            f"| {g['mean_score']} | {g['observed_rate']} |"
            for g in s["groups"]
        ]
    lines += _fairness_lines(figures)
    if income:
        lines += [
            "",
            "## 收入估算 Proxy-means income estimate",
            "",
            "由缴费基数、养老金、失业金、居民养老缴费档次和家庭结构估算人均月收入，作为模型特征并供镇街参考；"
            "不作为低保认定依据（R01/R02 只用核对收入）。Judged on the verified households of the held-out months:",
            "",
            "| 指标 | 数值 |",
            "|---|---|",
            f"| 训练户数 / 检验户数 | {income.get('training_households')} / {income.get('test_households', '—')} |",
            f"| 平均绝对误差（元/人·月） MAE | {income.get('mae_yuan', '—')} |",
            f"| 绝对误差中位数（元/人·月） | {income.get('median_abs_error_yuan', '—')} |",
            f"| 排序相关 Spearman | {income.get('spearman', '—')} |",
        ]
    if figures["largest_gap"]:
        lines += [
            "",
            f"**最大差距 largest gap:** {figures['largest_gap']['dimension']}，AUC 相差 {figures['largest_gap']['auc_gap']}"
            + (
                f"（95% 区间 {_span(figures['largest_gap']['auc_gap_ci'])}，"
                + ("超出随机波动）" if figures["largest_gap"].get("beyond_noise") else "在随机波动之内）")
                if figures["largest_gap"].get("auc_gap_ci")
                else ""
            ),
        ]
    return "\n".join(lines)
