"""Linking records to persons and households as of a date, and the household features.

Point in time (files and records after D change nothing; backdating D reproduces
that night), a household that left the roster, a person in two households, a
15-digit roster ID joining 18-digit feed records, a person outside the roster
routed by the petition's township, reversals netted, the person key's rules,
and suggestions for quarantined ID numbers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from jiuzhu.idnumber import make_id, to_15
from warehouse.person_key import PersonKeyError, install, load_key, person_key
from warehouse.resource import connect

HEAD = make_id("370725", "19700101", 11)
WIFE = make_id("370725", "19720202", 22)
SON = make_id("370725", "20100303", 33)
OTHER = make_id("370725", "19550505", 55)
OUTSIDER = make_id("370781", "19880808", 88)  # lives here on a residence permit
MEMBERS = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居,劳动能力\n"
# the rest of the village: a later roster that keeps them but drops a household (or a member) shrinks
# by under the 20 % that would stop the night (config/quality.yaml max_snapshot_shrink)
NEIGHBOURS = "".join(
    f"H{10 + i},{make_id('370725', f'1960{i + 1:02d}01', 60 + i)},邻居{i},户主,农业,红河,甲村,完全\n" for i in range(12)
)
SETTLEMENTS = (
    "结算编号,身份证号,姓名,结算日期,就诊类别,医疗总费用,统筹基金支付,大病保险支付,医疗救助支付,个人自付,原结算编号\n"
)


def night(landing, as_of: dt.date):
    return landing.night(as_of)


def features(landing, household: str) -> dict:
    with connect(landing.warehouse, read_only=True) as con:
        cur = con.execute("SELECT * FROM core.household_features WHERE household_id = ?", [household])
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    return dict(zip(names, rows[0])) if rows else {}


def pkey(landing, id18: str) -> str:
    return person_key(load_key(landing.warehouse.parent), id18)


@pytest.fixture
def family(landing):
    landing.write(
        "mz_members",
        "m_20261101.csv",
        MEMBERS
        + (
            f"H1,{to_15(HEAD)},张三,户主,农业,红河,甲村,有劳动能力\n"  # an old 15-digit number on the roster
            f"H1,{WIFE},李四,配偶,农业,红河,甲村,完全\n"
            f"H1,{SON},张小,子女,农业,红河,甲村,\n"
            f"H2,{OTHER},王五,户主,非农业,宝城,乙社区,无\n"
        )
        + NEIGHBOURS,
    )
    landing.write(
        "yb_settlements",
        "yb_20261110.csv",
        SETTLEMENTS
        + (
            f"JS1,{HEAD},张三,2026-11-02,住院,30000,10000,0,0,20000,\n"
            f"JS2,{HEAD},张三,2026-11-05,住院,4000,1000,0,0,3000,\n"
            f"JS3,{HEAD},张三,2026-11-08,住院,-4000,-1000,0,0,-3000,JS2\n"  # cancels JS2
            f"JS4,{OUTSIDER},赵六,2026-11-09,普通门诊,100,50,0,0,50,\n"
        ),
    )
    landing.write(
        "xf_petitions",
        "xf_20261110.csv",
        "信访件编号,身份证号,姓名,登记日期,问题属地,问题类别,诉求内容\n"
        f"XF1,{OUTSIDER},赵六,2026-11-09,乔官,医疗救助,看病花了很多钱，生活困难\n",
    )
    return landing


def test_a_15_digit_roster_id_joins_18_digit_records_and_reversals_net(family):
    night(family, dt.date(2026, 11, 28))
    f = features(family, "H1")
    assert (
        f["members"] == 3 and f["working_age"] == 3 and f["able_to_work"] == 2 and f["children"] == 1
    )  # the son is 16
    assert float(f["oop_12m"]) == 20000.0  # 20,000 + 3,000 − 3,000: the reversal nets out
    assert f["residence_type"] == "农村" and f["dibao_standard"] == 680 and f["township_code"] == "370725110"
    with connect(family.warehouse, read_only=True) as con:
        keys = {
            k
            for (k,) in con.execute(
                "SELECT person_key FROM core.household_members WHERE household_id = 'H1'"
            ).fetchall()
        }
        # no full ID number leaves staging: core holds keys only
        for table in ("persons", "household_members", "households", "household_features", "persons_outside_roster"):
            text = str(con.execute(f"SELECT * FROM core.{table}").fetchall())
            assert HEAD not in text and to_15(HEAD) not in text, table
    assert pkey(family, HEAD) in keys


def test_a_person_outside_the_roster_is_kept_and_routed_by_the_petition(family):
    night(family, dt.date(2026, 11, 28))
    with connect(family.warehouse, read_only=True) as con:
        rows = con.execute("SELECT person_key, township_code, feeds FROM core.persons_outside_roster").fetchall()
    assert rows == [(pkey(family, OUTSIDER), "370725107", ["xf_petitions", "yb_settlements"])]


@pytest.mark.slow  # four nights
def test_files_and_records_after_the_date_change_nothing_and_backdating_reproduces_the_night(family):
    early = dt.date(2026, 11, 5)  # before the settlements file (extracted 2026-11-10)
    night(family, early)
    assert float(features(family, "H1")["oop_12m"]) == 0.0
    family.write(
        "yb_settlements", "yb_20261201.csv", SETTLEMENTS + f"JS9,{WIFE},李四,2026-11-30,住院,9000,1000,0,0,8000,\n"
    )
    night(family, dt.date(2026, 11, 28))
    assert float(features(family, "H1")["oop_12m"]) == 20000.0  # the December file is not known on 11-28
    night(family, dt.date(2026, 12, 1))
    assert float(features(family, "H1")["oop_12m"]) == 28000.0
    night(family, early)  # backdating gives that night again, although later files are now loaded
    assert float(features(family, "H1")["oop_12m"]) == 0.0


def test_a_household_that_left_the_roster_no_longer_exists(family):
    family.write("mz_members", "m_20261120.csv", MEMBERS + f"H1,{HEAD},张三,户主,农业,红河,甲村,完全\n" + NEIGHBOURS)
    night(family, dt.date(2026, 11, 28))
    assert features(family, "H2") == {} and features(family, "H1")["members"] == 1
    night(family, dt.date(2026, 11, 10))
    assert features(family, "H2")["members"] == 1


def test_a_person_in_two_households_is_kept_in_both_and_flagged(family):
    family.write("mz_members", "m_20261101_补录.csv", MEMBERS + f"H3,{OTHER},王五,户主,农业,营丘,丙村,无\n")
    result = night(family, dt.date(2026, 11, 28))
    [members] = [
        m
        for m in result.asset_materializations_for_node("core_as_of")
        if m.asset_key == dg.AssetKey(["core", "household_members"])
    ]
    assert members.metadata["persons_in_two_households"].value == 1
    assert features(family, "H2")["members_in_two_households"] == 1
    assert features(family, "H3")["members_in_two_households"] == 1


def test_a_changed_or_missing_person_key_is_a_clear_error(family, monkeypatch):
    night(family, dt.date(2026, 11, 28))
    monkeypatch.setenv("JIUZHU_PERSON_KEY", "ab" * 32)
    with connect(family.warehouse) as con, pytest.raises(PersonKeyError, match="differs"):
        install(con, load_key(family.warehouse.parent))
    monkeypatch.delenv("JIUZHU_PERSON_KEY")
    monkeypatch.setenv("JIUZHU_ENV", "production")
    with pytest.raises(PersonKeyError, match="JIUZHU_PERSON_KEY"):
        load_key(Path(family.warehouse.parent) / "elsewhere")


def test_each_id_number_is_keyed_once_and_a_new_key_keys_everyone_again(family, monkeypatch):
    night(family, dt.date(2026, 11, 28))
    with connect(family.warehouse, read_only=True) as con:
        kept = dict(con.execute("SELECT id_number, person_key FROM restricted.person_keys").fetchall())
        tonight = dict(con.execute("SELECT id_number, person_key FROM restricted.person_ids").fetchall())
    assert tonight and all(kept[id18] == key == pkey(family, id18) for id18, key in tonight.items())
    # a deliberate re-keying (the fingerprint reset, another key): no key of the old one is read again
    with connect(family.warehouse) as con:
        con.execute("DELETE FROM core.key_fingerprint")
    monkeypatch.setenv("JIUZHU_PERSON_KEY", "ab" * 32)
    night(family, dt.date(2026, 11, 29))
    with connect(family.warehouse, read_only=True) as con:
        rekeyed = dict(con.execute("SELECT id_number, person_key FROM restricted.person_ids").fetchall())
    assert rekeyed.keys() == tonight.keys()
    assert all(key == person_key(bytes.fromhex("ab" * 32), id18) != tonight[id18] for id18, key in rekeyed.items())


def test_the_persons_of_a_night_are_those_it_knows_whichever_night_ran_before(family):
    """restricted.person_ids is brought up to date from night to night, not written again: a backfill of a
    night before a person's first record does not know the person, and the next night knows them again."""

    def persons() -> dict[str, str]:
        with connect(family.warehouse, read_only=True) as con:
            return dict(con.execute("SELECT id_number, person_key FROM restricted.person_ids").fetchall())

    night(family, dt.date(2026, 11, 28))
    later = persons()
    assert OUTSIDER in later and HEAD in later and len(later) == len(set(later.values()))
    night(family, dt.date(2026, 11, 5))  # before the settlement and the petition of 11-10 were extracted
    earlier = persons()
    assert OUTSIDER not in earlier and HEAD in earlier and set(earlier) == set(later) - {OUTSIDER}
    assert all(earlier[id18] == later[id18] for id18 in earlier)
    night(family, dt.date(2026, 11, 28))
    assert persons() == later


