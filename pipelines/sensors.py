"""New files in the landing zone start the ingest of their feed, without waiting for the night.

The sensor ``landing_zone_new_files`` looks at ``<landing>/<feed>/…`` (the files ingest would
read, ingest/files.py) and, for each feed with files it has not requested before,
asks for one run of the job ``ingest_landing`` that materialises ``raw/<feed>`` (with its
checks) and ``audit/ingest_summary``. A file is identified by its sha256: a file whose bytes
were requested before is not new, whatever its name; a file changed in place is.

Nothing twice, nothing missed:

- the cursor (JSON) holds, per feed, the first 16 hex digits of the sha256 of every file
  already requested that is still in the landing zone — it is saved with the tick's run
  requests, so a restarted daemon goes on from it and requests only what came since;
- the run key is ``<feed>:<sha256 of the sorted sha256s of the files requested>``: an
  evaluation repeated with an older cursor over the same files gives the same run keys and
  Dagster launches nothing again; should it see more files by then, the run it requests
  also covers the older ones, which ingest skips (audit.files knows every file name and
  sha256 it has handled);
- a file modified less than ``SETTLE_SECONDS`` ago may still be being written and waits for
  a later evaluation, and so does a file whose extract date is after today (Beijing time).

Each run ingests as of today in Asia/Shanghai (the ``night`` resource's ``as_of``), so a
file dropped tonight is loaded now; point in time is kept downstream by its extract date.
The nightly job is unchanged and still ingests whatever is new at 01:30.

To avoid reading unchanged big files on every evaluation, the sha256 of each file is
remembered by path and identity (size, times, inode), in memory and in the home's
``state/landing_sha256.json``, shared with the nightly ingest (a cache only: the cursor decides).
Only counts reach logs and tags: a delivered file's name may hold personal data.
Hidden files, lock files and links out of the landing zone start nothing; the night records them.
"""

# no `from __future__ import annotations`: Dagster reads the sensor's type hints at definition time
import datetime as dt
import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg

from assets.audit import ingest_summary_asset
from assets.common import NightSettings, Warehouse
from assets.raw import raw_assets
from ingest.files import Fingerprints, LandedFile, list_feed_files
from jiuzhu.calendar import COUNTY_TZ
from jiuzhu.config import load_feeds

INGEST_JOB = "ingest_landing"
SENSOR_NAME = "landing_zone_new_files"
SETTLE_SECONDS = 60  # a file younger than this may still be being written
SHA_PREFIX = 16  # hex digits of a sha256 kept in the cursor (64 bits)
CURSOR_VERSION = 1

ingest_landing_job = dg.define_asset_job(
    INGEST_JOB,
    selection=dg.AssetSelection.assets(*raw_assets, ingest_summary_asset),
    # DuckDB has one writer: one process, steps one after another (as the nightly job)
    executor_def=dg.in_process_executor,
    description=(
        "接收目录中出现新文件时，只接收该部门的数据（raw/<feed> 及其检查）并更新接收汇总。"
        "\n\nIngest of the feeds with new files in the landing zone, started by the sensor "
        f"`{SENSOR_NAME}`: raw/<feed> with its checks, and audit/ingest_summary."
    ),
)


def today_in_county(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(tz=COUNTY_TZ)).astimezone(COUNTY_TZ).date()


# --- the cursor and the run requests ---------------------------------------------------------


