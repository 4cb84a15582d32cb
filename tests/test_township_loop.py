"""The township loop: the workbook is the form, the answers come back as feedback, they are
checked, the deadlines are kept (issue 13)."""

from __future__ import annotations

import datetime as dt
import re
import zipfile

import pytest
from conftest import BEIJING
from python_calamine import CalamineWorkbook
from test_warnings import P, base, load

from exports.township import listed_warnings
from synth.feedback import save_returned

pytestmark = pytest.mark.slow  # whole nights through the nightly job

D1 = dt.date(2026, 11, 1)
D2 = dt.date(2026, 11, 9)  # 8 days on: a red warning's 3 days and an orange one's 7 are past


def answer(
    book, out, answers: dict[str, tuple], extra: list[list] = (), saved: dt.date = D2 - dt.timedelta(days=1)
) -> None:
    """The township's staff fill in the 反馈 sheet of ``book`` and save it as ``out`` on ``saved``:
    ``answers`` maps 预警编号 to (核查日期, 核查结果, 帮扶措施); ``extra`` rows are typed in below."""
    wb = CalamineWorkbook.from_path(str(book))
    sheets = {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}
    cells = sheets["反馈"]
    top = next(i for i, row in enumerate(cells) if row and row[0] == "预警编号")
    col = {name: j for j, name in enumerate(cells[top])}
    for row in cells[top + 1 :]:
        if row[0] in answers:
            checked, result, measure = answers[row[0]]
            row[col["核查日期"]], row[col["核查结果"]], row[col["帮扶措施"]] = checked, result, measure
            row[col["核查人"]] = "王建国"
    for wid, checked, result in extra:
        row = [""] * len(cells[top])
        row[0], row[col["核查日期"]], row[col["核查结果"]] = wid, checked, result
        cells.append(row)
    # returned under its own name: dated by when it was saved
    save_returned(sheets, out, dt.datetime.combine(saved, dt.time(17), BEIJING))


def book_of(landing, night: dt.date, township: str):
    """A night's workbook of a township (<code>_<name>)."""
    return landing.warehouse.parent / "exports" / night.isoformat() / f"{township}.xlsx"


def open_warnings(landing, as_of) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in landing.query(
            "SELECT household_id, warning_id, level, status, due_on, first_feedback_on, last_feedback "
            "FROM monitoring.warnings WHERE as_of_date = ?",
            [as_of],
        )
    }


