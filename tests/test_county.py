"""End to end on a small generated county: `jiuzhu synth` then `jiuzhu run` through the CLI.

What the operator relies on: every file the generator wrote is accounted for with
the status its ground truth expects, every data row of a loaded file is in raw or
quarantine (and the rows the generator spoiled beyond repair are the ones
quarantined), a second run changes nothing, and no personal data reaches Dagster's
logs or metadata.
"""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import pytest
from python_calamine import CalamineWorkbook

from exports.township import township_workbooks
from jiuzhu.config import load_feeds
from jiuzhu.idnumber import mask
from pipelines.cli import main
from warehouse.resource import connect

pytestmark = pytest.mark.slow  # a county generated and run through the CLI, twice

AS_OF = "2026-11-28"
HOUSEHOLDS = 300


def _truth(county: Path, name: str) -> list[dict]:
    with (county / "truth" / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    root = tmp_path_factory.mktemp("county")
    county, home = root / "county", root / "home"
    assert main(["synth", "--out", str(county), "--households", str(HOUSEHOLDS), "--as-of", AS_OF, "--quiet"]) == 0
    code = main(["run", "--landing", str(county / "landing"), "--home", str(home), "--as-of", AS_OF])
    return county, home, code


def _q(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_ground_truth_lives_beside_the_landing_zone(night):
    county, _, _ = night
    assert (county / "truth" / "files.csv").exists()
    assert not list((county / "landing").rglob("truth*")) and not list((county / "landing").rglob("*.md"))


def test_the_run_succeeds_and_every_file_has_the_expected_status(night):
    county, home, code = night
    assert code == 0
    expected = {(r["feed"], r["file_name"]): r for r in _truth(county, "files.csv")}
    got = {(f, n): (s, r) for f, n, s, r in _q(home, "SELECT feed, file_name, status, rows_read FROM audit.files")}
    assert set(got) == set(expected)
    for key, truth in expected.items():
        status, rows_read = got[key]
        assert status == truth["expected_status"], (key, truth["problem"])
        if status == "loaded":
            assert rows_read == int(truth["data_rows"]), key
    problems = {r["problem"].split(":")[0] for r in expected.values()}
    assert {
        "empty",
        "header_only",
        "truncated",
        "missing_required",
        "not_a_workbook",
        "xlsx_named_csv",
        "duplicate_of",
        "no_date",
    } <= problems


def test_every_row_is_accounted_for(night):
    _, home, _ = night
    broken = _q(
        home,
        """SELECT f.feed, f.file_name FROM audit.files f
           LEFT JOIN (SELECT file_id, count(*) n FROM audit.quarantine WHERE stage = 'ingest' GROUP BY 1) q USING (file_id)
           WHERE f.status = 'loaded' AND f.rows_read <> f.rows_loaded + coalesce(q.n, 0)""",
    )
    assert broken == []
    for feed in load_feeds():
        in_raw = _q(home, f"SELECT count(*) FROM raw.{feed}")[0][0]
        loaded = _q(home, "SELECT coalesce(sum(rows_loaded), 0) FROM audit.files WHERE feed = ?", [feed])[0][0]
        assert in_raw == loaded, feed


def test_every_raw_row_is_in_staging_or_quarantine_never_both(night):
    _, home, _ = night
    for feed in load_feeds():
        mismatched = _q(
            home,
            f"""WITH r AS (SELECT file_id, source_row FROM raw.{feed}),
                    s AS (SELECT file_id, source_row FROM staging.{feed}),
                    q AS (SELECT file_id, row_number AS source_row FROM audit.quarantine
                          WHERE stage = 'staging' AND feed = ?)
                SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM s), (SELECT count(*) FROM q),
                       (SELECT count(*) FROM (SELECT * FROM s INTERSECT ALL SELECT * FROM q)),
                       (SELECT count(*) FROM (SELECT * FROM r EXCEPT ALL (SELECT * FROM s UNION ALL SELECT * FROM q)))""",
            [feed],
        )[0]
        raw, staged, quarantined, both, neither = mismatched
        assert (raw, both, neither) == (staged + quarantined, 0, 0), feed


def test_ids_beyond_repair_are_quarantined_with_their_reason_and_no_valid_id_is(night):
    county, home, _ = night
    expected = {
        (r["feed"], r["file_name"], int(r["row_number"]), r["mess_kind"])
        for r in _truth(county, "bad_rows.csv")
        if r["mess_kind"] in ("ID_CHECKSUM", "ID_BIRTHDATE", "ID_PRECISION_LOST")
    }
    got = set(_q(home, "SELECT feed, file_name, row_number, reason_code FROM audit.quarantine WHERE stage = 'staging'"))
    assert expected and got == expected


def test_rows_spoiled_beyond_repair_at_the_file_level_are_the_ones_quarantined(night):
    county, home, _ = night
    expected = {
        (r["feed"], r["file_name"], int(r["row_number"]))
        for r in _truth(county, "bad_rows.csv")
        if r["mess_kind"] in ("FIELD_COUNT", "TRUNCATED_ROW")
    }
    got = set(_q(home, "SELECT feed, file_name, row_number FROM audit.quarantine WHERE stage = 'ingest'"))
    assert got == expected and expected


def test_row_numbers_point_at_the_rows_a_person_sees(night):
    county, home, _ = night
    # cells the generator spoiled sit at known rows: the raw row there holds the spoiled value's column
    spoiled = [r for r in _truth(county, "bad_rows.csv") if r["mess_kind"] == "ID_LOWERCASE_X"][:20]
    assert spoiled
    for r in spoiled:
        rows = _q(
            home,
            f"SELECT 身份证号 FROM raw.{r['feed']} WHERE source_file = ? AND source_row = ?",
            [r["file_name"], int(r["row_number"])],
        )
        assert rows and rows[0][0].rstrip().endswith("x"), r


def test_a_second_run_changes_nothing(night, capsys):
    county, home, _ = night
    before = _q(home, "SELECT * EXCLUDE (ingested_at, seconds) FROM audit.files ORDER BY file_id")
    counts = [_q(home, f"SELECT count(*) FROM raw.{f}")[0][0] for f in load_feeds()]
    assert main(["run", "--landing", str(county / "landing"), "--home", str(home), "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert "no new files" in out and "预警 warnings:" in out
    assert "· workbooks_hold_exactly_the_warnings" not in out and "ERROR" not in out  # the check passed
    assert _q(home, "SELECT * EXCLUDE (ingested_at, seconds) FROM audit.files ORDER BY file_id") == before
    assert [_q(home, f"SELECT count(*) FROM raw.{f}")[0][0] for f in load_feeds()] == counts


def test_no_personal_data_in_dagster_logs_or_metadata(night):
    county, home, _ = night
    persons = _truth(county, "persons.csv")
    ids = {p["id_number"] for p in persons}
    names = {p["name"] for p in persons if len(p["name"]) >= 2}
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    texts = []
    for run in instance.get_runs():
        for record in instance.all_logs(run.run_id):
            texts.append(record.user_message or "")
            ev = record.dagster_event
            mat = ev.event_specific_data if ev is not None else None
            for attr in ("materialization", "asset_check_evaluation"):
                payload = getattr(mat, attr, None) if mat is not None else None
                if payload is not None:
                    texts.extend(str(v.value) for v in payload.metadata.values())
    blob = "\n".join(texts)
    assert blob
    assert not [i for i in ids if i in blob or i[:6] + i[8:17] in blob]
    assert not [n for n in names if n in blob]


def test_linkage_suggestions_find_the_person_behind_a_broken_check_digit(night):
    _, home, _ = night
    rows = _q(
        home,
        """SELECT regexp_replace(q.raw ->> '身份证号', '[^0-9Xx]', '', 'g'), p.id_number
           FROM core.linkage_suggestions s
           JOIN audit.quarantine q USING (feed, file_name, row_number)
           JOIN restricted.person_ids p ON p.person_key = s.suggested_person_key
           WHERE s.rank = 1 AND s.reason_code = 'ID_CHECKSUM' AND q.stage = 'staging'""",
    )
    assert rows
    right = sum(broken.upper()[:17] == true_id[:17] for broken, true_id in rows)
    assert right / len(rows) >= 0.95, (right, len(rows))


def test_every_roster_household_has_features_and_outsiders_are_kept(night):
    county, home, _ = night
    households = _q(home, "SELECT count(*) FROM core.households")[0][0]
    assert households > 0 and _q(home, "SELECT count(*) FROM core.household_features")[0][0] == households
    outsiders = {p["id_number"] for p in _truth(county, "persons.csv") if p["in_roster"] == "false"}
    kept = {
        i
        for (i,) in _q(
            home,
            """SELECT p.id_number FROM core.persons_outside_roster o JOIN restricted.person_ids p USING (person_key)""",
        )
    }
    assert outsiders and len(outsiders & kept) / len(outsiders) >= 0.9


def test_every_planted_case_is_flagged_with_its_code_and_routed_to_its_township(night):
    county, home, _ = night
    households = {h["household_id"]: h["township_code"] for h in _truth(county, "households.csv")}
    persons = {p["id_number"]: p for p in _truth(county, "persons.csv")}
    warned = _q(
        home,
        f"""SELECT w.subject_id, w.household_id, w.township_code, w.rule_codes, p.id_number
            FROM monitoring.warnings w LEFT JOIN restricted.person_ids p ON p.person_key = w.subject_id
            WHERE w.as_of_date = DATE '{AS_OF}'""",
    )
    by_household = {hh: (town, codes) for _, hh, town, codes, _ in warned if hh}
    by_person = {pid: (town, codes) for _, hh, town, codes, pid in warned if pid}
    missed = []
    for case in _truth(county, "rule_cases.csv"):
        if case["household_id"]:
            town, codes = by_household.get(case["household_id"], (None, []))
            expected = {households[case["household_id"]]}
        else:
            town, codes = by_person.get(case["id_number"], (None, []))
            expected = {persons[case["id_number"]]["township_code"]}
            if "petition" not in case["variant"]:
                # records that name no township (a county hospital, insurance) go to the county centre
                expected.add("370725000")
        if case["rule_code"] not in codes or town not in expected:
            missed.append((case["rule_code"], case["variant"], town, expected, codes))
    assert missed == [], missed


def test_reasons_name_the_member_the_date_and_the_amount_the_case_was_built_with(night):
    """Township staff act on a reason (issue 13): R05, R09, R10 and R11 name the member by the roster's
    name and masked ID, and the dates and amounts the planted case was built with."""
    county, home, _ = night
    persons = {p["id_number"]: p for p in _truth(county, "persons.csv")}
    reasons = {
        (subject, code): reason
        for subject, code, reason in _q(
            home, f"SELECT subject_id, rule_code, reason FROM monitoring.rule_hits WHERE as_of_date = DATE '{AS_OF}'"
        )
    }
    cases = [c for c in _truth(county, "rule_cases.csv") if c["rule_code"] in ("R05", "R09", "R10", "R11")]
    assert {c["variant"] for c in cases} >= {"disabled_edge", "earner_death", "two_households", "care_below_half"}
    for case in cases:
        reason = reasons[(case["household_id"], case["rule_code"])]
        person = persons[case["subject_id_number"]]
        if case["variant"] != "income_recovered":  # a household's income: no member to name
            assert f"{person['name']}（{mask(person['id_number'])}）" in reason, (case["variant"], reason)
        assert person["id_number"] not in reason
        for day in filter(None, (case["named_dates"] or "").split("|")):
            assert day in reason, (case["variant"], day, reason)
        for amount in filter(None, (case["named_amounts"] or "").split("|")):
            assert f"{float(amount):,.2f}".removesuffix(".00") + " 元" in reason, (case["variant"], amount, reason)
        if case["variant"] == "disabled_edge":
            assert f"{person['disability_grade_as_of']}残疾" in reason
        if case["variant"] == "earner_death":  # the earner paid until the month of the death
            assert f"职工养老缴费至 {case['named_dates'][:7]}" in reason


def test_a_person_outside_the_roster_is_listed_with_the_record_that_found_them(night):
    """No address or phone on the roster: the township's workbook names the petition or the
    settlement instead, and still shows only the masked ID number."""
    county, home, _ = night
    outsiders = [c for c in _truth(county, "rule_cases.csv") if not c["household_id"]]
    assert {c["rule_code"] for c in outsiders} == {"R03", "R08"}
    records = {  # the records of each outsider, as delivered
        (code, id_number): {r for (r,) in _q(home, sql, [id_number])}
        for c in outsiders
        for code, id_number, sql in [
            ("R03", c["id_number"], "SELECT settlement_id FROM staging.yb_settlements WHERE id_number = ?"),
            ("R08", c["id_number"], "SELECT petition_id FROM staging.xf_petitions WHERE id_number = ?"),
        ]
    }
    listed = {}  # masked ID -> (家庭住址, 联系电话) of a list row
    ids = {p["id_number"] for p in _truth(county, "persons.csv")}
    for path in township_workbooks(home / "exports" / AS_OF):
        book = CalamineWorkbook.from_path(str(path))
        sheets = [book.get_sheet_by_name(s).to_python() for s in book.sheet_names]
        text = str(sheets)
        assert not [i for i in ids if i in text], path.name  # no ID number in full, outsiders' or anyone's
        for cells in sheets[:2]:  # 新增预警, 持续预警
            head = next(i for i, row in enumerate(cells) if row and row[0] == "预警编号")
            for row in cells[head + 1 :]:
                r = dict(zip(cells[head], row))
                listed[r["身份证号"]] = (r["家庭住址"], r["联系电话"])
    for c in outsiders:
        address, phone = listed[mask(c["id_number"])]
        word = {"R03": "医保结算 ", "R08": "信访件 "}[c["rule_code"]]
        found = [r for r in records[(c["rule_code"], c["id_number"])] if f"{word}{r}（" in address]
        assert address.startswith("不在民政名册；") and found and phone == "", (c["variant"], address)


def test_every_hit_names_the_records_behind_it(night):
    _, home, _ = night
    without = _q(
        home,
        """SELECT h.rule_code, h.subject_type, count(*) FROM monitoring.rule_hits h
           WHERE h.rule_code <> 'M01'  -- the model's evidence is its top factors, not single records
             AND NOT EXISTS (SELECT 1 FROM monitoring.rule_sources s WHERE s.as_of_date = h.as_of_date
                             AND s.subject_id = h.subject_id AND s.rule_code = h.rule_code)
           GROUP BY ALL""",
    )
    assert _q(home, "SELECT count(*) FROM monitoring.rule_hits")[0][0] > 0
    assert without == []


def test_no_near_miss_is_flagged_for_its_rule(night):
    county, home, _ = night
    hits = set(
        _q(
            home,
            """SELECT coalesce(p.id_number, h.subject_id), h.rule_code FROM monitoring.rule_hits h
           LEFT JOIN restricted.person_ids p ON h.subject_type = 'person' AND p.person_key = h.subject_id
           WHERE NOT h.suppressed""",
        )
    )
    near = _truth(county, "near_misses.csv")
    assert len({r["rule_code"] for r in near}) == 10
    flagged = [
        (r["rule_code"], r["variant"]) for r in near if (r["household_id"] or r["id_number"], r["rule_code"]) in hits
    ]
    assert flagged == []
