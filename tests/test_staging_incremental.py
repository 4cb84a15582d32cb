"""Staging brought up to date from the night's files gives exactly what a rebuild from all of raw
gives: the same staging rows, currency, reversal links and staging quarantine, night after night,
through late files, 补录 supplements, corrections, a superseded file, a settlement reversal and its
withdrawal, a roster change and a backfill of an earlier night. A change of the rules restandardises everything."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

import transform.staging.build as build
from jiuzhu.config import load_feeds
from jiuzhu.idnumber import make_id
from tests.conftest import Landing
from tests.test_staging import ID1, ID2, ID3, SETTLEMENT_HEADER
from transform.as_of import as_of_relation
from warehouse.resource import connect

ID4 = make_id("370725", "19550505", 77)
FEEDS = ("wj_deaths", "mz_members", "yb_settlements")
DEATHS = "身份证号,姓名,死亡日期\n"
MEMBERS = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居\n"


def _settlement(sid: str, id_number: str, day: str, amount: int, cancels: str = "") -> str:
    fund, own = amount * 6 // 10, amount - amount * 6 // 10
    return f"{sid},{id_number},某某,{day},住院,{amount},{fund},0,0,{own},医院,{cancels}\n"


# each night: the files delivered that day (feed, name, content) and the night's date
NIGHTS: list[tuple[str, list[tuple[str, str, str]]]] = [
    (
        "2026-11-01",
        [
            ("wj_deaths", "d_20261101.csv", DEATHS + f"{ID1},张三,2026-10-01\n{ID2},李四,2026-10-02\n"),
            (
                "mz_members",
                "m_20261101.csv",
                MEMBERS + f"H1,{ID1},张三,户主,农村,红河,甲村\nH2,{ID2},李四,户主,农村,红河,乙村\n",
            ),
            (
                "yb_settlements",
                "yb_20261101.csv",
                SETTLEMENT_HEADER
                + _settlement("JS1", ID1, "2026-10-05", 100)
                + _settlement("JS2", ID2, "2026-10-06", 50),
            ),
        ],
    ),
    (
        "2026-11-10",
        [
            # a correction of ID1, and a row that cannot be standardised (its date)
            ("wj_deaths", "d_20261110.csv", DEATHS + f"{ID1},张三,2026-10-03\n{ID4},赵六,2026-13-45\n"),
            # a 补录 supplement for 11-01: ID2 again (a duplicate key across the two files), ID3 new
            ("wj_deaths", "d_20261101_补录.csv", DEATHS + f"{ID2},李四,2026-10-09\n{ID3},王五,2026-10-04\n"),
            # the roster changes: H2 leaves, H3 arrives
            (
                "mz_members",
                "m_20261110.csv",
                MEMBERS + f"H1,{ID1},张三,户主,农村,红河,甲村\nH3,{ID3},王五,户主,城镇,宝都,丙社区\n",
            ),
            # JS1 reversed; JS2 corrected by a later extract
            (
                "yb_settlements",
                "yb_20261110.csv",
                SETTLEMENT_HEADER
                + _settlement("JS3", ID1, "2026-11-02", -100, "JS1")
                + _settlement("JS2", ID2, "2026-10-06", 60),
            ),
        ],
    ),
    (
        "2026-11-20",
        [
            # a late file (an extract date before the last one) and the 11-10 file sent again with
            # other bytes: it supersedes the first version, whose rows (and quarantined row) go
            ("wj_deaths", "d_20261105.csv", DEATHS + f"{ID1},张三,2026-10-02\n{ID4},赵六,2026-10-07\n"),
            ("wj_deaths", "d_20261110.csv", DEATHS + f"{ID1},张三,2026-10-08\n"),
            ("mz_members", "m_20261110_补录.csv", MEMBERS + f"H4,{ID4},赵六,户主,农村,红河,甲村\n"),
            # the same settlement twice in one file: a re-sent row
            (
                "yb_settlements",
                "yb_20261120.csv",
                SETTLEMENT_HEADER + _settlement("JS4", ID3, "2026-11-15", 80) * 2,
            ),
        ],
    ),
    ("2026-11-05", []),  # a backfill of an earlier night
    (
        "2026-11-28",
        [
            ("wj_deaths", "d_20261128.csv", DEATHS + f"{ID3},王五,2026-10-05\n"),
            ("mz_members", "m_20261128.csv", MEMBERS + f"H1,{ID1},张三,户主,农村,红河,甲村\n"),
            (
                "yb_settlements",
                "yb_20261128.csv",
                SETTLEMENT_HEADER + _settlement("JS5", ID3, "2026-11-20", -80, "JS4"),
            ),
        ],
    ),
    # the 11-28 settlements sent again without the reversal: JS4 stands uncancelled
    (
        "2026-11-29",
        [("yb_settlements", "yb_20261128.csv", SETTLEMENT_HEADER + _settlement("JS6", ID2, "2026-11-21", 30))],
    ),
]


def _state(landing: Landing, feed: str) -> tuple[list, list, list]:
    """staging.<feed>, the persons of its current rows, and its staging quarantine, every column but
    when and by which run."""
    staged = landing.query(f"SELECT * FROM staging.{feed} ORDER BY ALL")
    table = build.persons_table(load_feeds()[feed])
    persons = landing.query(f"SELECT * FROM {table} ORDER BY ALL") if table else []
    quarantine = landing.query(
        """SELECT * EXCLUDE (run_id, quarantined_at) FROM audit.quarantine
           WHERE stage = 'staging' AND feed = ? ORDER BY ALL""",
        [feed],
    )
    return staged, persons, quarantine


def _stage(landing: Landing, feed: str, night: dt.date, rebuild: bool) -> build.StagingReport:
    landing.ingest(feed, as_of=night)
    with connect(landing.warehouse) as con:
        return build.build_staging(con, load_feeds()[feed], night, run_id=night.isoformat(), rebuild=rebuild)


@pytest.fixture
def two_warehouses(tmp_path, monkeypatch):
    """The same landing zone loaded into two warehouses: one staged night by night, one rebuilt
    each night; and the feeds each night rebuilt in the first (it should be none after the first)."""
    incremental, rebuilt = Landing(tmp_path), Landing(tmp_path / "rebuilt")  # a home of its own
    rebuilt.root = incremental.root
    rebuilds: list[str] = []
    whole = build._rebuild

    def counting(con, feed, *args):
        rebuilds.append(feed.name)
        return whole(con, feed, *args)

    monkeypatch.setattr(build, "_rebuild", counting)
    return incremental, rebuilt, rebuilds


def test_each_night_staged_from_its_files_equals_a_rebuild_from_all_of_raw(two_warehouses):
    incremental, rebuilt, rebuilds = two_warehouses
    for i, (night, files) in enumerate(NIGHTS):
        for feed, name, content in files:
            incremental.write(feed, name, content)
        date = dt.date.fromisoformat(night)
        for feed in FEEDS:
            rebuilds.clear()
            got = _stage(incremental, feed, date, rebuild=False)
            assert rebuilds == ([feed] if i == 0 else [])  # after the first night: only what changed
            want = _stage(rebuilt, feed, date, rebuild=True)
            assert got == want, (night, feed)
            assert _state(incremental, feed) == _state(rebuilt, feed), (night, feed)

    # what the nights did, as a reader of staging sees it on the last one
    current = incremental.query("SELECT id_number, death_date FROM staging.wj_deaths WHERE is_current ORDER BY 1")
    assert dict(current) == {
        ID1: dt.date(2026, 10, 8),  # the superseding version of the 11-10 file
        ID2: dt.date(2026, 10, 9),  # the 补录 row stands over the main file's
        ID3: dt.date(2026, 10, 5),
        ID4: dt.date(2026, 10, 7),  # from the late file; the superseded file's bad row is gone
    }
    assert incremental.query(
        "SELECT count(*) FROM audit.quarantine WHERE feed = 'wj_deaths' AND stage = 'staging'"
    ) == [
        (1,)  # ID2's main-file row, a duplicate of the 补录 one
    ]
    assert incremental.query("SELECT household_id FROM staging.mz_members WHERE is_current") == [("H1",)]
    # who the deaths feed knows tonight, by the name of the row that stands
    persons = incremental.query("SELECT id_number, named.name, named.extract_date FROM staging.wj_deaths_persons")
    assert sorted(persons) == sorted(
        [
            (i, n, dt.date(2026, 11, d))
            for i, n, d in [(ID1, "张三", 10), (ID2, "李四", 1), (ID3, "王五", 28), (ID4, "赵六", 5)]
        ]
    )
    links = incremental.query(
        "SELECT settlement_id, reversed_by FROM staging.yb_settlements WHERE is_current ORDER BY 1"
    )
    assert links == [("JS1", "JS3"), ("JS2", None), ("JS3", None), ("JS4", None), ("JS6", None)]


def test_a_change_of_the_rules_restandardises_every_extract_date(two_warehouses):
    incremental, _, rebuilds = two_warehouses
    night = dt.date(2026, 11, 10)
    incremental.write(
        "yb_settlements",
        "yb_20261101.csv",
        SETTLEMENT_HEADER + _settlement("JS1", ID1, "2026-10-05", 100).replace("住院", "急诊"),
    )
    _stage(incremental, "yb_settlements", night, rebuild=False)
    assert incremental.query("SELECT reason_code FROM audit.quarantine WHERE stage = 'staging'") == [("ENUM_INVALID",)]

    # the spec learns that 急诊 is an outpatient visit; no new file arrives
    spec = load_feeds()["yb_settlements"]  # the cached spec itself is left as it is, for the tests after this one
    columns = tuple(
        dataclasses.replace(c, value_aliases={**c.value_aliases, "急诊": "普通门诊"}) if c.name == "就诊类别" else c
        for c in spec.columns
    )
    rebuilds.clear()
    with connect(incremental.warehouse) as con:
        build.build_staging(con, dataclasses.replace(spec, columns=columns), night)
    assert rebuilds == ["yb_settlements"]
    assert incremental.query("SELECT settlement_id, visit_type FROM staging.yb_settlements") == [("JS1", "普通门诊")]
    assert incremental.query("SELECT count(*) FROM audit.quarantine WHERE stage = 'staging'") == [(0,)]


def test_the_rows_in_force_on_any_date_are_those_of_the_latest_version_known_then(two_warehouses):
    """transform.as_of reads a past night's rows by staging's superseded_on (a filter), which must
    give exactly the latest version of each key among the files extracted by then (the window over
    the whole history it replaces), after late files, 补录, corrections and a superseded file."""
    incremental, _, _ = two_warehouses
    for night, files in NIGHTS:
        for feed, name, content in files:
            incremental.write(feed, name, content)
        for feed in FEEDS:
            _stage(incremental, feed, dt.date.fromisoformat(night), rebuild=False)
    feeds = [f for f in load_feeds().values() if f.name in FEEDS and f.kind == "incremental"]
    assert {f.name for f in feeds} == {"wj_deaths", "yb_settlements"}
    days = [dt.date(2026, 10, 31) + dt.timedelta(days=i) for i in range(30)]
    for feed in feeds:
        key = ", ".join(feed.key_fields)
        latest = (
            f"SELECT file_id, source_row FROM staging.{feed.name} WHERE extract_date <= $as_of "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY extract_date DESC, file_id DESC, source_row DESC) = 1"
        )
        for day in days:
            got = incremental.query(
                f"SELECT file_id, source_row FROM {as_of_relation(feed)} ORDER BY ALL", {"as_of": day}
            )
            assert got == incremental.query(f"{latest} ORDER BY ALL", {"as_of": day}), (feed.name, day)
    versions = incremental.query("SELECT count(*) FROM staging.wj_deaths WHERE superseded_on IS NOT NULL")
    assert versions[0][0] >= 2  # corrections did happen: the comparison above is not between latest rows alone


def test_a_person_whose_only_row_is_withdrawn_is_no_longer_known_to_the_feed(two_warehouses):
    """A file sent again without a settlement: its person, with no other row, leaves the feed's
    persons (core would still count them as seen, and name them, from a row that no longer stands)."""
    incremental, rebuilt, _ = two_warehouses
    first = SETTLEMENT_HEADER + _settlement("JS8", ID3, "2026-10-05", 90) + _settlement("JS9", ID4, "2026-10-06", 70)
    for night, content in [
        ("2026-11-01", first),
        ("2026-11-02", SETTLEMENT_HEADER + _settlement("JS8", ID3, "2026-10-05", 90)),
    ]:
        incremental.write("yb_settlements", "yb_20261101.csv", content)
        date = dt.date.fromisoformat(night)
        _stage(incremental, "yb_settlements", date, rebuild=False)
        _stage(rebuilt, "yb_settlements", date, rebuild=True)
        assert _state(incremental, "yb_settlements") == _state(rebuilt, "yb_settlements"), night
    assert incremental.query("SELECT id_number FROM staging.yb_settlements_persons") == [(ID3,)]
