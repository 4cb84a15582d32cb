"""A backfill of a past night reproduces what that night produced, although later files and
later nights have been loaded since (point in time through the daily partitions)."""

from __future__ import annotations

from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from pipelines.cli import main
from pipelines.definitions import NIGHTLY_JOB, build_definitions
from pipelines.instance import open_instance
from pipelines.nightly import QUIET_DAGSTER
from warehouse.resource import connect

pytestmark = pytest.mark.slow  # a county and three whole nights

EARLIER, LATER = "2026-11-14", "2026-11-28"


def _night_outputs(home: Path, night: str) -> dict:
    """What the township and an auditor see of one night: the list, what was resolved, the rule
    status, and the rows of every township workbook."""
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        out = {
            table: con.execute(
                f"SELECT * EXCLUDE (as_of_date) FROM monitoring.{table} WHERE as_of_date = ? ORDER BY ALL", [night]
            ).fetchall()
            for table in ("warnings", "resolved_warnings", "rule_status")
        }
    books = sorted((home / "exports" / night).glob("3707*.xlsx"))
    out["workbooks"] = {
        b.name: {
            name: CalamineWorkbook.from_path(str(b)).get_sheet_by_name(name).to_python()
            for name in CalamineWorkbook.from_path(str(b)).sheet_names
        }
        for b in books
    }
    return out


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    root = tmp_path_factory.mktemp("backfill")
    county, home = root / "county", root / "home"
    assert (
        main(
            [
                "synth",
                "--out",
                str(county),
                "--households",
                "300",
                "--months",
                "12",
                "--as-of",
                LATER,
                "--seed",
                "4",
                "--quiet",
            ]
        )
        == 0
    )
    return county / "landing", home


def test_a_backfill_of_an_earlier_night_reproduces_its_list(county):
    landing, home = county
    assert main(["run", "--landing", str(landing), "--home", str(home), "--as-of", EARLIER]) == 0
    first = _night_outputs(home, EARLIER)
    assert first["warnings"] and first["workbooks"]  # something to reproduce

    assert main(["run", "--landing", str(landing), "--home", str(home), "--as-of", LATER]) == 0
    later = _night_outputs(home, LATER)
    assert later["warnings"] != first["warnings"]  # two weeks of files changed the list

    # the backfill: the nightly job for the earlier partition, in the home's instance (what the UI launches)
    instance = open_instance(home, landing)
    defs = build_definitions(home=str(home), landing=str(landing))
    result = defs.resolve_job_def(NIGHTLY_JOB).execute_in_process(
        instance=instance, run_config=QUIET_DAGSTER, partition_key=EARLIER, raise_on_error=False
    )
    assert result.success
    assert result.dagster_run.tags["dagster/partition"] == EARLIER

    again = _night_outputs(home, EARLIER)
    assert again == first
    assert _night_outputs(home, LATER)["warnings"] == later["warnings"]  # the later night is untouched
    # Dagster holds a materialisation of the warning list for both nights
    partitions = instance.get_materialized_partitions(
        next(k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path == ["monitoring", "warnings"])
    )
    assert {EARLIER, LATER} <= set(partitions)