def load_cursor(cursor: str | None) -> dict[str, list[str]]:
    """Per feed, the sha256 prefixes already requested. An unreadable cursor counts as empty:
    everything is requested again, and ingest skips what it has already handled."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        return {}
    return {feed: list(shas) for feed, shas in (data.get("requested") or {}).items()}


def dump_cursor(requested: dict[str, list[str]]) -> str:
    return json.dumps(
        {"v": CURSOR_VERSION, "requested": {f: s for f, s in sorted(requested.items()) if s}}, separators=(",", ":")
    )


def run_key(feed: str, shas: list[str]) -> str:
    """The same files (by full sha256) give the same key, whatever the cursor said."""
    digest = hashlib.sha256("\n".join(sorted(shas)).encode()).hexdigest()
    return f"{feed}:{digest[:24]}"


def ingest_request(feed: str, shas: list[str], landing: Path, today: dt.date) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key(feed, shas),
        asset_selection=[dg.AssetKey(["raw", feed]), ingest_summary_asset.key],
        run_config={"resources": {"night": {"config": {"landing": str(landing), "as_of": today.isoformat()}}}},
        tags={"jiuzhu/feed": feed, "jiuzhu/as_of": today.isoformat(), "jiuzhu/new_files": str(len(shas))},
    )


def evaluate_landing(
    landing: Path,
    cursor: str | None,
    today: dt.date,
    now: float | None = None,
    cache: Fingerprints | None = None,
    log=None,
) -> dg.SensorResult:
    """The sensor's work, without Dagster's context (the tests call it with their own dates)."""
    now = time.time() if now is None else now
    cache = cache or Fingerprints(None)
    before = load_cursor(cursor)
    after: dict[str, list[str]] = {}
    requests: list[dg.RunRequest] = []
    waiting = settling = 0
    for feed in load_feeds():
        requested = set(before.get(feed, []))
        present: set[str] = set()
        unsettled = False
        new: dict[str, LandedFile] = {}  # full sha256 → first file with those bytes
        for landed in list_feed_files(landing, feed):
            if landed.refused:  # hidden, a lock file, a link out of the landing zone: the night records it
                continue
            if landed.extract_date is not None and landed.extract_date > today:
                waiting += 1  # ingest would leave it for a later night anyway
                continue
            try:
                if now - landed.path.stat().st_mtime < SETTLE_SECONDS:
                    settling += 1
                    unsettled = True
                    continue
                sha = cache.sha256(landed.path)
            except OSError:  # removed or replaced while we looked: the next evaluation sees it
                settling += 1
                unsettled = True
                continue
            present.add(sha[:SHA_PREFIX])
            if sha[:SHA_PREFIX] not in requested:
                new.setdefault(sha, landed)
        if new:
            requests.append(ingest_request(feed, list(new), landing, today))
            if log is not None:  # counts only: a delivered file's name may hold an ID number or a name
                log.info(f"{feed}: {len(new)} 个新文件 new file(s) → {requests[-1].run_key}")
        # what was requested and is still there (a file that went away needs no memory); while a
        # file of the feed is being written we cannot tell which bytes it replaces: forget nothing
        kept = requested | {s[:SHA_PREFIX] for s in new}
        after[feed] = sorted(kept if unsettled else kept & present)
    cache.save(landing)
    new_cursor = dump_cursor(after)
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=new_cursor)
    notes = []
    if settling:
        notes.append(f"{settling} 个文件可能仍在写入 file(s) still being written")
    if waiting:
        notes.append(f"{waiting} 个文件的提取日期晚于今天 file(s) dated after today")
    return dg.SensorResult(
        skip_reason="没有新文件 no new files" + (f" ({'; '.join(notes)})" if notes else ""), cursor=new_cursor
    )


def _cache_for(context: dg.SensorEvaluationContext) -> Fingerprints:
    """The home's fingerprint cache, shared with the nightly ingest (Warehouse.landing_fingerprints)."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a test's context built without an instance
        return Fingerprints(None)
    if instance.is_ephemeral:
        return Fingerprints(None)
    home = os.environ.get("JIUZHU_HOME") or str(Path(instance.root_directory).parent)
    return Fingerprints(Warehouse(home=home).landing_fingerprints)


@dg.sensor(
    name=SENSOR_NAME,
    job=ingest_landing_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "接收目录 <landing>/<feed>/ 中出现新的或改动过的文件（按 sha256 判断）时，只接收该部门的数据，"
        "数据日期为北京时间今天。\n\nNew or changed files (by sha256) in <landing>/<feed>/ start ingest of "
        "that feed only, as of today in Asia/Shanghai. Cursor and run keys keep a file from being "
        "requested twice, across daemon restarts."
    ),
)
def landing_zone_sensor(context: dg.SensorEvaluationContext, night: NightSettings) -> dg.SensorResult:
    landing = Path(night.landing)
    if not landing.is_dir():
        return dg.SensorResult(skip_reason=f"接收目录不存在 landing zone not found: {landing}", cursor=context.cursor)
    return evaluate_landing(landing, context.cursor, today_in_county(), cache=_cache_for(context), log=context.log)
