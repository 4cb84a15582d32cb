"""The synthetic county generator: layout, ground truth, planted cases, bad files, determinism."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import polars as pl
import pytest
from python_calamine import CalamineWorkbook

from jiuzhu.config import load_feeds
from jiuzhu.idnumber import is_valid
from synth import generate

AS_OF = dt.date(2026, 11, 28)
PARAMS = dict(households=300, months=12, as_of=AS_OF, seed=8, progress=False)
RULES = {"R01", "R02", "R03", "R04", "R05", "R06", "R08", "R09", "R10", "R11"}
BAD_KINDS = {
    "empty",
    "header_only",
    "truncated",
    "missing_required",
    "not_a_workbook",
    "xlsx_named_csv",
    "duplicate_of",
    "no_date",
}


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("county")
    generate(out, **PARAMS)
    return out


@pytest.fixture(scope="module")
def clean_county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate(out, households=120, months=4, as_of=AS_OF, seed=3, mess=0.0, progress=False)
    return out


def _truth(out: Path, name: str) -> pl.DataFrame:
    return pl.read_csv(out / "truth" / name, infer_schema=False)


def _landing_files(out: Path) -> list[Path]:
    return sorted(p for p in (out / "landing").rglob("*") if p.is_file())


def test_truth_is_beside_the_landing_zone(county):
    assert (county / "truth" / "files.csv").is_file()
    assert (county / "truth" / "README.md").read_text(encoding="utf-8").count("row_number") >= 1
    inside = [p for p in (county / "landing").rglob("*") if "truth" in p.parts or p.name.endswith(".md")]
    assert inside == []
    # every landing file is described, and nothing else
    listed = {(r["feed"], r["file_name"]) for r in _truth(county, "files.csv").iter_rows(named=True)}
    on_disk = {(p.parent.name, p.name) for p in _landing_files(county)}
    assert listed == on_disk


def test_file_names_carry_an_extract_date_not_after_as_of(county):
    files = _truth(county, "files.csv")
    no_date = set(files.filter(pl.col("problem") == "no_date")["file_name"])
    # every department delivers; the townships' feedback comes only once the nights have sent them their
    # workbooks (synth-feedback), so its folder is there and empty
    assert set(p.parent.name for p in _landing_files(county)) == set(load_feeds()) - {"zj_feedback"}
    assert (county / "landing" / "zj_feedback").is_dir() and not any((county / "landing" / "zj_feedback").iterdir())
    for p in _landing_files(county):
        m = re.search(r"\d{8}", p.name)
        if p.name in no_date:
            assert m is None
            continue
        assert m, p.name
        assert dt.datetime.strptime(m.group(0), "%Y%m%d").date() <= AS_OF, p.name


def test_person_ids_are_valid_and_consistent_with_birth_dates(county):
    persons = _truth(county, "persons.csv")
    assert persons.height > 600
    ids = persons["id_number"].to_list()
    assert len(set(ids)) == len(ids)
    assert all(is_valid(i) for i in ids)
    births = persons["birth_date"].str.replace_all("-", "").to_list()
    assert [i[6:14] for i in ids] == births
    assert persons.filter(pl.col("in_roster") == "false").height > 0  # people living here on a residence permit
    assert persons["id_number"].str.slice(0, 6).value_counts().sort("count")["id_number"][-1] == "370725"


def test_every_rule_is_planted_at_least_three_times(county):
    cases = _truth(county, "rule_cases.csv")
    counts = cases.group_by("rule_code").len()
    assert set(counts["rule_code"]) == RULES
    assert counts["len"].min() >= 3
    assert set(cases["as_of"]) == {AS_OF.isoformat()}
    households = set(_truth(county, "households.csv")["household_id"])
    hh_cases = cases.filter(pl.col("household_id") != "")
    assert set(hh_cases["household_id"]) <= households
    # person-level cases outside the roster exist (residence permit holders)
    assert cases.filter((pl.col("subject_type") == "person") & pl.col("household_id").is_null()).height >= 1


def test_every_rule_has_at_least_three_near_misses(county):
    near = _truth(county, "near_misses.csv")
    assert near.columns == _truth(county, "rule_cases.csv").columns
    counts = near.group_by("rule_code").len()
    assert set(counts["rule_code"]) == RULES
    assert counts["len"].min() >= 3
    assert set(near["as_of"]) == {AS_OF.isoformat()}
    # each near miss is its own designed household (or outsider), never a planted positive
    households = _truth(county, "households.csv")
    planted = set(households.filter(pl.col("planted_rules").is_not_null())["household_id"])
    hh = near.filter(pl.col("household_id").is_not_null())
    assert set(hh["household_id"]) <= set(households["household_id"]) and not set(hh["household_id"]) & planted
    assert near.filter(pl.col("household_id").is_null() & (pl.col("subject_type") == "person")).height >= 1
    # the edges the issue names are there
    assert {
        ("R01", "stale_verification"),
        ("R01", "verified_not_eligible"),
        ("R03", "reversal_under_line"),
        ("R06", "tekun_postgraduate"),
    } <= set(near.select("rule_code", "variant").iter_rows())
    # their people are clean like planted cases
    persons = _truth(county, "persons.csv")
    ids = set(near["subject_id_number"])
    assert ids <= set(persons.filter(pl.col("planted") == "true")["id_number"])
    assert "near_misses.csv" in (county / "truth" / "README.md").read_text(encoding="utf-8")


def test_small_counties_get_one_case_and_one_near_miss_per_rule(clean_county):
    for name in ("rule_cases.csv", "near_misses.csv"):
        counts = _truth(clean_county, name).group_by("rule_code").len()
        assert set(counts["rule_code"]) == RULES and set(counts["len"]) == {1}, name


def test_every_bad_file_kind_is_there_and_is_what_it_claims(county):
    files = _truth(county, "files.csv")
    problems = files["problem"].drop_nulls().to_list()
    assert {p.split(":")[0] for p in problems} >= BAD_KINDS

    def raw(row):
        return (county / "landing" / row["feed"] / row["file_name"]).read_bytes()

    for row in files.filter(pl.col("problem").is_not_null()).iter_rows(named=True):
        data, kind = raw(row), row["problem"].split(":")[0]
        if kind == "empty":
            assert data == b"" and row["expected_status"] == "rejected"
        elif kind == "truncated":
            assert not data.endswith(b"\n") and row["expected_status"] == "loaded"
        elif kind == "xlsx_named_csv":
            assert row["file_name"].endswith(".csv") and data[:2] == b"PK"
        elif kind == "not_a_workbook":
            assert row["file_name"].endswith(".xlsx") and data[:2] != b"PK" and row["expected_status"] == "rejected"
        elif kind == "duplicate_of":
            original = row["problem"].split(":", 1)[1]
            assert data == (county / "landing" / row["feed"] / original).read_bytes()
            assert row["expected_status"] == "duplicate" and original < row["file_name"]
        elif kind == "missing_required":
            header = next(csv.reader(io.StringIO(data.decode("utf-8"))))
            spec = load_feeds()[row["feed"]]
            present = {spec.header_lookup().get(h) for h in header}
            assert set(spec.required) - present


def _csv_rows(path: Path, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


def test_data_rows_match_a_simple_reader(county):
    files = _truth(county, "files.csv")
    bad = _truth(county, "bad_rows.csv")
    broken = set(bad.filter(pl.col("mess_kind").is_in(["FIELD_COUNT", "TRUNCATED_ROW"]))["file_name"])
    plain = files.filter(
        (pl.col("format") == "csv")
        & pl.col("problem").is_null()
        & (pl.col("expected_status") == "loaded")
        & ~pl.col("file_name").is_in(list(broken))
        & (pl.col("data_rows").cast(pl.Int64) > 0)
    )
    assert plain.height >= 3
    for row in plain.head(6).iter_rows(named=True):
        rows = _csv_rows(county / "landing" / row["feed"] / row["file_name"], row["encoding"])
        assert len(rows) - 1 == int(row["data_rows"]), row["file_name"]
    # an Excel file: header at header_row, data rows exclude titles, blanks and the 合计 row
    xl = files.filter(
        (pl.col("format") == "xlsx") & pl.col("problem").is_null() & (pl.col("data_rows").cast(pl.Int64) > 0)
    )
    row = xl.row(0, named=True)
    sheet = CalamineWorkbook.from_path(str(county / "landing" / row["feed"] / row["file_name"])).get_sheet_by_name(
        row["sheet"]
    )
    cells = sheet.to_python(skip_empty_area=False)
    body = [
        r
        for r in cells[int(row["header_row"]) :]
        if any(str(c).strip() for c in r) and str(r[0]) not in ("合计", "总计")
    ]
    assert len(body) == int(row["data_rows"])


def test_bad_row_numbers_point_at_the_spoiled_cell(county):
    files = _truth(county, "files.csv")
    bad = _truth(county, "bad_rows.csv").filter(pl.col("mess_kind") == "ID_LOWERCASE_X")
    assert bad.height > 0
    meta = {r["file_name"]: r for r in files.iter_rows(named=True)}
    for r in bad.head(20).iter_rows(named=True):
        m = meta[r["file_name"]]
        path = county / "landing" / r["feed"] / r["file_name"]
        if m["format"] == "csv":
            line = _csv_rows(path, m["encoding"])[int(r["row_number"]) - 1]
        else:
            line = (
                CalamineWorkbook.from_path(str(path))
                .get_sheet_by_name(m["sheet"])
                .to_python(skip_empty_area=False)[int(r["row_number"]) - 1]
            )
        assert any(re.fullmatch(r"\d{17}x", str(c)) for c in line), (r, line)


def test_planted_rows_are_never_spoiled(county):
    planted_ids = set(_truth(county, "persons.csv").filter(pl.col("planted") == "true")["id_number"])
    files = {r["file_name"]: r for r in _truth(county, "files.csv").iter_rows(named=True)}
    bad = _truth(county, "bad_rows.csv").filter(
        pl.col("file_name").is_in([n for n, r in files.items() if r["format"] == "csv"])
    )
    for r in bad.iter_rows(named=True):
        m = files[r["file_name"]]
        line = _csv_rows(county / "landing" / r["feed"] / r["file_name"], m["encoding"])[int(r["row_number"]) - 1]
        assert not planted_ids & set(line), r


def test_signals_precede_entries(tmp_path_factory):
    """Households enter assistance after they apply, and many after a shock the departments
    record months before (what the risk model has to learn from). Big enough not to be chance."""
    out = tmp_path_factory.mktemp("signals")
    generate(out, households=3000, months=12, as_of=AS_OF, seed=5, mess=0.0, progress=False)
    events = _truth(out, "events.csv").with_columns(pl.col("date").str.to_date())
    assert {"illness", "job_loss", "applied"} <= set(events["event"])
    signals = events.filter(pl.col("event").is_in(["illness", "job_loss", "earner_death", "disability"]))
    entries = (
        events.filter(pl.col("event").is_in(["entered_dibao", "entered_tekun", "entered_dibao_edge"]))
        .group_by("household_id")
        .agg(entry=pl.col("date").min())
    )
    applied = events.filter(pl.col("event") == "applied").group_by("household_id").agg(applied=pl.col("date").min())
    both = entries.join(applied, on="household_id")
    assert both.height == entries.height and (both["applied"] < both["entry"]).all()
    after_shock = entries.join(signals, on="household_id").filter(
        (pl.col("date") < pl.col("entry")) & (pl.col("date") > pl.col("entry") - pl.duration(days=240))
    )
    assert entries.height >= 10
    assert after_shock["household_id"].n_unique() >= 0.3 * entries.height


def test_clean_county_has_no_mess_and_records_precede_their_extract(clean_county):
    files = _truth(clean_county, "files.csv")
    assert _truth(clean_county, "bad_rows.csv").height == 0
    assert set(files["problem"].drop_nulls()) <= {"header_only"}
    spec = load_feeds()
    for row in files.filter(pl.col("format") == "csv").iter_rows(named=True):
        rows = _csv_rows(clean_county / "landing" / row["feed"] / row["file_name"], row["encoding"])
        header = rows[0]
        assert header == [c.name for c in spec[row["feed"]].columns]  # canonical headers, spec order
        dates = [i for i, h in enumerate(header) if spec[row["feed"]].column(h).type == "date"]
        for r in rows[1:]:
            assert max((r[i] for i in dates if r[i]), default="") <= row["extract_date"], (row["file_name"], r)
        if row["feed"] == "yb_settlements":
            for r in rows[1:]:
                total, *parts = (
                    float(r[header.index(c)] or 0)
                    for c in ("医疗总费用", "统筹基金支付", "大病保险支付", "医疗救助支付", "个人自付")
                )
                assert abs(total - sum(parts)) <= 0.01


def test_same_seed_gives_identical_bytes(county, tmp_path):
    again = tmp_path / "again"
    generate(again, **PARAMS)
    first = {p.relative_to(county): p.read_bytes() for p in county.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
