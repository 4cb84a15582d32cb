"""Township feedback that cannot be taken, as the townships and the county see it (issue 13)."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import BEIJING
from python_calamine import CalamineWorkbook
from test_township_loop import D1, D2, answer, open_warnings
from test_warnings import base, load

from jiuzhu.config import load_feeds
from pipelines.nightly import print_feedback, print_freshness
from synth.feedback import save_returned
from transform.audit.freshness import freshness
from transform.audit.quality import measure
from warehouse.resource import connect

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
    # and 营丘镇 is told so in the workbook it receives
    sheet = CalamineWorkbook.from_path(str(exports(landing, D2) / "370725116_营丘镇.xlsx")).get_sheet_by_name(
        "未采用的反馈"
    )
    assert [(row[3], row[9][:9]) for row in sheet.to_python()[3:]] == [(h1, "该预警属于其他镇街")]


def send_again(returned, name: str, saved: dt.date, result: str | None = None) -> None:
    """The township opens the workbook it returned, writes a note on the rules sheet (a re-save changes
    the bytes anyway), changes H1's 核查结果 to ``result`` if given, and drops it in again as ``name``."""
    wb = CalamineWorkbook.from_path(str(returned))
    sheets = {s: wb.get_sheet_by_name(s).to_python() for s in wb.sheet_names}
    sheets["规则说明"].append(["已于今日再次报送"])
    if result:
        form = sheets["反馈"]
        top = next(i for i, row in enumerate(form) if row and row[0] == "预警编号")
        form[top + 1][form[top].index("核查结果")] = result
    save_returned(sheets, returned.parent / name, dt.datetime.combine(saved, dt.time(18), BEIJING))


@pytest.mark.parametrize("changed", [False, True], ids=["identical", "changed"])
def test_a_workbook_sent_again_counts_once_and_only_a_changed_answer_is_a_problem(landing, capsys, changed):
    base(landing)
    load(landing, D1)
    h1 = open_warnings(landing, D1)["H1"][0]
    saved = D2 - dt.timedelta(days=1)
    returned = landing.root / "zj_feedback" / "370725110_红河镇.xlsx"
    typo = h1[:-1] + ("9" if h1[-1] != "9" else "8")
    answer(
        exports(landing, D1) / returned.name,
        returned,
        {h1: ("2026-11-03", "情况属实", "纳入低保")},
        extra=[[typo, "2026-11-03", "情况属实"]],
        saved=saved,
    )
    send_again(returned, "370725110_红河镇（再次报送）.xlsx", saved, "无法联系" if changed else None)
    load(landing, D2)
    with connect(landing.warehouse, read_only=True) as con:
        print_feedback(con, D2)
        quality = measure(con, load_feeds()["zj_feedback"], D2)
    line = capsys.readouterr().out
    sheet = CalamineWorkbook.from_path(str(exports(landing, D2) / returned.name)).get_sheet_by_name("未采用的反馈")
    listed = [row[8] for row in sheet.to_python()[3:]]  # the reasons, under the title lines and the header
    if changed:  # two answers to one warning on one day: the later one stands, the earlier is a problem
        assert open_warnings(landing, D2)["H1"][5].startswith("无法联系")
        assert "rows not taken to date: DUPLICATE_KEY ×1, FEEDBACK_UNKNOWN_WARNING ×1；重复报送" in line
        assert "re-sent, counted once: 1" in line  # the typo's first copy
        assert any("内容不同" in reason for reason in listed) and len(listed) == 2
        assert quality.duplicate_keys == 1
    else:  # the same answers again: taken once, nothing for the township to correct but the typo
        assert open_warnings(landing, D2)["H1"][5] == "情况属实，纳入低保（2026-11-03）"
        assert (
            "rows not taken to date: FEEDBACK_UNKNOWN_WARNING ×1；重复报送（只计一次） re-sent, counted once: 2" in line
        )
        assert listed == ["预警编号不存在（此前没有下发过这个编号，可能填错）"]
        assert quality.duplicate_keys == 0 and quality.top_reasons == [("FEEDBACK_UNKNOWN_WARNING", 1)]
        assert quality.quarantined_tonight == 1 and quality.usable  # 1 of 4 rows: the typo, not the copies


def test_no_answers_before_a_workbook_went_out_is_no_alarm_and_late_answers_are(landing, capsys):
    base(landing)  # the departments deliver; no township has answered anything yet
    load(landing, D1)  # the first night sends the townships their workbooks
    gate = landing.query("SELECT usable, problems FROM audit.feed_gate WHERE feed = 'zj_feedback'")
    assert gate == [(True, None)]  # no answers yet is no fault of the data
    with connect(landing.warehouse, read_only=True) as con:
        first, due, late = (
            freshness(con, D1 + dt.timedelta(days=d), [load_feeds()["zj_feedback"]])[0] for d in (0, 8, 9)
        )
        print_freshness(con, D1 + dt.timedelta(days=9))
    assert (first.state, first.fresh, first.message_zh) == ("not_due", True, "尚未向镇街下发工作簿，无需反馈")
    assert (due.state, due.label_zh, due.message_zh) == ("not_due", "未到期", f"镇街工作簿 {D1} 起下发，应在8天内反馈")
    assert (late.state, late.fresh) == ("never_delivered", False)  # 8 days after the workbooks, nothing back
    assert "逾期 STALE zj_feedback — never delivered" in capsys.readouterr().out


def test_one_townships_many_wrong_rows_never_keep_the_others_answers_out(landing):
    """Each row of a returned form is one township's answer: twelve mistyped rows from 营丘镇 are
    quarantined and go back to it, and 红河镇's answer is taken the same night (no closed gate)."""
    from checks.staging_checks import _result

    base(landing)
    load(landing, D1)
    warnings = open_warnings(landing, D1)
    h1, h4 = warnings["H1"][0], warnings["H4"][0]
    answer(
        exports(landing, D1) / "370725110_红河镇.xlsx",
        landing.root / "zj_feedback" / "370725110_红河镇.xlsx",
        {h1: ("2026-11-03", "情况属实", "纳入低保")},
    )
    typos = [[f"YJ-20261101-{900000 + i}", "2026-11-03", "情况属实"] for i in range(12)]
    answer(
        exports(landing, D1) / "370725116_营丘镇.xlsx",
        landing.root / "zj_feedback" / "370725116_营丘镇.xlsx",
        {h4: ("2026-11-04", "情况属实", "医疗救助")},
        extra=typos,
    )
    load(landing, D2)
    answered = open_warnings(landing, D2)
    assert answered["H1"][5] == "情况属实，纳入低保（2026-11-03）" and answered["H4"][5].startswith("情况属实")
    with connect(landing.warehouse, read_only=True) as con:
        quality = measure(con, load_feeds()["zj_feedback"], D2)
    assert quality.quarantined_tonight == 12 and quality.quarantine_over_limit  # 12 of 14 rows
    gate = landing.query("SELECT usable FROM audit.feed_gate WHERE feed = 'zj_feedback' AND as_of_date = ?", [D2])
    assert quality.usable and gate == [(True,)]
    check = _result(load_feeds()["zj_feedback"], "quarantine_share_within_limit", quality)
    assert not check.passed and check.severity.value == "WARN"  # said, for 营丘镇 to correct
