"""The petition classifiers' artefacts (models/petition_text.py) under <home>/models/petitions/:
one folder per classifier, named by the night it was trained, holding classifier.joblib. Which
classifier is in force on a night is kept in the warehouse (model.petition_classifiers)."""

from __future__ import annotations

from pathlib import Path

import joblib

from models.petition_text import PetitionClassifier


def _path(home: Path, version: str) -> Path:
    return home / "models" / "petitions" / version / "classifier.joblib"


def load(home: Path, version: str) -> PetitionClassifier:
    return joblib.load(_path(home, version))


def save(home: Path, classifier: PetitionClassifier, version: str) -> None:
    path = _path(home, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(classifier, path)
