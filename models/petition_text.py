"""Hardship read from a petition's words (R08): whether a petition's 诉求内容 says that the family
is in hardship, whatever words it uses. No I/O here: texts in, classifier and decisions out.

The model: TF-IDF of character 1- to 3-grams (Chinese needs no word segmentation for this, and
dialect and typos share most of their characters with the standard words), a logistic regression,
and Platt scaling fitted on out-of-fold scores, so that a probability means what it says.

It learns from a labelled set kept in the repository (config/petition_hardship_labelled.csv,
both classes, hard negatives among them) and from weak labels: petitions whose 问题类别 already
says hardship, each distinct text once, weighted below a labelled text. The decision is the
policy's word list (the floor) or the classifier at its threshold; the threshold is chosen on
out-of-fold predictions of the labelled training texts, and the figures a card shows are those of
the held-out texts, which the classifier never saw.

The phrase that decided: the clause (or, in a long clause, the 30-character window) that the
linear model scores highest; for the word list, the clause holding the word (transform/hardship.py).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

# Bump when this module changes what a classifier decides: petitions are classified again.
CLASSIFIER_FORMAT = "1"
PHRASE_MAX = 30  # characters of a quoted phrase (R08's reason)
HELD_OUT_SHARE = 0.3  # of the labelled set, by a hash of each text: adding texts moves no other
TARGET_RECALL, TARGET_PRECISION = 0.95, 0.90
WEAK_WEIGHT = 0.5  # a weakly labelled text (its category says hardship) counts half a labelled one
WEAK_MAX = 5000  # distinct weakly labelled texts read at most (by hash: the same every time)
SEED = 20211009
# clause boundaries: Chinese and Western punctuation, spaces
CLAUSE_SPLIT = re.compile(r"[，。；！？、,.;!?：:\s]+")  # full-width and as staging writes them


def normalise(text: str) -> str:
    """Full-width forms as staging writes them (，→ , and the like: warehouse/ddl/macros.sql), so that a
    labelled text and a delivered one are read alike."""
    return unicodedata.normalize("NFKC", text)


def held_out(text: str) -> bool:
    """Whether a labelled text is in the held-out part (fixed by the text itself)."""
    return int.from_bytes(_digest(text)[:4], "big") % 1000 < HELD_OUT_SHARE * 1000


def clauses(text: str) -> list[str]:
    return [c for c in CLAUSE_SPLIT.split(text or "") if c]


def mentions(text: str, words: Sequence[str]) -> bool:
    """Whether ``text`` holds one of the policy's words (the floor; in SQL: transform/hardship.py)."""
    return any(word in text for word in words)


@dataclass
class PetitionClassifier:
    vectorizer: TfidfVectorizer
    model: LogisticRegression
    platt: tuple[float, float]  # probability = sigmoid(a * score + b)
    threshold: float  # on the probability
    metrics: dict = field(default_factory=dict)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros(0)
        return self._calibrated(self.model.decision_function(self.vectorizer.transform(list(texts))))

    def _calibrated(self, scores: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * scores + b)))

    def phrase(self, text: str) -> str:
        """The part of ``text`` that says hardship most: its highest-scoring clause, or within a long
        clause the highest-scoring window of PHRASE_MAX characters."""
        parts = clauses(text) or [text]
        candidates: list[str] = []
        for part in parts:
            if len(part) <= PHRASE_MAX:
                candidates.append(part)
            else:
                candidates.extend(part[i : i + PHRASE_MAX] for i in range(0, len(part) - PHRASE_MAX + 5, 5))
        scores = self.model.decision_function(self.vectorizer.transform(candidates))
        return candidates[int(np.argmax(scores))][:PHRASE_MAX]

    def decide(self, texts: Sequence[str], words: Sequence[str]) -> np.ndarray:
        """The decision R08 takes on each text: the word list, or the classifier at its threshold."""
        by_words = np.array([mentions(t, words) for t in texts], dtype=bool)
        return by_words | (self.probabilities(texts) >= self.threshold)