def test_a_quarantined_id_gets_a_suggestion_not_a_join(family):
    broken = WIFE[:17] + ("0" if WIFE[17] != "0" else "1")
    family.write(
        "yb_settlements", "yb_20261111.csv", SETTLEMENTS + f"JS5,{broken},李四,2026-11-10,住院,500,100,0,0,400,\n"
    )
    # rows the night does not read get none: a settlement file of over 24 months back (config/linkage.yaml
    # suggest_within_months), and a roster snapshot no longer in force
    family.write(
        "yb_settlements", "yb_20240910.csv", SETTLEMENTS + f"JS0,{broken},李四,2024-09-09,住院,500,100,0,0,400,\n"
    )
    son = SON[:17] + ("0" if SON[17] != "0" else "1")
    family.write("mz_members", "m_20261001.csv", MEMBERS + f"H1,{son},张小,子女,农业,红河,甲村,\n" + NEIGHBOURS)
    night(family, dt.date(2026, 11, 28))
    assert float(features(family, "H1")["oop_12m"]) == 20000.0  # not joined by guesswork
    with connect(family.warehouse, read_only=True) as con:
        quarantined = con.execute(
            "SELECT DISTINCT file_name FROM audit.quarantine WHERE reason_code = 'ID_CHECKSUM' ORDER BY 1"
        ).fetchall()
        rows = con.execute(
            "SELECT row_number, suggested_person_key, suggested_household_id, score, evidence, rank, file_name "
            "FROM core.linkage_suggestions"
        ).fetchall()
    assert quarantined == [("m_20261001.csv",), ("yb_20240910.csv",), ("yb_20261111.csv",)]
    assert {row[6] for row in rows} == {"yb_20261111.csv"}
    assert rows[0][:3] == (2, pkey(family, WIFE), "H1") and rows[0][5] == 1
    assert "姓名相同" in rows[0][4] and "出生日期相同" in rows[0][4]


