"""The petition classifier (R08): hardship read from a petition's words, trained when due, and every
new petition text read by the classifier in force before core counts a household's petitions."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

import json

import dagster as dg

from assets.common import NIGHTS, WAREHOUSE_POOL, NightSettings, Warehouse, night_of
from exports.charts import markdown_table
from transform.model.petitions import classify, due, in_force, train_classifier

PETITION_CLASSIFIER = dg.AssetKey(["model", "petition_classifier"])


@dg.asset(
    key=PETITION_CLASSIFIER,
    partitions_def=NIGHTS,
    group_name="model",
    pool=WAREHOUSE_POOL,
    kinds={"sklearn"},
    owners=["team:civil_affairs"],
    tags={"layer": "model"},
    deps=[["staging", "xf_petitions"], ["config", "policy_in_force"]],
    description="信访诉求文本分类器（R08）：字符 n-gram、逻辑回归、校准；从仓库中的标注样本"
    "（config/petition_hardship_labelled.csv）和问题类别已说明困难的信访（弱标注）中学习，约每月重新训练。"
    "每个新的诉求内容只读一次；文本不离开仓库，这里只显示数字。\n\n"
    "Petition text classifier (R08): character n-grams, a logistic regression, calibrated; learns from the "
    "labelled set kept in the repository and from petitions whose category says hardship (weak labels). "
    "Each new text is read once; no text leaves the warehouse, only figures are shown here.",
)
def petition_classifier(
    context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings
) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    policy = night.policy_in_force(as_of)
    with warehouse.connect() as con:
        trained = False
        try:
            why = due(con, as_of, policy.risk_model.retrain_every_days)
            if why:
                train_classifier(con, as_of, policy)
                trained = True
        except (OSError, ValueError) as problem:  # the labelled set is edited by hand: the night goes on
            context.log.error(f"信访文本分类器未训练 petition classifier not trained: {problem}")
            why = f"未能训练 (could not train): {problem}"
        current = in_force(con, as_of)
        if current is None:
            return dg.MaterializeResult(
                metadata={
                    "trained": False,
                    "why_trained": why or "",
                    "version_in_force": "none",
                    "note": "没有可用的分类器：R08 只按问题类别和政策用语判断。No classifier: R08 reads categories "
                    "and the policy's words only.",
                }
            )
        read = classify(con, current)
        [(stored,)] = con.execute(
            "SELECT card FROM model.petition_classifiers WHERE version = ?", [current.version]
        ).fetchall()
    card = json.loads(stored)
    held, words = card["held_out"], card["held_out_words_only"]
    return dg.MaterializeResult(
        metadata={
            "trained": trained,
            "why_trained": why or "未到期 (not due)",
            "version_in_force": current.version,
            "threshold": current.threshold,
            "texts_read_tonight": read,
            "labelled_texts": card["labelled_texts"],
            "weak_texts": card["weak_texts"],
            "held_out": dg.MetadataValue.md(
                markdown_table(
                    ["判断方式 decision", "文本 texts", "困难 hardship", "精确率 precision", "召回率 recall"],
                    [
                        [
                            "用语表 + 分类器 words or classifier",
                            held["texts"],
                            held["hardship"],
                            held["precision"],
                            held["recall"],
                        ],
                        ["仅用语表 words only", words["texts"], words["hardship"], words["precision"], words["recall"]],
                    ],
                )
                + "\n\n留出的标注样本（分类器训练时未见过）。Held-out labelled texts, never seen in training."
            ),
        }
    )
