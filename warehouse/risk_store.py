"""Risk-model artefacts under <home>/models/: one folder per version (model.joblib and
card.json: features, training window, metrics), and current.json naming the promoted one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import joblib

from models.risk import TrainedModel


def models_dir(home: Path) -> Path:
    return home / "models"


def current(home: Path) -> tuple[str, TrainedModel, dict] | None:
    pointer = models_dir(home) / "current.json"
    if not pointer.exists():
        return None
    version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
    folder = models_dir(home) / version
    return version, joblib.load(folder / "model.joblib"), json.loads((folder / "card.json").read_text(encoding="utf-8"))


def save(home: Path, model: TrainedModel, as_of: dt.date, card: dict) -> str:
    version = f"{as_of:%Y%m%d}-{model.kind}"
    folder = models_dir(home) / version
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    (folder / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return version


def promote(home: Path, version: str) -> None:
    (models_dir(home) / "current.json").write_text(json.dumps({"version": version}), encoding="utf-8")