def _fit(texts: list[str], labels: np.ndarray, weights: np.ndarray) -> tuple[TfidfVectorizer, LogisticRegression]:
    vectorizer = TfidfVectorizer(
        analyzer="char", ngram_range=(1, 3), sublinear_tf=True, preprocessor=normalise, dtype=np.float64
    )
    x = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=8.0, class_weight="balanced", max_iter=5000, solver="liblinear", random_state=SEED)
    model.fit(x, labels, sample_weight=weights)
    return vectorizer, model


def _out_of_fold(texts: list[str], labels: np.ndarray, weights: np.ndarray, folds: int = 5) -> np.ndarray:
    scores = np.zeros(len(texts))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    for fit_rows, score_rows in splitter.split(np.zeros(len(texts)), labels):
        vectorizer, model = _fit([texts[i] for i in fit_rows], labels[fit_rows], weights[fit_rows])
        scores[score_rows] = model.decision_function(vectorizer.transform([texts[i] for i in score_rows]))
    return scores


def _platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    fit = LogisticRegression(C=1e4, solver="lbfgs").fit(scores.reshape(-1, 1), labels)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def _threshold(probabilities: np.ndarray, labels: np.ndarray, by_words: np.ndarray) -> float:
    """The highest threshold at which the decision (word list or classifier) reaches the target recall,
    with a margin, on the out-of-fold texts: recall decides, as a petition missed is a family not
    visited; the precision it costs is measured on the held-out texts and shown on the card."""
    best = 0.5
    for t in np.unique(probabilities)[::-1]:
        decided = by_words | (probabilities >= t)
        best = float(t)
        if (decided & (labels == 1)).sum() >= (TARGET_RECALL + 0.01) * (labels == 1).sum():
            break
    return best


def measure(decided: np.ndarray, labels: np.ndarray) -> dict:
    """Precision and recall of decisions against labels, with the counts they come from."""
    tp = int((decided & (labels == 1)).sum())
    fp = int((decided & (labels == 0)).sum())
    fn = int((~decided & (labels == 1)).sum())
    return {
        "texts": int(len(labels)),
        "hardship": int((labels == 1).sum()),
        "true_positives": tp,
        "false_positives": fp,
        "missed": fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
    }


def train(
    labelled: Sequence[tuple[str, int]], weak_positives: Sequence[str], words: Sequence[str]
) -> PetitionClassifier:
    """A classifier from the labelled texts' training part and the weakly labelled ones; its metrics
    are those of the labelled held-out part, under the decision R08 takes (``words`` or classifier)."""
    train_part = [(t, y) for t, y in labelled if not held_out(t)]
    test_part = [(t, y) for t, y in labelled if held_out(t)]
    known = {t for t, _ in train_part}
    weak = sorted({t for t in weak_positives if t and t not in known}, key=_digest)[:WEAK_MAX]
    texts = [t for t, _ in train_part] + weak
    labels = np.array([y for _, y in train_part] + [1] * len(weak))
    weights = np.array([1.0] * len(train_part) + [WEAK_WEIGHT] * len(weak))
    scores = _out_of_fold(texts, labels, weights)
    platt = _platt(scores, labels)
    vectorizer, model = _fit(texts, labels, weights)
    classifier = PetitionClassifier(vectorizer, model, platt, 0.5)
    # the threshold from the labelled training texts' out-of-fold probabilities (weak ones are all positive)
    labelled_rows = np.arange(len(train_part))
    oof = classifier._calibrated(scores[labelled_rows])
    train_words = np.array([mentions(t, words) for t, _ in train_part], dtype=bool)
    classifier.threshold = _threshold(oof, labels[labelled_rows], train_words)
    held_texts = [t for t, _ in test_part]
    held_labels = np.array([y for _, y in test_part])
    by_words = np.array([mentions(t, words) for t in held_texts], dtype=bool)
    classifier.metrics = {
        "labelled_texts": len(labelled),
        "training_texts": len(train_part),
        "weak_texts": len(weak),
        "threshold": round(classifier.threshold, 4),
        "held_out": measure(classifier.decide(held_texts, words), held_labels),
        "held_out_words_only": measure(by_words, held_labels),
    }
    return classifier


def _digest(text: str) -> bytes:
    """A text's fixed place: which part of the labelled set it is in, and the order weak texts are read in."""
    return hashlib.sha256(text.encode("utf-8")).digest()
