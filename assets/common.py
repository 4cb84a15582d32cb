"""What every asset and check shares: the night partitions, the warehouse pool, the per-run
settings (where the landing zone is, which night the run covers) and the arguments of a
per-feed asset. Only assets/, checks/ and pipelines/ import it (Dagster stays at the edge)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from jiuzhu.calendar import parse_as_of
from jiuzhu.config import Feed, load_county
from jiuzhu.policy import Policy
from warehouse.resource import SCRATCH_DIR, RunConnection, connect

WAREHOUSE_POOL = "warehouse"  # see dagster.yaml: one writer at a time
PARTITION_TAG = "dagster/partition"

# One partition per night: the day (Beijing time) that the night's run covers. Every asset whose
# result depends on the date is partitioned by it, so the UI shows each night's state and a past
# night can be backfilled (point in time: nothing dated after it is used). The last partition is
# the day that has just ended. The first is the county's first night of deliveries (config/county.yaml).
NIGHTS = dg.DailyPartitionsDefinition(start_date=load_county().first_night.isoformat(), timezone="Asia/Shanghai")


class NightSettings(dg.ConfigurableResource):
    """The landing zone to read, the as-of date (YYYY-MM-DD; empty = yesterday, Beijing time),
    optionally a policy file to use instead of the one in force (config/policy/), and whether to
    recompute everything (``jiuzhu run --rebuild``: every feed restandardised from all of raw, core's
    facts added up again, every household scored) instead of only what is new."""

    landing: str
    as_of: str = ""
    policy: str = ""
    rebuild: bool = False

    def as_of_date(self) -> dt.date:
        return parse_as_of(self.as_of)

    def policy_in_force(self, as_of: dt.date | None = None) -> Policy:
        """The policy in force on ``as_of`` (default: this resource's date), or the file given."""
        from jiuzhu.config import load_policy

        return load_policy(as_of or self.as_of_date(), Path(self.policy) if self.policy else None)


def night_of(context, night: NightSettings) -> dt.date:
    """The date this run covers: its partition (the nightly job, the schedule, a backfill), else the
    ``night`` resource's as_of (the landing-zone sensor's ingest runs are not partitioned).

    Read from the run's tags so that it is the same for every asset and check of the run."""
    run = context.run if hasattr(context, "run") else context.op_execution_context.run
    key = run.tags.get(PARTITION_TAG)
    return dt.date.fromisoformat(key) if key else night.as_of_date()


def feed_asset_args(feed: Feed, layer: str, description: str, deps: list[dg.AssetKey] | None = None) -> dict:
    """Keyword arguments of ``@dg.asset`` for ``<layer>.<feed>`` (the asset key names the table)."""
    return dict(
        name=feed.name,
        key_prefix=[layer],
        group_name=layer,
        deps=deps or [],
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        owners=[f"team:{feed.department_id}"],
        tags={"layer": layer, "department": feed.department_id, "feed_kind": feed.kind},
        description=description,
    )


class Warehouse(dg.ConfigurableResource):
    """The county's DuckDB warehouse under the run's home directory."""

    home: str

    @property
    def path(self) -> Path:
        return Path(self.home) / "warehouse.duckdb"

    @property
    def scratch(self) -> Path:
        """Temporary files of a run (copies of files being read, spills): removed after a crash."""
        folder = Path(self.home) / SCRATCH_DIR
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def landing_fingerprints(self) -> Path:
        """The sha256 of landing files already seen (ingest/files.py Fingerprints)."""
        return Path(self.home) / "state" / "landing_sha256.json"

    @property
    def gx_results(self) -> Path:
        """Great Expectations' last results per feed, with the key of the rows they are for (checks/gx_suites.py)."""
        return Path(self.home) / "state" / "gx"

    # in a run, its steps' connections are cursors of one instance (warehouse.resource.RunConnection);
    # outside one (a test, a script), each connect opens the warehouse and closes it again
    _run: RunConnection | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._run = RunConnection(self.path)  # the in-process executor sets a run's resources up once

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.close()

    @contextmanager
    def connect(self, read_only: bool = False, alone: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse; ``read_only`` holds outside a run (in one, see RunConnection).
        ``alone``: an instance of its own, opened after the run's is closed and closed when done, so that
        DuckDB holds nothing of earlier steps (or of this one, after it) while the step holds much in Python."""
        Path(self.home).mkdir(parents=True, exist_ok=True)
        if self._run is not None and not alone:
            with self._run.cursor() as con:
                yield con
            return
        if self._run is not None:
            self._run.close()
        with connect(self.path, read_only=read_only) as con:
            yield con