def test_training_features_at_a_date_use_nothing_after_it(family):
    """The risk model's training rows for date D are the same whatever arrives later; only labels may change."""
    import datetime as dt

    from transform.model.training import build_training_rows

    d, later = dt.date(2026, 11, 10), dt.date(2026, 11, 28)
    night(family, later)

    def rows():
        with connect(family.warehouse) as con:
            install(con, load_key(family.warehouse.parent))
            build_training_rows(con, later, [d], progress=False, rebuild=True)  # built again, not the month end kept
            cur = con.execute("SELECT * EXCLUDE (label) FROM model.training_rows ORDER BY household_id")
            return cur.fetchall()

    before = rows()
    family.write(
        "yb_settlements", "yb_20261120.csv", SETTLEMENTS + f"JS7,{WIFE},李四,2026-11-15,住院,50000,10000,0,0,40000,\n"
    )
    family.write("mz_members", "m_20261120.csv", MEMBERS + f"H1,{HEAD},张三,户主,农业,红河,甲村,完全\n" + NEIGHBOURS)
    night(family, later)
    assert rows() == before and before


# A new household feature from an existing feed: its own features file, nothing else
LARGEST_BILL = """
CREATE OR REPLACE TEMP TABLE _jz_features_yb_bills AS
SELECT person_key, max(out_of_pocket) AS largest_bill_12m
FROM {yb_settlements}
WHERE settlement_date <= $as_of AND settlement_date > $as_of - INTERVAL ($medical_window_months) MONTH
GROUP BY person_key;

CREATE OR REPLACE TEMP TABLE _jz_household_yb_bills AS
SELECT household_id, coalesce(max(b.largest_bill_12m), 0) AS {column}
FROM {core}.household_members LEFT JOIN _jz_features_yb_bills b USING (person_key)
GROUP BY household_id;
"""


