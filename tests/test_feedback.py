"""Township feedback that cannot be taken, as the townships and the county see it (issue 13)."""

from __future__ import annotations

import datetime as dt

import pytest
from test_township_loop import D1, D2, answer, open_warnings
from test_warnings import base, load

pytestmark = pytest.mark.slow  # whole nights through the nightly job


def exports(landing, night: dt.date):
    return landing.warehouse.parent / "exports" / night.isoformat()


def feedback_quarantine(landing) -> list[tuple]:
    return landing.query(
        "SELECT file_name, reason_code, raw->>'预警编号', raw->>'核查结果' FROM audit.quarantine "
        "WHERE feed = 'zj_feedback' ORDER BY ALL"
    )


@pytest.mark.parametrize("days_later", [0, 1], ids=["same day", "a day later"])
def test_another_townships_row_on_the_same_warning_and_date_never_displaces_the_genuine_answer(landing, days_later):
    base(landing)
    load(landing, D1)
    h1 = open_warnings(landing, D1)["H1"][0]  # 红河镇's warning
    saved = D2 - dt.timedelta(days=2)
    answer(
        exports(landing, D1) / "370725110_红河镇.xlsx",
        landing.root / "zj_feedback" / "370725110_红河镇.xlsx",
        {h1: ("2026-11-03", "情况属实", "纳入低保")},
        saved=saved,
    )
    # 营丘镇 pastes 红河镇's warning into its own form, same check date, another result
    answer(
        exports(landing, D1) / "370725116_营丘镇.xlsx",
        landing.root / "zj_feedback" / "370725116_营丘镇.xlsx",
        {},
        extra=[[h1, "2026-11-03", "情况不属实"]],
        saved=saved + dt.timedelta(days=days_later),
    )
    load(landing, D2)

    assert open_warnings(landing, D2)["H1"][5] == "情况属实，纳入低保（2026-11-03）"  # 红河镇's answer stands
    assert feedback_quarantine(landing) == [("370725116_营丘镇.xlsx", "FEEDBACK_OTHER_TOWNSHIP", h1, "情况不属实")]
