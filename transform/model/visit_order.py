"""The order in which a township would visit its households on the model's word, sharing its visit
capacity fairly between households headed by women and by men (issue 15, the model card).

Ranking by the score alone gave households headed by women fewer of a township's first places than
their share of the households that went on to need help (the model card's fairness section, and the
README, give the figures). Their scores are as well calibrated as men's overall, but fewer of their
cases show the sharp signals (contributions stopping, registered unemployment) that put a household
at the very top.

The balanced order keeps each group's *expected* recall level as the township goes down its list:
a household's place is decided by the share of its own group's expected cases (the sum of the
calibrated scores, in its township and night) already ahead of it, ties by score. Within a group the
order is still the score's. The next place goes to whichever group has had the smaller share of its
expected cases visited so far. Balancing urban and rural households as well was measured and left
out: it cost more of the cases found and did not bring 城镇 closer (their top scores are the
over-confident ones, so more of their places found fewer cases).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from warehouse.resource import registered

BALANCED_BY = ("head_sex",)  # the groups whose expected recall is kept level (no known head: the township's pace)


def visit_order_sql(source: str, night: str, township: str, score: str, key: str) -> str:
    """``source``'s rows with ``visit_order``: 1 is the first household its township visits that night.
    A household whose group is not known (no head in the roster) keeps the township's own pace: its
    share is that of the whole township's expected cases ahead of it, as if ranked by score alone
    (as a group of its own, each township's first place went to it)."""

    def share_ahead(within: str) -> str:
        return f"""coalesce(sum({score}) OVER (PARTITION BY {within} ORDER BY {score} DESC, {key}
                                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                   / nullif(sum({score}) OVER (PARTITION BY {within}), 0)"""

    unknown = " OR ".join(f"{column} IS NULL" for column in BALANCED_BY)
    return f"""
        SELECT * EXCLUDE (share_ahead),
               row_number() OVER (PARTITION BY {night}, {township} ORDER BY share_ahead NULLS LAST, {score} DESC, {key})
                   AS visit_order
        FROM (SELECT *,
                     CASE WHEN {unknown} THEN {share_ahead(f"{night}, {township}")}
                          ELSE {share_ahead(", ".join((night, township, *BALANCED_BY)))} END AS share_ahead
              FROM {source})"""


def with_visit_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The held-out rows (as_of_date, township_name, head_sex, household_id, score) with their visit
    order, by the same SQL the nightly scores are ordered with."""
    rows = frame.assign(_jz_row=np.arange(len(frame)))
    with duckdb.connect() as con, registered(con, "_jz_rows", rows):
        order = con.execute(
            f"""SELECT visit_order FROM ({visit_order_sql("_jz_rows", "as_of_date", "township_name", "score", "household_id")})
                ORDER BY _jz_row"""
        ).fetchnumpy()["visit_order"]
    return frame.assign(visit_order=order)
