"""Shared fixtures: a throw-away warehouse, a way to drop files into a landing zone, and a night of
the real nightly job over them."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time  # Dagster's own test helper: its clock, not ours

from ingest.loader import FeedReport, ingest_feed
from jiuzhu.config import load_feeds
from pipelines.definitions import NIGHTLY_JOB, build_definitions
from pipelines.nightly import QUIET_DAGSTER
from warehouse.resource import connect

AS_OF = dt.date(2026, 11, 28)
BEIJING = ZoneInfo("Asia/Shanghai")
WORKBOOKS = dg.AssetKey(["exports", "warning_workbooks"])  # the last of the night
SUPERVISION = dg.AssetKey(["monitoring", "township_supervision"])


class Landing:
    """A landing zone in tmp_path, and ingest of one feed, or a whole night, into a warehouse beside it."""

    def __init__(self, root: Path):
        self.root = root / "landing"
        self.warehouse = root / "warehouse.duckdb"

    def write(self, feed: str, name: str, content: bytes | str, encoding: str = "utf-8", age: float = 3600) -> Path:
        """A delivered file, last written ``age`` seconds ago (0: just now, maybe still being written)."""
        path = self.root / feed / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        if age:
            then = time.time() - age
            os.utime(path, (then, then))
        return path

    def ingest(self, feed: str, as_of: dt.date | None = AS_OF) -> FeedReport:
        with connect(self.warehouse) as con:
            return ingest_feed(con, load_feeds()[feed], self.root, as_of, run_id="test")

    def night(self, as_of: dt.date, warnings: bool = False) -> dg.ExecuteInProcessResult:
        """One night: the nightly job of ``pipelines.definitions`` (its assets, resources and blocking
        checks) for the partition ``as_of``. Up to core.* (linking and features), or with ``warnings`` on
        to the township workbooks and the supervision (risk model, scores, warning list, exports); the
        quality scorecards and the ingest summary, which nothing here reads, are left out."""
        defs = build_definitions(home=str(self.warehouse.parent), landing=str(self.root))
        # with warnings: on to the township workbooks and the county centre's supervision
        last = dg.AssetSelection.assets(WORKBOOKS, SUPERVISION) if warnings else dg.AssetSelection.groups("core")
        assets = last.upstream().resolve(defs.resolve_asset_graph())
        # the checks that can stop the night, as they would; those that only report read the warehouse
        # and change nothing (their own tests run them), and would make each night half as slow again
        checks = {
            spec.key
            for c in defs.asset_checks
            if any(spec.blocking and spec.asset_key in assets for spec in c.check_specs)
            for spec in c.check_specs
        }
        job = defs.resolve_job_def(NIGHTLY_JOB).get_subset(asset_selection=assets, asset_check_selection=checks)
        # Dagster's clock at 01:30 Beijing time the morning after, when the schedule starts the night:
        # the partition exists then, whatever today's date (the tests' nights lie in the future too)
        with freeze_time(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(1, 30), BEIJING)):
            result = job.execute_in_process(
                instance=dg.DagsterInstance.ephemeral(), run_config=QUIET_DAGSTER, partition_key=as_of.isoformat()
            )
        assert result.success
        return result

    def query(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        with connect(self.warehouse, read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def outcome(self, report: FeedReport, file_name: str):
        return next(o for o in report.outcomes if o.file_name == file_name)


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path)
