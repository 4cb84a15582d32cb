"""The department scorecards (audit.scorecards): each feed's quality on the night, from the
measurements (transform/audit/quality.py) and freshness (transform/audit/freshness.py); and
tonight's quarantined rows counted by reason. Counts only: never a person's data."""

from __future__ import annotations

import datetime as dt

import duckdb

from jiuzhu.config import load_feeds
from transform.audit.freshness import freshness
from transform.audit.quality import FeedQuality


def scorecard_rows(con: duckdb.DuckDBPyConnection, measured: list[FeedQuality], as_of: dt.date) -> list[dict]:
    """One scorecard per feed: freshness, completeness, validity, duplicates, rejected files, top reasons."""
    feeds = load_feeds()
    timeliness = {f.feed: f for f in freshness(con, as_of)}
    out = []
    for fq in measured:
        feed = feeds[fq.feed]
        f = timeliness[fq.feed]
        required_missing = sum(n for code, n in fq.top_reasons if code == "REQUIRED_MISSING")
        rejected = con.execute(
            "SELECT count(*) FROM audit.files WHERE feed = ? AND status = 'rejected' AND coalesce(extract_date, ?) <= ?",
            [fq.feed, as_of, as_of],
        ).fetchall()[0][0]
        out.append(
            {
                "as_of_date": as_of,
                "department": feed.department,
                "feed": fq.feed,
                "extract_date": fq.extract_date,
                "days_since_last_file": fq.days_since_last_file,
                "expected_cadence_days": feed.cadence_days,
                "fresh": f.fresh,  # the newest loaded extract within the spec's max_age (transform/audit/freshness.py)
                "rows_tonight": fq.rows_tonight,
                "completeness": round(1 - required_missing / fq.rows_tonight, 4) if fq.rows_tonight else None,
                "validity": round(1 - fq.quarantine_share, 4) if fq.rows_tonight else None,
                "duplicate_keys": fq.duplicate_keys,
                "files_rejected": rejected,
                "top_reasons": ", ".join(f"{c} ×{n}" for c, n in fq.top_reasons) or None,
                "usable": fq.usable,
                "last_delivered": f.last_delivered,
                "age_days": f.age_days,
                "max_age_days": f.max_age_days,
                "on_time": f.label_zh,
                "freshness_note": f.message_zh,
            }
        )
    return out


def store_scorecards(con: duckdb.DuckDBPyConnection, as_of: dt.date, rows: list[dict]) -> None:
    """The night's scorecards in audit.scorecards (a re-run replaces them)."""
    con.execute("DELETE FROM audit.scorecards WHERE as_of_date = ?", [as_of])
    con.executemany(
        f"INSERT INTO audit.scorecards ({', '.join(rows[0])}) VALUES ({', '.join('?' * len(rows[0]))})",
        [list(r.values()) for r in rows],
    )


def quarantined_by_reason(con: duckdb.DuckDBPyConnection, measured: list[FeedQuality]) -> list[tuple[str, str, int]]:
    """(reason_code, feed, rows) quarantined from each feed's tonight's extract (at ingest or
    standardisation), counted as the quality measures count them."""
    out = []
    for fq in measured:
        if fq.extract_date is None:
            continue
        out += con.execute(
            """SELECT q.reason_code, f.feed, count(*) FROM audit.quarantine q JOIN audit.files f USING (file_id)
               WHERE f.feed = ? AND f.extract_date = ? GROUP BY ALL""",
            [fq.feed, dt.date.fromisoformat(fq.extract_date)],
        ).fetchall()
    return out