def test_a_features_file_alone_adds_a_household_column(family, tmp_path, monkeypatch):
    import shutil

    from transform.core import build

    night(family, dt.date(2026, 11, 28))
    before = features(family, "H1")
    folder = tmp_path / "core_sql"
    folder.mkdir()
    for path in build.SQL_DIR.glob("features_*.sql"):
        shutil.copy(path, folder)
    (folder / "features_yb_bills.sql").write_text(
        LARGEST_BILL.replace("{column}", "largest_bill_12m"), encoding="utf-8"
    )
    monkeypatch.setattr(build, "FEATURES_DIR", folder)
    night(family, dt.date(2026, 11, 28))
    after = features(family, "H1")
    # today's columns and values first and unchanged, the new one after them
    assert list(after) == [*before, "largest_bill_12m"] and {k: after[k] for k in before} == before
    assert float(after["largest_bill_12m"]) == 20000.0  # JS1; JS2 is reversed by JS3
    assert features(family, "H2")["largest_bill_12m"] == 0  # no settlements

    # a name today's table already uses is an error, not a column renamed oop_12m_1
    (folder / "features_yb_bills.sql").write_text(LARGEST_BILL.replace("{column}", "oop_12m"), encoding="utf-8")
    with pytest.raises(ValueError, match="already uses"):
        night(family, dt.date(2026, 11, 28))


def test_a_month_end_built_for_training_equals_what_its_own_night_kept(family):
    """Training builds a month end with less than a night does (no names, no persons outside the
    roster, no linkage suggestions): the features and members it keeps are the ones that night kept."""
    from transform.model.history import FEATURES, MEMBERS, NIGHTS, ensure_history

    month_end = dt.date(2026, 11, 30)
    night(family, month_end)

    def kept(con) -> list[list[tuple]]:
        return [
            con.execute(f"SELECT * FROM {table} WHERE as_of_date = ? ORDER BY ALL", [month_end]).fetchall()
            for table in (FEATURES, MEMBERS)
        ]

    with connect(family.warehouse) as con:
        # ID numbers an earlier version, stopped while building a month end in the warehouse, left behind
        con.execute("CREATE SCHEMA train_restricted; CREATE TABLE train_restricted.person_ids AS SELECT 1 AS x")
    with connect(family.warehouse) as con:  # dropped when the warehouse is next opened (warehouse/migrations.py)
        assert not con.execute("SELECT * FROM duckdb_schemas() WHERE schema_name LIKE 'train%'").fetchall()
        install(con, load_key(family.warehouse.parent))
        by_night = kept(con)
        assert ensure_history(con, [month_end], progress=False, rebuild=True) == [month_end]
        assert con.execute(f"SELECT kept_by FROM {NIGHTS}").fetchall() == [("training",)]
        by_training = kept(con)
        # built in memory: nothing of the month end but its features is left, in the warehouse or beside it
        left = "SELECT database_name, schema_name, table_name FROM duckdb_tables() WHERE schema_name LIKE 'train%'"
        assert con.execute(left).fetchall() == []
        assert "jz_train" not in {
            name for (name,) in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        }
    assert by_night[0] and by_training == by_night


