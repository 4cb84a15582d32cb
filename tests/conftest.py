"""Shared fixtures: a throw-away warehouse and a way to drop files into a landing zone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from assets.landing.loader import FeedReport, ingest_feed
from jiuzhu.config import load_feeds
from warehouse.resource import connect

AS_OF = dt.date(2026, 11, 28)


class Landing:
    """A landing zone in tmp_path, and ingest of one feed into a warehouse beside it."""

    def __init__(self, root: Path):
        self.root = root / "landing"
        self.warehouse = root / "warehouse.duckdb"

    def write(self, feed: str, name: str, content: bytes | str, encoding: str = "utf-8") -> Path:
        path = self.root / feed / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    def ingest(self, feed: str, as_of: dt.date | None = AS_OF) -> FeedReport:
        with connect(self.warehouse) as con:
            return ingest_feed(con, load_feeds()[feed], self.root, as_of, run_id="test")

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with connect(self.warehouse, read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def outcome(self, report: FeedReport, file_name: str):
        return next(o for o in report.outcomes if o.file_name == file_name)


@pytest.fixture
def landing(tmp_path: Path) -> Landing:
    return Landing(tmp_path)
