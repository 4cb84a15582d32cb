"""Model versions in the home: a night is scored by the model that was in force on it."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

from warehouse import risk_store


def test_a_past_night_gets_the_model_in_force_then(tmp_path):
    first = risk_store.save(
        tmp_path, SimpleNamespace(kind="logistic_regression"), dt.date(2026, 9, 30), {"trained_on": "2026-09-30"}
    )
    risk_store.promote(tmp_path, first, dt.date(2026, 9, 30))
    second = risk_store.save(
        tmp_path, SimpleNamespace(kind="gradient_boosting"), dt.date(2026, 10, 28), {"trained_on": "2026-10-28"}
    )
    risk_store.promote(tmp_path, second, dt.date(2026, 10, 28))

    assert risk_store.current(tmp_path)[0] == second  # tonight
    assert risk_store.current(tmp_path, dt.date(2026, 11, 28))[0] == second
    assert risk_store.current(tmp_path, dt.date(2026, 10, 27))[0] == first  # a backfill of an October night
    assert risk_store.current(tmp_path, dt.date(2026, 9, 29)) is None  # before any model: M01 silent


def test_a_home_from_before_the_promotion_history_keeps_its_model(tmp_path):
    version = risk_store.save(
        tmp_path, SimpleNamespace(kind="logistic_regression"), dt.date(2026, 9, 30), {"trained_on": "2026-09-30"}
    )
    (tmp_path / "models" / "current.json").write_text(json.dumps({"version": version}))  # the old pointer
    assert risk_store.current(tmp_path, dt.date(2026, 10, 1))[0] == version
    assert risk_store.current(tmp_path, dt.date(2026, 9, 1)) is None
