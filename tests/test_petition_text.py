"""Hardship read from a petition's words (R08): the classifier's held-out figures, recomputed here,
meet the target; the phrase it quotes is the petition's own words, at most 30 characters; and the
labelled set the county keeps is read strictly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from conftest import Landing

from assets.common import NightSettings, Warehouse
from assets.petitions import petition_classifier
from assets.raw import raw_assets
from assets.staging import staging_assets
from jiuzhu import config
from jiuzhu.config import load_petition_labels as labelled_set
from jiuzhu.config import load_policy
from models.petition_text import PHRASE_MAX, TARGET_PRECISION, TARGET_RECALL, held_out, mentions, train

WORDS = load_policy(dt.date(2026, 11, 28)).rules.hardship_words


@pytest.fixture(scope="module")
def classifier():
    return train(labelled_set(), [], WORDS)


def test_the_labelled_set_is_large_varied_and_hard(classifier):
    rows = labelled_set()
    texts = [t for t, _ in rows]
    assert len(rows) >= 300 and len(set(texts)) == len(texts)
    hardship = [t for t, y in rows if y == 1]
    other = [t for t, y in rows if y == 0]
    assert min(len(hardship), len(other)) >= 120
    # beyond the word list: hardship told without any of its words; and others sharing words with hardship
    assert sum(not mentions(t, WORDS) for t in hardship) >= 50
    assert (
        sum(mentions(t, ("低保", "救助", "困难", "看病", "住房", "工资", "学费", "老人", "残疾")) for t in other) >= 50
    )
    held = [t for t in texts if held_out(t)]
    assert 0.2 * len(texts) <= len(held) <= 0.4 * len(texts)
    assert classifier.metrics["training_texts"] == len(texts) - len(held)


def test_held_out_recall_and_precision_meet_the_target(classifier):
    held = classifier.metrics["held_out"]
    assert held["hardship"] >= 40 and held["texts"] - held["hardship"] >= 40
    assert held["recall"] >= TARGET_RECALL, held
    assert held["precision"] >= TARGET_PRECISION, held
    # and the classifier adds what the word list misses
    assert held["recall"] > classifier.metrics["held_out_words_only"]["recall"]


def test_hardship_in_other_words_is_found_and_quoted():
    texts = [
        "本人患尿毒症长期透析，医药费负担很重，家里已经借遍亲戚，实在过不下去了。",
        "俺家那口子瘫在炕上好几年了，俺一个人伺候还得种地，顶不住了",
    ]
    classifier = train(labelled_set(), [], WORDS)
    assert not any(mentions(t, WORDS) for t in texts)
    assert classifier.decide(texts, WORDS).all()
    for text in texts:
        phrase = classifier.phrase(text)
        assert 0 < len(phrase) <= PHRASE_MAX and phrase in text
    others = ["反映村里道路坑洼不平，雨天无法通行", "举报邻居违建占用公共通道"]
    assert not classifier.decide(others, WORDS).any()


def test_weak_labels_count_once_per_text_and_the_result_is_the_same_every_time():
    weak = ["家里困难，申请帮助"] * 5 + ["孩子看病花光积蓄"]
    a, b = train(labelled_set(), weak, WORDS), train(labelled_set(), list(reversed(weak)), WORDS)
    assert a.metrics["weak_texts"] == 2
    texts = [t for t, _ in labelled_set()][:50]
    assert np.array_equal(a.probabilities(texts), b.probabilities(texts)) and a.threshold == b.threshold


def test_a_malformed_labelled_row_is_named(tmp_path: Path):
    bad = tmp_path / "labelled.csv"
    bad.write_text("text,hardship,theme\n家里困难,1,申请救助\n反映道路问题,是,道路交通\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"labelled.csv row 3: needs a text and hardship 1 or 0"):
        labelled_set(bad)


def test_a_broken_labelled_set_is_named_and_the_night_goes_on(tmp_path: Path, monkeypatch):
    """A county edits the labelled set by hand: a bad row is logged with the file and the row, R08 goes on
    reading categories and the policy's words, and nothing stops core."""
    bad = tmp_path / "petition_hardship_labelled.csv"
    bad.write_text("text,hardship,theme\n家里困难,1,申请救助\n反映道路问题,是,道路交通\n", encoding="utf-8")
    monkeypatch.setattr(config, "PETITION_LABELS", bad)
    landing = Landing(tmp_path / "night")
    landing.write(
        "xf_petitions", "x_20261128.csv", "信访件编号,登记日期,问题类别,诉求内容\nX1,2026-11-20,其他,家里困难\n"
    )
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [*raw_assets, *staging_assets, petition_classifier],
        resources={
            "warehouse": Warehouse(home=str(landing.warehouse.parent)),
            "night": NightSettings(landing=str(landing.root)),
        },
        instance=instance,
        partition_key="2026-11-28",
    )
    assert result.success
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "model/petition_classifier"
    ]
    meta = event.materialization.metadata
    assert meta["version_in_force"].value == "none" and "row 3" in meta["why_trained"].value
    logged = [e.user_message for e in instance.all_logs(result.run_id) if "classifier not trained" in e.user_message]
    assert logged and "petition_hardship_labelled.csv row 3: needs a text and hardship 1 or 0" in logged[0]
