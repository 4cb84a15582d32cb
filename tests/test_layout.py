"""The layout shows the pipeline: imports only run down from orchestration to pure logic
(README "Where things are"), and Dagster stays at the edge."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# pipelines → assets/checks → exports/transform/ingest → warehouse/models → jiuzhu
LEVEL = {
    "jiuzhu": 0,
    "warehouse": 1,
    "models": 1,
    "ingest": 2,
    "transform": 2,
    "exports": 2,
    "synth": 2,
    "assets": 3,
    "checks": 3,
    "pipelines": 4,
    "benchmarks": 5,
}
SIDEWAYS = {
    ("checks", "assets"),  # a check names the asset it checks
    ("warehouse", "models"),
}  # the model store keeps the models' own objects
DAGSTER_AT = {"assets", "checks", "pipelines", "benchmarks"}
NO_DUCKDB = {"models", "jiuzhu"}


def imports() -> list[tuple[str, str, int, str]]:
    """(package, file, line, imported module) for every import of the project's modules."""
    found = []
    for package in LEVEL:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module]
                    if isinstance(node, ast.ImportFrom) and node.module and not node.level
                    else []
                )
                found += [(package, str(path.relative_to(ROOT)), node.lineno, name) for name in names]
    return found


def test_imports_run_down_the_layers():
    wrong = [
        f"{file}:{line} imports {name}"
        for package, file, line, name in imports()
        if (top := name.split(".")[0]) in LEVEL
        and top != package
        and LEVEL[top] >= LEVEL[package]
        and (package, top) not in SIDEWAYS
    ]
    assert wrong == []


def test_assets_import_no_checks_and_nothing_below_imports_assets():
    wrong = [
        f"{file}:{line} imports {name}"
        for package, file, line, name in imports()
        if package == "assets" and name.split(".")[0] == "checks"
    ]
    assert wrong == []


def test_dagster_only_at_the_edge_and_no_duckdb_in_pure_logic():
    wrong = [
        f"{file}:{line} imports {name}"
        for package, file, line, name in imports()
        if (name.split(".")[0] == "dagster" and package not in DAGSTER_AT)
        or (name.split(".")[0] == "duckdb" and package in NO_DUCKDB)
    ]
    assert wrong == []


def test_every_module_sits_in_a_known_layer():
    tops = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert tops <= set(LEVEL) | {"tests"}, tops - set(LEVEL)
