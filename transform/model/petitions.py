"""Hardship read from petitions' words (R08), in the warehouse: the classifier trained when due, and
each distinct petition text read by the classifier in force (model.petition_hardship), which core
joins (transform/core/features_xf.sql).

Due: no classifier in force on the night, the labelled set (or the classifier's format) changed, or
the one in force is older than the risk model's retraining interval. A past night (a backfill)
keeps the classifier in force then, and trains one only when none was. Weak labels are the texts
of petitions known on the night whose 问题类别 is one of the policy's hardship categories.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass

import duckdb
import joblib
import pandas as pd

from jiuzhu import config
from jiuzhu.config import load_feeds, load_petition_labels
from jiuzhu.policy import Policy
from models.petition_text import CLASSIFIER_FORMAT, PetitionClassifier, train
from transform.as_of import as_of_relation
from warehouse.resource import registered


@dataclass(frozen=True)
class InForce:
    version: str
    trained_on: dt.date
    threshold: float
    labelled_hash: str


def labelled_hash() -> str:
    return hashlib.sha256(CLASSIFIER_FORMAT.encode() + config.PETITION_LABELS.read_bytes()).hexdigest()


def in_force(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> InForce | None:
    """The classifier in force on ``as_of``: the newest trained on or before it."""
    rows = con.execute(
        """SELECT version, trained_on, threshold, labelled_hash FROM model.petition_classifiers
           WHERE trained_on <= ? ORDER BY trained_on DESC LIMIT 1""",
        [as_of],
    ).fetchall()
    return InForce(*rows[0]) if rows else None


def due(con: duckdb.DuckDBPyConnection, as_of: dt.date, every_days: int) -> str | None:
    """Why a classifier is to be trained on ``as_of`` (None: the one in force stays)."""
    current = in_force(con, as_of)
    if current is None:
        return "没有在用的分类器 (none in force)"
    newest = con.execute("SELECT max(trained_on) FROM model.petition_classifiers").fetchall()[0][0]
    if newest > as_of:
        return None  # a past night reads petitions as that night did
    if current.labelled_hash != labelled_hash():
        return "标注样本或分类器已更新 (the labelled set or the classifier changed)"
    if current.trained_on <= as_of - dt.timedelta(days=every_days):
        return f"已满 {every_days} 天 (retrained every {every_days} days)"
    return None


def weak_positives(con: duckdb.DuckDBPyConnection, as_of: dt.date, categories: tuple[str, ...]) -> list[str]:
    """The distinct texts of petitions known on ``as_of`` whose category says hardship."""
    petitions = as_of_relation(load_feeds()["xf_petitions"])
    rows = con.execute(
        f"""SELECT DISTINCT petition_text FROM {petitions}
            WHERE petition_text IS NOT NULL AND list_contains($categories, petition_category)
            ORDER BY 1""",
        {"as_of": as_of, "categories": list(categories)},
    ).fetchall()
    return [r[0] for r in rows]


def train_classifier(con: duckdb.DuckDBPyConnection, as_of: dt.date, policy: Policy) -> tuple[InForce, dict]:
    """A classifier trained on ``as_of``, kept in the warehouse and in force from that night."""
    rules = policy.rules
    weak = weak_positives(con, as_of, rules.petition_categories)
    classifier = train(load_petition_labels(), weak, rules.hardship_words)
    version = f"{as_of:%Y%m%d}"
    card = {"trained_on": as_of.isoformat(), "hardship_words": list(rules.hardship_words), **classifier.metrics}
    artefact = io.BytesIO()
    joblib.dump(classifier, artefact)
    record = InForce(version, as_of, classifier.threshold, labelled_hash())
    con.execute("DELETE FROM model.petition_hardship WHERE classifier = ?", [version])
    con.execute("DELETE FROM model.petition_classifiers WHERE version = ?", [version])
    con.execute(
        """INSERT INTO model.petition_classifiers (version, trained_on, threshold, labelled_hash, card, artefact)
           VALUES (?, ?, ?, ?, ?, ?)""",
        [
            version,
            as_of,
            record.threshold,
            record.labelled_hash,
            json.dumps(card, ensure_ascii=False),
            artefact.getvalue(),
        ],
    )
    return record, card


def classify(con: duckdb.DuckDBPyConnection, current: InForce) -> int:
    """Every distinct petition text in staging that ``current`` has not read yet, read: its probability,
    its decision and, for hardship, the phrase. Returns how many texts were read."""
    texts = [
        r[0]
        for r in con.execute(
            """SELECT DISTINCT petition_text FROM staging.xf_petitions WHERE petition_text IS NOT NULL
               AND hash(petition_text) NOT IN (SELECT text_hash FROM model.petition_hardship WHERE classifier = ?)
               ORDER BY 1""",
            [current.version],
        ).fetchall()
    ]
    if not texts:
        return 0
    [(artefact,)] = con.execute(
        "SELECT artefact FROM model.petition_classifiers WHERE version = ?", [current.version]
    ).fetchall()
    classifier: PetitionClassifier = joblib.load(io.BytesIO(artefact))
    probability = classifier.probabilities(texts)
    hardship = probability >= current.threshold
    frame = pd.DataFrame(
        {
            "text": texts,
            "probability": probability,
            "hardship": hardship,
            "phrase": [classifier.phrase(t) if h else None for t, h in zip(texts, hardship, strict=True)],
        }
    )
    with registered(con, "_jz_read_petitions", frame):
        con.execute(
            """INSERT INTO model.petition_hardship (text_hash, classifier, probability, hardship, phrase)
               SELECT hash(text), ?, probability, hardship, phrase FROM _jz_read_petitions""",
            [current.version],
        )
    return len(texts)
