"""Quality gates through Dagster: a blocked department's feed is left out of tonight's rules
without stopping the night; only an unusable roster stops what depends on it. Scorecards and
each department's workbook of quarantined rows, with ID numbers masked."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
from python_calamine import CalamineWorkbook

from assets.common import NightSettings, Warehouse
from assets.quality import feed_gate, scorecards, township_feedback
from assets.raw import raw_assets
from assets.staging import staging_assets
from checks.gx_suites import gx_checks, tonights_rows, validate
from checks.staging_checks import quality_checks
from jiuzhu.config import load_feeds
from jiuzhu.idnumber import make_id
from warehouse.resource import connect

AS_OF = "2026-11-28"
MEMBERS = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居\n"
DEATHS = "身份证号,姓名,死亡日期\n"


def _ids(n: int, year: int = 1970) -> list[str]:
    return [make_id("370725", f"{year}0101", 100 + i) for i in range(n)]


def _roster(ids: list[str], bad: int = 0) -> str:
    rows = [f"H{i},{pid},人{i},户主,农村,红河,甲村" for i, pid in enumerate(ids)]
    for i in range(bad):  # a wrong check digit: quarantined
        pid = ids[i]
        rows[i] = f"H{i},{pid[:17]}{'0' if pid[17] != '0' else '1'},人{i},户主,农村,红河,甲村"
    return MEMBERS + "\n".join(rows) + "\n"


def _night(landing):
    return dg.materialize(
        [*raw_assets, *staging_assets, township_feedback, feed_gate, scorecards, *quality_checks, *gx_checks],
        resources={
            "warehouse": Warehouse(home=str(landing.warehouse.parent)),
            "night": NightSettings(landing=str(landing.root)),
        },
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=str(AS_OF),  # the night (raw ingest, not partitioned, takes it from the run)
        raise_on_error=False,
    )


def _check(result, name: str, asset: str):
    return next(
        e for e in result.get_asset_check_evaluations() if e.check_name == name and e.asset_key.path[-1] == asset
    )


def test_a_department_over_the_quarantine_limit_is_left_out_but_the_night_goes_on(landing):
    ids = _ids(40)
    landing.write("mz_members", "m_20261128.csv", _roster(ids))
    deaths = [f"{pid},人{i},2026-11-0{1 + i % 9}" for i, pid in enumerate(ids)]
    for i in range(10):  # 10 of 40 rows quarantined: 25 % > 5 %, and enough rows to say the extract is broken
        deaths[i] = f"{ids[i]},人{i},2026-99-99"
    landing.write("wj_deaths", "d_20261128.csv", DEATHS + "\n".join(deaths) + "\n")
    result = _night(landing)
    assert result.success
    check = _check(result, "quarantine_share_within_limit", "wj_deaths")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert _check(result, "quarantine_share_within_limit", "mz_members").passed
    gate = dict(landing.query("SELECT feed, usable FROM audit.feed_gate WHERE as_of_date = ?", [dt.date(2026, 11, 28)]))
    assert gate["mz_members"] is True and gate["wj_deaths"] is False
    problems = landing.query("SELECT problems FROM audit.feed_gate WHERE feed = 'wj_deaths'")[0][0]
    assert "25.0%" in problems and "10 行" in problems
    assert result.asset_materializations_for_node("audit__scorecards")  # the night went on


def test_a_few_bad_or_repeated_rows_never_close_a_feed(landing):
    """A small day's extract with one bad row (10 %) and one repeated key: both rows are quarantined,
    and the feed stays usable for tonight's rules (gate_min_rows)."""
    ids = _ids(12)
    landing.write("mz_members", "m_20261128.csv", _roster(ids))
    deaths = [f"{pid},人{i},2026-11-0{1 + i % 9}" for i, pid in enumerate(ids[:10])]
    deaths[0] = f"{ids[0]},人0,2026-99-99"
    deaths.append(f"{ids[1]},人1,2026-11-03")  # the same person's death twice: the later row stands
    landing.write("wj_deaths", "d_20261128.csv", DEATHS + "\n".join(deaths) + "\n")
    result = _night(landing)
    assert result.success
    assert _check(result, "quarantine_share_within_limit", "wj_deaths").passed
    assert _check(result, "duplicate_keys_within_limit", "wj_deaths").passed
    assert landing.query("SELECT usable FROM audit.feed_gate WHERE feed = 'wj_deaths'") == [(True,)]
    assert sorted(landing.query("SELECT reason_code FROM audit.quarantine WHERE feed = 'wj_deaths'")) == [
        ("DATE_INVALID",),
        ("DUPLICATE_KEY",),
    ]


