"""Freshness: is each department still delivering? One SQL statement over
audit.files for all feeds, shared by the Dagster check on every raw feed
(checks/freshness.py), the department scorecards and the night's summary.

For the as-of date D, per feed:

- ``last_delivered`` — the newest extract date of any file the department sent
  (loaded, rejected or a duplicate): the department is still sending something.
- ``last_loaded`` — the newest extract date of a loaded file (a header-only
  increment counts: "nothing new today" is a delivery). Freshness is judged on
  this one: a rejected file brings no usable data, and a duplicate is the same
  bytes as a file already loaded, so it brings nothing newer than that file.
- ``age_days`` = D − last_loaded; fresh when it is within the spec's max_age
  (``Feed.max_age_days`` explains how hours become whole days).
- a returned form (zj_feedback: the townships answer the workbooks the nights send) with no
  file yet is ``not_due`` until max_age after the first township workbook went out.

Point in time: only files dated on or before D count (a file dated later waits
for a later night and never makes tonight fresh); a file without a date in its
name cannot be placed in time and does not count. Dates and counts only: never
a person's data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from jiuzhu.config import Feed, load_feeds

FRESHNESS_SQL = """
WITH spec AS (  -- the feed spec as a relation: one row per feed
    SELECT unnest($ordinal::INTEGER[]) AS ordinal, unnest($feed::VARCHAR[]) AS feed,
           unnest($department::VARCHAR[]) AS department, unnest($max_age_days::INTEGER[]) AS max_age_days,
           unnest($allowed_zh::VARCHAR[]) AS allowed_zh, unnest($allowed_en::VARCHAR[]) AS allowed_en,
           unnest($form::BOOLEAN[]) AS form
), sent AS (  -- the first night that sent the townships their workbooks (the forms they answer in)
    SELECT min(as_of_date) AS first_sent FROM audit.export_log WHERE kind = 'township' AND as_of_date < $as_of
), files AS (
    SELECT feed,
           max(extract_date) AS last_delivered,
           max(extract_date) FILTER (WHERE status = 'loaded') AS last_loaded
    FROM audit.files
    WHERE extract_date <= $as_of  -- point in time; a file without a date in its name cannot be placed
    GROUP BY feed
), measured AS (
    SELECT s.*, f.last_delivered, f.last_loaded, sent.first_sent,
           date_diff('day', f.last_loaded, $as_of::DATE) AS age_days,
           date_diff('day', f.last_delivered, $as_of::DATE) AS days_since_delivery,
           CASE WHEN f.last_delivered IS NULL AND s.form
                     AND coalesce(date_diff('day', sent.first_sent, $as_of::DATE) <= s.max_age_days, true) THEN 'not_due'
                WHEN f.last_delivered IS NULL THEN 'never_delivered'
                WHEN f.last_loaded IS NULL THEN 'never_loaded'
                WHEN date_diff('day', f.last_loaded, $as_of::DATE) <= s.max_age_days THEN 'fresh'  -- Feed.max_age_days
                ELSE 'stale' END AS state
    FROM spec s LEFT JOIN files f USING (feed) CROSS JOIN sent
)
SELECT feed, department, last_delivered, last_loaded, age_days, days_since_delivery, max_age_days,
       state IN ('fresh', 'not_due') AS fresh, state,
       CASE state WHEN 'fresh' THEN '按时' WHEN 'stale' THEN '逾期' WHEN 'never_loaded' THEN '无可用文件'
                  WHEN 'not_due' THEN '未到期' ELSE '从未报送' END AS label_zh,
       CASE state
           WHEN 'not_due' THEN coalesce(format('镇街工作簿 {} 起下发，应在{}内反馈', first_sent, allowed_zh),
                                        '尚未向镇街下发工作簿，无需反馈')
           WHEN 'never_delivered' THEN format('截至 {} 从未报送任何文件（应在{}内报送）', $as_of::DATE, allowed_zh)
           WHEN 'never_loaded' THEN format('有报送（最近 {}），但文件均被拒收或为重复文件，没有可用数据（应在{}内）',
                                           last_delivered, allowed_zh)
           ELSE format('最近提取日期 {}，距今 {} 天（应在{}内）', last_loaded, age_days, allowed_zh)
                || CASE WHEN last_delivered > last_loaded
                        THEN format('；此后报送的文件（最近 {}）被拒收或为重复文件', last_delivered) ELSE '' END
       END AS message_zh,
       CASE state
           WHEN 'not_due' THEN coalesce(format('not due: township workbooks sent since {}, answers expected within {}',
                                               first_sent, allowed_en), 'not due: no township workbook sent yet')
           WHEN 'never_delivered' THEN format('never delivered: no file dated on or before {} (expected within {})',
                                              $as_of::DATE, allowed_en)
           WHEN 'never_loaded' THEN format('files delivered (last {}) but all rejected or duplicates, no usable data (expected within {})',
                                           last_delivered, allowed_en)
           ELSE format('last extract {}, {} {} ago (expected within {})', last_loaded, age_days,
                       CASE WHEN age_days = 1 THEN 'day' ELSE 'days' END, allowed_en)
                || CASE WHEN last_delivered > last_loaded
                        THEN format('; files delivered since (last {}) were rejected or duplicates', last_delivered) ELSE '' END
       END AS message_en
FROM measured
ORDER BY ordinal
"""


@dataclass(frozen=True)
class FeedFreshness:
    feed: str
    department: str
    last_delivered: dt.date | None  # newest file of any status dated on or before the as-of date
    last_loaded: dt.date | None  # newest loaded file: the data the night can use
    age_days: int | None  # as-of − last_loaded
    days_since_delivery: int | None  # as-of − last_delivered
    max_age_days: int
    fresh: bool
    state: str  # fresh | stale | never_loaded | never_delivered | not_due
    label_zh: str  # 按时 | 逾期 | 无可用文件 | 从未报送 | 未到期
    message_zh: str
    message_en: str


def freshness(con: duckdb.DuckDBPyConnection, as_of: dt.date, feeds: list[Feed] | None = None) -> list[FeedFreshness]:
    """Per feed of the spec (or of ``feeds``), in spec order: how fresh its data is on ``as_of``."""
    feeds = list(load_feeds().values()) if feeds is None else feeds
    params = {
        "as_of": as_of,
        "ordinal": list(range(len(feeds))),
        "feed": [f.name for f in feeds],
        "department": [f.department for f in feeds],
        "max_age_days": [f.max_age_days for f in feeds],
        "allowed_zh": [f.max_age_text[0] for f in feeds],
        "allowed_en": [f.max_age_text[1] for f in feeds],
        "form": [f.returned_form for f in feeds],
    }
    return [FeedFreshness(*row) for row in con.execute(FRESHNESS_SQL, params).fetchall()]