def test_the_training_history_is_kept_once_and_built_again_only_when_stale(family):
    """Each month end's features are built once and read by every later retraining; a file dated on or
    before a kept month end, loaded later, makes that month end (and only it) be built again, and what
    is kept always equals building the month end from scratch."""
    from transform.model.training import build_training_rows

    first, second, later = dt.date(2026, 11, 10), dt.date(2026, 11, 15), dt.date(2026, 11, 28)
    night(family, later)

    def build(**how) -> tuple[list[dt.date], list[tuple]]:
        with connect(family.warehouse) as con:
            install(con, load_key(family.warehouse.parent))
            _, built = build_training_rows(con, later, [first, second], progress=False, **how)
            rows = con.execute("SELECT * FROM model.training_rows ORDER BY as_of_date, household_id").fetchall()
        return built, rows

    built, rows = build()
    assert built == [first, second] and {r[1] for r in rows} == {first, second}
    assert build() == ([], rows)  # kept: nothing built again
    # a settlement of the wife's dated 11-12, delivered late: the night of 11-15 would have read it
    family.write(
        "yb_settlements", "yb_20261112.csv", SETTLEMENTS + f"JS8,{WIFE},李四,2026-11-12,住院,9000,1000,0,0,8000,\n"
    )
    night(family, later)
    built, rows = build()
    assert built == [second]  # 11-10 is untouched by a file dated after it
    assert build(rebuild=True)[1] == rows  # the same as building both month ends from scratch
    h1 = {r[1]: r for r in rows if r[0] == "H1"}
    with connect(family.warehouse, read_only=True) as con:
        oop = [d[0] for d in con.execute("SELECT * FROM model.training_rows LIMIT 0").description].index("oop_3m")
    assert float(h1[second][oop]) == float(h1[first][oop]) + 8000


def test_a_history_kept_in_other_column_types_is_built_again_not_mixed(family):
    """A version that kept the month ends' sums in other types (128-bit sums, read back ten times slower)
    left a history that today's month ends cannot be appended to: the first month end kept again starts
    it afresh, in core's types, and the rows are what building from scratch gives."""
    from transform.model.history import FEATURES, NIGHTS
    from transform.model.training import build_training_rows

    first, second, later = dt.date(2026, 11, 10), dt.date(2026, 11, 15), dt.date(2026, 11, 28)
    night(family, later)

    def build() -> tuple[list[dt.date], list[tuple], str]:
        with connect(family.warehouse) as con:
            install(con, load_key(family.warehouse.parent))
            _, built = build_training_rows(con, later, [first, second], progress=False)
            rows = con.execute("SELECT * FROM model.training_rows ORDER BY as_of_date, household_id").fetchall()
            kind = con.execute(f"SELECT typeof(oop_3m) FROM {FEATURES} LIMIT 1").fetchall()[0][0]
        return built, rows, kind

    built, rows, kind = build()
    assert built == [first, second] and kind == "DECIMAL(18,2)"
    with connect(family.warehouse) as con:  # as the older version kept them, under its own version stamp
        con.execute(f"ALTER TABLE {FEATURES} ALTER oop_3m SET DATA TYPE DECIMAL(38, 2)")
        con.execute(f"UPDATE {NIGHTS} SET version = 'older'")
    assert build() == ([first, second], rows, "DECIMAL(18,2)")
