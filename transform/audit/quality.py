"""Measurements of a feed's quality on the as-of date, shared by the Dagster checks,
the feed gate and the department scorecards. Counts only: never a person's data."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import asdict, dataclass, field

import duckdb

from jiuzhu.config import ROSTER_FEED, Feed, load_feeds, load_quality
from transform.staging.build import persons_table, snapshot_in_force
from transform.staging.spec_sql import RESENT
from warehouse.resource import quote_ident as q


def tonights_extract(con: duckdb.DuckDBPyConnection, feed: str, as_of: dt.date) -> dt.date | None:
    return con.execute(
        "SELECT max(extract_date) FROM audit.files WHERE feed = ? AND status = 'loaded' AND extract_date <= ?",
        [feed, as_of],
    ).fetchall()[0][0]


@dataclass
class FeedQuality:
    feed: str
    as_of: str
    extract_date: str | None  # tonight's extract
    days_since_last_file: int | None
    files_tonight: int = 0
    rows_tonight: int = 0
    quarantined_tonight: int = 0
    quarantine_share: float = 0.0
    duplicate_keys: int = 0  # tonight's rows quarantined as DUPLICATE_KEY (a repeated key with other values)
    duplicate_share: float = 0.0
    quarantine_over_limit: bool = False  # the two gates on shares of tonight's rows (over_limit)
    duplicates_over_limit: bool = False
    snapshot_rows: int | None = None
    previous_snapshot_rows: int | None = None
    snapshot_shrink: float | None = None
    history_median_rows: float | None = None
    row_count_ratio: float | None = None
    roster_coverage: float | None = None
    top_reasons: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why the feed cannot be used tonight

    @property
    def usable(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return asdict(self) | {"usable": self.usable}


def over_limit(share: float, rows: int, max_share: float) -> bool:
    """A gate closes over a share of tonight's rows, and never over a handful: those rows are in the
    quarantine already, and the rest of the feed is no less sound for them (gate_min_rows)."""
    return share > max_share and rows >= load_quality()["gate_min_rows"]


def measure(con: duckdb.DuckDBPyConnection, feed: Feed, as_of: dt.date) -> FeedQuality:
    limits = load_quality()
    extract = tonights_extract(con, feed.name, as_of)
    last_file = con.execute(
        "SELECT max(extract_date) FROM audit.files WHERE feed = ? AND extract_date <= ?", [feed.name, as_of]
    ).fetchall()[0][0]
    fq = FeedQuality(
        feed.name,
        as_of.isoformat(),
        extract.isoformat() if extract else None,
        (as_of - last_file).days if last_file else None,
    )
    if extract is None:
        if not feed.returned_form:  # no answers yet is no fault of the data (freshness says when they are due)
            fq.problems.append("没有可用的数据文件")
        return fq

    files, rows = con.execute(
        """SELECT count(*), coalesce(sum(rows_read), 0) FROM audit.files
           WHERE feed = ? AND status = 'loaded' AND extract_date = ?""",
        [feed.name, extract],
    ).fetchall()[0]
    fq.files_tonight, fq.rows_tonight = files, int(rows)
    reasons = con.execute(
        """SELECT q.reason_code, count(*) FROM audit.quarantine q JOIN audit.files f USING (file_id)
           WHERE f.feed = ? AND f.extract_date = ? GROUP BY 1 ORDER BY 2 DESC, 1""",
        [feed.name, extract],
    ).fetchall()
    # a row sent twice (DUPLICATE_ROW) loses nothing, the other copy stands: listed, never counted against the feed
    reasons = [(code, n) for code, n in reasons if code != RESENT]
    fq.top_reasons = reasons[:5]
    fq.quarantined_tonight = sum(n for _, n in reasons)
    fq.quarantine_share = round(fq.quarantined_tonight / fq.rows_tonight, 4) if fq.rows_tonight else 0.0
    fq.quarantine_over_limit = over_limit(fq.quarantine_share, fq.quarantined_tonight, limits["max_quarantine_share"])
    # A returned form's rows are each one township's answer, checked one by one, and the rows not
    # taken go back to that township: many of them are its to correct (the check warns), never a
    # reason to leave the other townships' answers out. So its shares close no gate.
    gated = not feed.returned_form
    if fq.quarantine_over_limit and gated:
        fq.problems.append(
            f"今晚 {fq.quarantine_share:.1%} 的数据行（{fq.quarantined_tonight} 行）被隔离，超过 {limits['max_quarantine_share']:.0%} 的上限"
        )

    # a duplicated key quarantines its earlier rows (staging); only many of them close the feed
    fq.duplicate_keys = sum(n for code, n in reasons if code == "DUPLICATE_KEY")
    fq.duplicate_share = round(fq.duplicate_keys / fq.rows_tonight, 4) if fq.rows_tonight else 0.0
    fq.duplicates_over_limit = over_limit(fq.duplicate_share, fq.duplicate_keys, limits["max_duplicate_key_share"])
    if fq.duplicates_over_limit and gated:
        fq.problems.append(
            f"今晚 {fq.duplicate_share:.1%} 的数据行业务主键（{'+'.join(feed.natural_key)}）重复，"
            f"超过 {limits['max_duplicate_key_share']:.0%} 的上限"
        )

    per_extract = con.execute(
        """SELECT extract_date, sum(rows_read) FROM audit.files
           WHERE feed = ? AND status = 'loaded' AND rows_read > 0 AND extract_date <= ?
           GROUP BY 1 ORDER BY 1 DESC LIMIT 8""",
        [feed.name, as_of],
    ).fetchall()
    history = [int(n) for d, n in per_extract if d < extract][:7]
    if history:
        fq.history_median_rows = float(statistics.median(history))
        fq.row_count_ratio = round(fq.rows_tonight / fq.history_median_rows, 3) if fq.history_median_rows else None

    if feed.kind == "snapshot":
        in_force = snapshot_in_force(con, feed.name, as_of)
        fq.snapshot_rows = int(per_extract[0][1]) if per_extract and per_extract[0][0] == in_force else None
        previous = [int(n) for d, n in per_extract if in_force and d < in_force]
        if previous and fq.snapshot_rows is not None:
            fq.previous_snapshot_rows = previous[0]
            fq.snapshot_shrink = round(1 - fq.snapshot_rows / previous[0], 4)
            if fq.snapshot_shrink > limits["max_snapshot_shrink"]:
                fq.problems.append(
                    f"名册快照比上一期少了 {fq.snapshot_shrink:.1%}（{fq.snapshot_rows} 行，上期 {previous[0]} 行），"
                    f"超过 {limits['max_snapshot_shrink']:.0%} 的上限"
                )

    if feed.name in limits["coverage_feeds"]:
        fq.roster_coverage = roster_coverage(con, feed)
    return fq


def roster_coverage(con: duckdb.DuckDBPyConnection, feed: Feed) -> float | None:
    """Share of the feed's distinct current persons who are in the current roster."""
    ids = [c.field for c in feed.columns if c.type == "id"]
    if not ids:
        return None
    kept = persons_table(feed)
    persons = (  # staging keeps who an incremental feed's current rows name: its history is not read again
        f"SELECT id_number AS id FROM {kept}"
        if kept and ids[0] == "id_number"
        else f"SELECT DISTINCT {q(ids[0])} AS id FROM staging.{feed.name} WHERE is_current AND {q(ids[0])} IS NOT NULL"
    )
    found, total = con.execute(
        f"""WITH p AS ({persons}),
                 roster AS (SELECT DISTINCT id_number AS id FROM staging.{ROSTER_FEED} WHERE is_current)
            SELECT count(roster.id), count(*) FROM p LEFT JOIN roster USING (id)"""
    ).fetchall()[0]
    return round(found / total, 4) if total else None


def measure_all(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[FeedQuality]:
    return [measure(con, feed, as_of) for feed in load_feeds().values()]