def test_great_expectations_finds_what_standardisation_let_through(landing):
    """Tonight's rows pass their suite; a row standardisation should have stopped (a member's key
    twice among tonight's rows, as a bug in staging would leave it) fails it, naming the expectation
    and how many rows, never a value. Names and free text are not read into the check."""
    ids = _ids(12)
    landing.write("mz_members", "m_20261128.csv", _roster(ids))
    landing.write("wj_deaths", "d_20261128.csv", DEATHS + f"{ids[5]},人5,2026-11-01\n")
    result = _night(landing)
    for feed, rows in (("mz_members", 12), ("wj_deaths", 1)):
        check = _check(result, "great_expectations_suite", feed)
        assert check.passed and check.metadata["rows_validated"].value == rows
        assert check.metadata["expectations"].value > 0
    with connect(landing.warehouse) as con:
        con.execute(
            "INSERT INTO staging.mz_members SELECT * REPLACE (source_row + 100 AS source_row) FROM staging.mz_members LIMIT 1"
        )
        frame = tonights_rows(con, load_feeds()["mz_members"], dt.date(2026, 11, 28), 1000)
    assert len(frame) == 13 and "phone" not in frame.columns and "address" not in frame.columns
    failed = [r for r in validate(load_feeds()["mz_members"], frame) if not r["success"]]
    assert failed == [
        {
            "expectation": "expect_compound_columns_to_be_unique",
            "column": "household_id+id_number",
            "success": False,
            "unexpected_count": 2,
        }
    ]
    assert not any(pid in json.dumps(failed) for pid in ids)


def test_great_expectations_validates_the_same_rows_once(landing):
    """A night whose rows are the ones validated before shows their results again without validating;
    any change to the rows (here a key left twice, as a bug in staging would) validates them again."""
    landing.write("mz_members", "m_20261128.csv", _roster(_ids(12)))
    first = _check(_night(landing), "great_expectations_suite", "mz_members")
    assert first.passed and first.metadata["validated"].value.startswith("本晚验证")
    again = _check(_night(landing), "great_expectations_suite", "mz_members")
    assert again.passed and not again.metadata["validated"].value.startswith("本晚验证")
    assert again.metadata["rows_validated"].value == 12 and again.metadata["expectations"].value > 0
    with connect(landing.warehouse) as con:
        con.execute(
            "INSERT INTO staging.mz_members SELECT * REPLACE (source_row + 100 AS source_row) FROM staging.mz_members LIMIT 1"
        )
    broken = _check(_night(landing), "great_expectations_suite", "mz_members")
    assert not broken.passed and broken.metadata["validated"].value.startswith("本晚验证")
    assert broken.metadata["rows_validated"].value == 13
    kept = landing.warehouse.parent / "state" / "gx" / "mz_members.json"
    assert kept.stat().st_mode & 0o777 == 0o600


def test_roster_coverage_counts_the_persons_a_feed_names_tonight(landing):
    """The share of a department's current persons found in tonight's roster: each person once, and a
    registration resent under another person counts that person, not the one it first named."""
    ids, outsiders = _ids(10), _ids(2, year=1980)
    landing.write("mz_members", "m_20261128.csv", _roster(ids))
    header = "登记编号,身份证号,姓名,登记类别,登记日期\n"
    first = [f"R{i},{pid},人{i},失业登记,2026-11-01" for i, pid in enumerate(ids[:6])]
    first += [f"R6,{outsiders[0]},甲,失业登记,2026-11-01", f"R7,{ids[0]},人0,就业登记,2026-11-02"]
    landing.write("rs_employment", "e_20261127.csv", header + "\n".join(first) + "\n")
    landing.write("rs_employment", "e_20261128.csv", header + f"R5,{outsiders[1]},乙,失业登记,2026-11-01\n")
    result = _night(landing)
    check = _check(result, "persons_found_in_roster", "rs_employment")
    # current: R0-R4 and R7 name five roster members, R5 and R6 the two outsiders
    assert check.metadata["roster_coverage"].value == round(5 / 7, 4)
    assert not check.passed  # under min_roster_coverage (0.80): a warning


