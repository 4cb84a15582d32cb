"""The same data and the same key give the same night (issue 11, item 8).

One small generated county, the night run twice on fresh homes with one person key:
the scores (to the last bit), the warning list, the household features and the township
workbooks' cells must be identical. The county is the smallest whose model trains
(MIN_POSITIVES labelled entries over at least four months of history, assets/model.py)
and whose list holds M01 warnings, so the model's training and scoring are compared too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from pipelines.cli import main
from warehouse.person_key import ENV_KEY
from warehouse.resource import connect

AS_OF = "2026-11-28"
HOUSEHOLDS, MONTHS = 400, 18  # 5 training months, about 30 positives, a few M01 warnings
KEY = "5a" * 32


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    root = tmp_path_factory.mktemp("determinism")
    county = root / "county"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_KEY, KEY)  # "with the same key": without it each home draws its own
        assert main(["synth", "--out", str(county), "--households", str(HOUSEHOLDS), "--months", str(MONTHS),
                     "--as-of", AS_OF, "--quiet"]) == 0
        out = []
        for name in ("first", "second"):
            home = root / name
            assert main(["run", "--landing", str(county / "landing"), "--home", str(home), "--as-of", AS_OF]) == 0
            out.append(home)
    return out


def _rows(home: Path, sql: str) -> list[tuple]:
    """Rows as comparable tuples (NaN equal to NaN; floats otherwise compared exactly)."""
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(sql).fetchall()
    return [tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows]


def _same(homes: list[Path], sql: str, what: str) -> list[tuple]:
    first, second = (_rows(h, sql) for h in homes)
    assert first, f"no {what} to compare"
    differing = sum(a != b for a, b in zip(first, second)) + abs(len(first) - len(second))
    assert first == second, f"{differing} of {len(first)} {what} differ between two runs on the same data"
    return first


def test_the_model_trains_and_is_the_same(homes):
    cards = []
    for home in homes:
        pointer = home / "models" / "current.json"
        assert pointer.exists(), "the model did not train: the county is too small to test scoring"
        version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
        cards.append(json.loads((home / "models" / version / "card.json").read_text(encoding="utf-8")))
    assert cards[0] == cards[1]


def test_scores_are_identical(homes):
    rows = _same(homes, """SELECT household_id, risk_score, model_version, top_factors, estimated_income_per_capita
                           FROM monitoring.household_scores ORDER BY as_of_date, household_id""", "household scores")
    households = _rows(homes[0], "SELECT count(*) FROM core.households")[0][0]
    assert len(rows) == households


def test_the_warning_list_is_identical_and_holds_m01(homes):
    _same(homes, "SELECT * FROM monitoring.warnings ORDER BY as_of_date, warning_id", "warnings")
    m01 = _rows(homes[0], "SELECT count(*) FROM monitoring.warnings WHERE list_contains(rule_codes, 'M01')")[0][0]
    assert m01 > 0, "no M01 warning: the test would not compare the model's part of the list"
    _same(homes, "SELECT * FROM monitoring.rule_hits ORDER BY as_of_date, subject_id, rule_code", "rule hits")


def test_household_features_are_identical(homes):
    _same(homes, "SELECT * FROM core.household_features ORDER BY household_id", "households' features")
    _same(homes, "SELECT * FROM core.households ORDER BY household_id", "households")


def _cells(path: Path) -> dict[str, list[list]]:
    wb = CalamineWorkbook.from_path(str(path))
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}


def test_workbooks_hold_the_same_cells(homes):
    # the files themselves may differ (xlsx carries its creation time): their cells may not
    exports = [home / "exports" / AS_OF for home in homes]
    names = [sorted(p.relative_to(e).as_posix() for p in e.rglob("*.xlsx")) for e in exports]
    assert names[0] == names[1] and any("_" in n for n in names[0]), names
    differing = [n for n in names[0] if _cells(exports[0] / n) != _cells(exports[1] / n)]
    assert differing == []
