"""Risk-model artefacts under <home>/models/: one folder per version (model.joblib and
card.json: features, training window, metrics), and current.json naming the promoted one and
every promotion before it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import joblib

from models.risk import TrainedModel


def models_dir(home: Path) -> Path:
    return home / "models"


def _promotions(home: Path) -> list[dict]:
    """Every promotion, oldest first: [{"version", "promoted_on"}]. current.json keeps the list, so
    that a past night (a backfill) is scored by the model that was in force on that night."""
    pointer = models_dir(home) / "current.json"
    if not pointer.exists():
        return []
    data = json.loads(pointer.read_text(encoding="utf-8"))
    if "promotions" in data:
        return data["promotions"]
    # a home from before the history was kept: its one model counts from the night it was trained
    card = json.loads((models_dir(home) / data["version"] / "card.json").read_text(encoding="utf-8"))
    return [{"version": data["version"], "promoted_on": card["trained_on"]}]


def current(home: Path, as_of: dt.date | None = None) -> tuple[str, TrainedModel, dict] | None:
    """The model in force on ``as_of`` (the newest promoted on or before it), or the newest of all."""
    promotions = [p for p in _promotions(home) if as_of is None or dt.date.fromisoformat(p["promoted_on"]) <= as_of]
    if not promotions:
        return None
    version = promotions[-1]["version"]
    folder = models_dir(home) / version
    return version, joblib.load(folder / "model.joblib"), json.loads((folder / "card.json").read_text(encoding="utf-8"))


def save(home: Path, model: TrainedModel, as_of: dt.date, card: dict) -> str:
    version = f"{as_of:%Y%m%d}-{model.kind}"
    folder = models_dir(home) / version
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    (folder / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return version


def promote(home: Path, version: str, as_of: dt.date) -> None:
    promotions = [p for p in _promotions(home) if p["version"] != version]
    promotions.append({"version": version, "promoted_on": as_of.isoformat()})
    promotions.sort(key=lambda p: p["promoted_on"])
    (models_dir(home) / "current.json").write_text(
        json.dumps({"version": promotions[-1]["version"], "promotions": promotions}, indent=1), encoding="utf-8"
    )