def test_an_unusable_roster_stops_what_depends_on_it(landing):
    ids = _ids(60)
    landing.write("mz_members", "m_20261128.csv", _roster(ids, bad=12))  # 20 % quarantined
    landing.write("wj_deaths", "d_20261128.csv", DEATHS + f"{ids[5]},人5,2026-11-01\n")
    result = _night(landing)
    gate_check = _check(result, "quarantine_share_within_limit", "mz_members")
    assert not gate_check.passed
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "staging/wj_deaths" in materialised  # other departments are still standardised
    assert "audit/feed_gate" not in materialised and "audit/scorecards" not in materialised


def test_a_shrunken_roster_snapshot_is_caught(landing):
    ids = _ids(50)
    landing.write("mz_members", "m_20261127.csv", _roster(ids))
    landing.write("mz_members", "m_20261128.csv", _roster(ids[:35]))  # 30 % fewer rows
    result = _night(landing)
    check = _check(result, "snapshot_not_shrunk", "mz_members")
    assert not check.passed and check.metadata["shrink"].value == 0.3


def test_the_quality_workbook_lists_the_last_month_not_the_whole_history(landing):
    """Rows quarantined from a file of two months ago were listed on its nights; tonight's workbook
    lists the last 31 days (config/quality.yaml workbook_days), so it does not grow with the years."""
    ids = _ids(30)
    landing.write("mz_members", "m_20261128.csv", _roster(ids))
    old, new = f"{ids[1][:17]}X", f"{ids[2][:17]}X"  # checksums broken
    landing.write("wj_deaths", "d_20260920.csv", DEATHS + f"{old},甲,2026-09-01\n")
    landing.write("wj_deaths", "d_20261120.csv", DEATHS + f"{new},乙,2026-11-01\n")
    assert _night(landing).success
    book = CalamineWorkbook.from_path(str(landing.warehouse.parent / "exports" / AS_OF / "quality" / "wj_deaths.xlsx"))
    listed = book.get_sheet_by_name("隔离的行").to_python()[1:]
    assert [row[0] for row in listed] == ["d_20261120.csv"]
    assert landing.query("SELECT count(*) FROM audit.quarantine WHERE feed = 'wj_deaths'") == [(2,)]  # both kept


def test_scorecard_and_quality_workbook_with_masked_ids(landing):
    ids = _ids(30)
    bad = f"{ids[3][:17]}{'0' if ids[3][17] != '0' else '1'}"
    # one roster row quarantined, of a household numbered as 民政 numbers them (16 digits)
    landing.write("mz_members", "m_20261128.csv", _roster(ids) + f"3707250021227891,{bad},某某,户主,农村,红河,甲村\n")
    rows = [f"{pid},人{i},2026-11-01" for i, pid in enumerate(ids[4:30])] + [f"{bad},人3,2026-11-01"]
    landing.write("wj_deaths", "d_20261128.csv", DEATHS + "\n".join(rows) + "\n")
    landing.write("wj_deaths", "d_20261127.csv", "")  # a rejected file
    result = _night(landing)
    assert result.success
    chart = result.asset_materializations_for_node("audit__scorecards")[0].metadata["validity_chart"].value
    assert chart.startswith("![") and "data:image/png;base64," in chart
    card = landing.query(
        "SELECT department, rows_tonight, validity, fresh, files_rejected FROM audit.scorecards WHERE feed = 'wj_deaths'"
    )
    assert card == [("卫健", 27, round(1 - 1 / 27, 4), True, 1)]
    book = landing.warehouse.parent / "exports" / AS_OF / "quality" / "wj_deaths.xlsx"
    wb = CalamineWorkbook.from_path(str(book))
    quarantined = wb.get_sheet_by_name("隔离的行").to_python()
    assert quarantined[0][:4] == ["文件", "行号", "原因代码", "原因"]
    assert quarantined[1][:3] == ["d_20261128.csv", 28, "ID_CHECKSUM"]
    assert bad not in json.dumps(quarantined, ensure_ascii=False)
    assert quarantined[1][4] == bad[:6] + "********" + bad[-4:]
    members = CalamineWorkbook.from_path(str(book.parent / "mz_members.xlsx")).get_sheet_by_name("隔离的行").to_python()
    assert members[0][4:7] == ["户编号", "身份证号", "姓名"]
    # the household's number stays as delivered (the department finds the row by it); the person's are masked
    assert members[1][4:7] == ["3707250021227891", bad[:6] + "********" + bad[-4:], "某*"]
    rejected = wb.get_sheet_by_name("拒收的文件").to_python()
    assert rejected[1][0] == "d_20261127.csv" and rejected[1][2] == "EMPTY"