def test_a_township_answers_in_its_workbook_and_the_next_night_applies_and_checks_it(landing):
    base(landing)
    load(landing, D1)
    first = open_warnings(landing, D1)
    h1, h4 = first["H1"], first["H4"]  # 红河镇's R01 (红), 营丘镇's R03 (橙)
    assert h1[1] == "红" and h1[3] == D1 + dt.timedelta(days=3)  # due: 3 days for 红 (policy file)
    assert h4[1] == "橙" and h4[3] == D1 + dt.timedelta(days=7)
    exports = landing.warehouse.parent / "exports" / D1.isoformat()
    book = exports / "370725110_红河镇.xlsx"
    form = CalamineWorkbook.from_path(str(book)).get_sheet_by_name("反馈").to_python()
    assert listed_warnings(form) == [h1[0]]  # pre-filled with the township's open warnings
    other = open_warnings(landing, D1)["H4"][0]  # 营丘镇's warning, pasted into 红河镇's form
    typo = h1[0][:-2] + h1[0][-1] + h1[0][-2] if h1[0][-1] != h1[0][-2] else h1[0][:-1] + "9"
    answer(
        book,
        landing.root / "zj_feedback" / book.name,
        {h1[0]: ("2026-11-03", "情况属实", "纳入低保")},
        extra=[
            [typo, "2026-11-03", "情况属实"],
            [other, "2026-11-04", "情况属实"],
            [h1[0], "2026-10-20", "无法联系"],  # before the warning began
            [h1[0], "2026-11-20", "情况属实"],  # after the workbook was returned
            [h1[0], "2026-11-05", "属实（张一）"],  # outside the list, and a name typed in
        ],
    )

    night = load(landing, D2)
    second = open_warnings(landing, D2)
    assert second["H1"][5] == "情况属实，纳入低保（2026-11-03）" and second["H1"][4] == dt.date(2026, 11, 3)
    assert second["H1"][2] == "continuing"  # answered within its 3 days: no escalation
    assert second["H4"][2] == "escalated" and second["H4"][4] is None  # 营丘镇 never answered: overdue
    quarantined = dict(
        landing.query(
            "SELECT reason_code, raw->>'预警编号' FROM audit.quarantine WHERE feed = 'zj_feedback' AND stage = 'feedback'"
        )
    )
    assert quarantined == {
        "FEEDBACK_UNKNOWN_WARNING": typo,
        "FEEDBACK_OTHER_TOWNSHIP": other,
        "FEEDBACK_BEFORE_WARNING": h1[0],
    }
    # the unanswered rows of the form are not feedback; the answered one and the five mistakes are
    assert landing.query("SELECT rows_read FROM audit.files WHERE feed = 'zj_feedback'") == [(6,)]
    # 红河镇 finds them in the workbook it receives next, each with what to do; 营丘镇 returned nothing
    received = CalamineWorkbook.from_path(str(book_of(landing, D2, book.stem)))
    sheet = received.get_sheet_by_name("未采用的反馈").to_python()
    top = next(i for i, row in enumerate(sheet) if row and row[0] == "报送文件")
    listed = {(row[3], row[5], row[6], row[9]) for row in sheet[top + 1 :]}
    assert listed == {
        (typo, "2026-11-03", "情况属实", "预警编号不存在：请核对后在下次反馈中更正"),
        (
            other,
            "2026-11-04",
            "情况属实",
            "该预警属于其他镇街，本镇街无需反馈；如确属本镇街，请联系县社会救助综合服务中心",
        ),
        (h1[0], "2026-10-20", "无法联系", "核查日期早于预警下发日期：请填写入户核查的实际日期，在下次反馈中更正"),
        (h1[0], "2026-11-20", "情况属实", "核查日期晚于报送日期（或早于1900年）：请核对后在下次反馈中更正"),
        (h1[0], "2026-11-05", "属实（张*）", "核查结果或帮扶措施不在下拉列表中：请从列表中选择，在下次反馈中更正"),
    }
    assert all(row[0] == book.name and row[1] == (D2 - dt.timedelta(days=1)).isoformat() for row in sheet[top + 1 :])
    assert "张一" not in str(sheet)  # what was typed is masked as the quality workbooks mask it
    # every sheet that goes out opens the same way: the county, whose, what, the night, the policy item
    for name in ("新增预警", "持续预警", "反馈", "未采用的反馈"):
        title = received.get_sheet_by_name(name).to_python()[0][0]
        assert title.startswith(
            f"昌乐县低收入人口监测预警 — 红河镇 — {name if name != '反馈' else '核查反馈表'}，截至 {D2}"
        )
        assert "乐办字〔2021〕21号" in title
    assert "未采用的反馈" not in CalamineWorkbook.from_path(str(book_of(landing, D2, "370725116_营丘镇"))).sheet_names
    # the county centre's supervision, counted by hand: 红河镇 answered its one warning on day 2 of 3
    # (情况属实); 营丘镇 never answered its 橙 warning, due on the 8th; 乔官镇's 橙 (R08) the same
    sup = {
        r[0]: r[1:]
        for r in landing.query(
            "SELECT township_name, open_warnings, overdue, due_so_far, answered_on_time, answered_on_time_share, "
            "median_days_to_feedback, found_true, found_true_share, oldest_unanswered, oldest_unanswered_days "
            "FROM monitoring.township_supervision WHERE as_of_date = ?",
            [D2],
        )
    }
    assert sup["红河镇"] == (1, 0, 1, 1, 1.0, 2.0, 1, 1.0, None, None)
    assert sup["营丘镇"] == (1, 1, 1, 0, 0.0, None, 0, None, h4[0], 8)
    assert sup["合计"][:5] == (len(second), sum(v[1] for k, v in sup.items() if k != "合计"), 3, 1, round(1 / 3, 4))
    # the UI shows the same: the oldest unanswered warnings in a table of their own
    [shown] = [m for m in night.asset_materializations_for_node("monitoring__township_supervision")]
    oldest = shown.metadata["oldest_unanswered"].value
    assert f"| 营丘镇 | {h4[0]} | 8 |" in oldest and "红河镇" not in oldest
    assert "| 营丘镇 | 1 | 1 |" in shown.metadata["supervision"].value
    centre = CalamineWorkbook.from_path(
        str(landing.warehouse.parent / "exports" / D2.isoformat() / "社会救助综合服务中心_督办汇总.xlsx")
    )
    overdue = centre.get_sheet_by_name("逾期未反馈").to_python()
    summary = centre.get_sheet_by_name("督办汇总").to_python()
    top = next(i for i, row in enumerate(summary) if row and row[0] == "镇街")
    not_taken = {row[0]: row[summary[top].index("未采用的反馈行（累计）")] for row in summary[top + 1 :]}
    assert (not_taken["红河镇"], not_taken["营丘镇"], not_taken["合计"]) == (5, 0, 5)  # the centre sees who sends what
    assert h4[0] in listed_warnings(overdue) and h1[0] not in listed_warnings(overdue)
    # the second night's workbook says by when, and how late
    rows = (
        CalamineWorkbook.from_path(str(landing.warehouse.parent / "exports" / D2.isoformat() / "370725116_营丘镇.xlsx"))
        .get_sheet_by_name("持续预警")
        .to_python()
    )
    top = next(i for i, row in enumerate(rows) if row and row[0] == "预警编号")
    row = dict(zip(rows[top], rows[top + 1]))
    assert row["应反馈日期"] == (D1 + dt.timedelta(days=7)).isoformat() and row["逾期天数"] == 1


