"""Shared fixtures: a throw-away warehouse and a way to drop files into a landing zone."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from ingest.loader import FeedReport, ingest_feed
from jiuzhu.config import load_feeds
from warehouse.resource import connect

AS_OF = dt.date(2026, 11, 28)


class Landing:
    """A landing zone in tmp_path, and ingest of one feed into a warehouse beside it."""

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

    def night(self, as_of: dt.date, warnings: bool = False):
        """One night without Dagster: ingest and standardise every feed, link (core), and with
        ``warnings`` also build the warning list and the exports. Returns the last report."""
        from jiuzhu.config import load_policy
        from transform.core.build import build_core
        from exports.township import write_exports
        from transform.monitoring.warnings import build_warnings
        from warehouse.person_key import install, load_key
        from transform.staging.build import build_staging

        for feed in load_feeds():
            self.ingest(feed, as_of=as_of)
        policy = load_policy(as_of)
        with connect(self.warehouse) as con:
            for feed in load_feeds().values():
                build_staging(con, feed, as_of)
            install(con, load_key(self.warehouse.parent))
            report = build_core(con, as_of, policy)
            if warnings:
                report = build_warnings(con, as_of, policy)
                write_exports(con, as_of, self.warehouse.parent / "exports" / as_of.isoformat(), policy)
        return report

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with connect(self.warehouse, read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def outcome(self, report: FeedReport, file_name: str):
        return next(o for o in report.outcomes if o.file_name == file_name)


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path)