def test_the_workbook_prints_and_carries_the_lists_of_answers(landing):
    base(landing)
    load(landing, D1)
    book = landing.warehouse.parent / "exports" / D1.isoformat() / "370725110_红河镇.xlsx"
    with zipfile.ZipFile(book) as z:
        names = CalamineWorkbook.from_path(str(book)).sheet_names
        sheets = {name: z.read(f"xl/worksheets/sheet{i + 1}.xml").decode() for i, name in enumerate(names)}
        workbook = z.read("xl/workbook.xml").decode()
    for name in ("新增预警", "持续预警", "本期解除", "反馈"):
        xml = sheets[name]
        assert 'orientation="landscape"' in xml and 'paperSize="9"' in xml  # A4 landscape
        assert 'fitToWidth="1"' in xml or 'fitToHeight="0"' in xml  # fit to the page width
        assert 'gridLines="1"' in xml  # gridlines printed
    assert workbook.count("_xlnm.Print_Titles") >= 4  # title and header rows on every page
    form = sheets["反馈"]
    lists = re.findall(r'<dataValidation type="list".*?<formula1>"(.*?)"</formula1>', form, re.S)
    assert "情况属实,情况不属实,已在保,无法联系" in lists
    assert any("纳入低保" in values for values in lists)
    assert '<dataValidation type="date"' in form
    title = CalamineWorkbook.from_path(str(book)).get_sheet_by_name("新增预警").to_python()[0][0]
    assert "红河镇" in title and D1.isoformat() in title
    rules = CalamineWorkbook.from_path(str(book)).get_sheet_by_name("规则说明").to_python()
    assert "第1条（完善最低生活保障制度）" in rules[1][4]  # clauses with the item's title


def test_each_department_gets_only_its_own_rules_and_the_columns_of_its_field_map(landing):
    from test_warnings import PETITION

    from jiuzhu.config import load_department_lists

    base(landing)
    # 张四 (H4) is R03 for his medical spending, and petitions too: R08 for the petition office
    landing.write("xf_petitions", "x2_20261101.csv", PETITION + f"X2,{P['d']},张四,2026-10-25,营丘,生活困难,看不起病\n")
    load(landing, D1)
    folder = landing.warehouse.parent / "exports" / D1.isoformat() / "departments"
    default, named = load_department_lists()
    for book in sorted(folder.glob("*.xlsx")):
        rows = CalamineWorkbook.from_path(str(book)).get_sheet_by_name("预警清单").to_python()
        top = next(i for i, row in enumerate(rows) if row and row[0] == "预警编号")
        assert tuple(rows[top]) == named.get(book.stem, default), book.stem  # exactly the columns of its map
    petitions = CalamineWorkbook.from_path(str(folder / "县信访局.xlsx")).get_sheet_by_name("预警清单").to_python()
    text = str(petitions)
    assert "张四" in text and "R08" in text  # the petitioner is on the petition office's list ...
    assert "R03" not in text and "医疗" not in text and "自付" not in text  # ... without his medical spending
    medical = str(CalamineWorkbook.from_path(str(folder / "县医保局.xlsx")).get_sheet_by_name("预警清单").to_python())
    assert "自付" in medical and "R08" not in medical and "信访" not in medical
