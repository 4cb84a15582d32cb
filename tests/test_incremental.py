"""A night costs what is new, and gives what rebuilding gives.

One generated county, run night after night twice: home A as the service runs it (each night
standardises only the new files and keeps its training month ends), home B with `jiuzhu run
--rebuild` (every feed restandardised from all of raw, every night). After every night both hold the
same staging rows, quarantine, core, scores, rule hits and warnings, through:

- a late file: settlements dated before the first night, delivered before the last;
- corrections: the same settlements again in it, with larger amounts (a later extract of the key),
  and a late insurance file, delivered before the second night, taking back contributions the
  nights had added up;
- a settlement reversal (原结算编号 naming a settlement already delivered);
- a roster change: the month's new roster snapshot in force on the last night;
- birthdays: members crossing 16, 18 or 60 between the nights.

The last night follows the one before by a day: the incremental home computes the features of the
households whose inputs changed or whose windows moved past a record, and carries the others over
(transform/core/delta.py); the rebuilt home computes every household. Their tables are the same.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from test_operations import keys  # noqa: F401  the keys the runs use (an autouse fixture), as that suite sets them

from pipelines.cli import main
from warehouse.resource import connect

AS_OF = dt.date(2026, 11, 28)
NIGHTS = [AS_OF - dt.timedelta(days=14), AS_OF - dt.timedelta(days=7), AS_OF - dt.timedelta(days=1), AS_OF]
HOUSEHOLDS, MONTHS = 400, 18  # test_operations' county: its model trains, and M01 warns
COMPARED = [
    "audit.quarantine",
    "core.households",
    "core.household_members",
    "core.household_features",
    "core.persons_outside_roster",
    "monitoring.household_scores",
    "monitoring.rule_hits",
    "monitoring.warnings",
    "monitoring.resolved_warnings",
    "restricted.person_ids",  # brought up to date from night to night; a rebuild makes it anew
]
VOLATILE = {"run_id", "quarantined_at"}  # when and by which run: the two homes run at different times


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("incremental") / "county"
    args = ["synth", "--out", str(out), "--households", str(HOUSEHOLDS), "--months", str(MONTHS)]
    assert main([*args, "--as-of", AS_OF.isoformat(), "--quiet"]) == 0
    return out / "landing"


def late_corrections_and_a_reversal(landing: Path, home: Path) -> int:
    """A settlements file dated before the first night: 30 settlements already delivered, each 500 元
    more out of pocket (and in total), and a reversal of one of them. Written from what staging holds
    (the generated files are messy on purpose). Returns the rows."""
    late = NIGHTS[0] - dt.timedelta(days=3)
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(
            """SELECT settlement_id AS 结算编号, id_number AS 身份证号, name AS 姓名, settlement_date AS 结算日期,
                      visit_type AS 就诊类别, total_cost AS 医疗总费用, fund_paid AS 统筹基金支付,
                      serious_illness_insurance_paid AS 大病保险支付, medical_assistance_paid AS 医疗救助支付,
                      out_of_pocket AS 个人自付, facility AS 定点机构, reverses AS 原结算编号
               FROM staging.yb_settlements
               WHERE reverses IS NULL AND out_of_pocket > 0 AND total_cost IS NOT NULL AND is_current
                 AND extract_date < ?  -- delivered before: the late file is a later extract of the same keys
               ORDER BY settlement_date DESC, settlement_id LIMIT 30""",
            [late],
        ).pl()
    raised = rows.with_columns(pl.col("个人自付") + 500, pl.col("医疗总费用") + 500)
    reversal = rows.head(1).with_columns(
        (pl.col("结算编号") + "R").alias("结算编号"),
        pl.col("结算编号").alias("原结算编号"),
        *[-pl.col(c) for c in ("医疗总费用", "统筹基金支付", "大病保险支付", "医疗救助支付", "个人自付")],
    )
    pl.concat([raised, reversal]).write_csv(landing / "yb_settlements" / f"{late:%Y%m%d}医保结算明细_更正.csv")
    return len(raised) + len(reversal)


def late_insurance_correction(landing: Path, home: Path) -> int:
    """An insurance file dated before the first night: 20 months of 职工养老 already delivered, resent
    with no base (the employer stopped paying). Within the month of the nights, so it changes the
    insurance history the nights added up once (transform/core/facts.py). Returns the rows."""
    late = NIGHTS[0] - dt.timedelta(days=3)
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(
            """SELECT id_number AS 身份证号, name AS 姓名, insurance_type AS 险种,
                      strftime(contribution_month, '%Y%m') AS 费款所属期, 0.0 AS 缴费基数,
                      benefit_type AS 待遇类别, benefit_amount AS 待遇金额
               FROM staging.rs_insurance
               WHERE is_current AND insurance_type = '职工养老' AND contribution_base > 0 AND extract_date < ?
               ORDER BY contribution_month DESC, id_number LIMIT 20""",
            [late],
        ).pl()
    rows.write_csv(landing / "rs_insurance" / f"{late:%Y%m%d}社保缴费与待遇_更正.csv")
    return len(rows)


def run(landing: Path, home: Path, night: dt.date, rebuild: bool) -> None:
    args = ["run", "--landing", str(landing), "--home", str(home), "--as-of", night.isoformat()]
    assert main(args + (["--rebuild"] if rebuild else [])) == 0


def table(home: Path, name: str) -> list[tuple]:
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        columns = [
            c
            for c, kind in con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall()
            if c not in VOLATILE and not kind.startswith("TIMESTAMP")
        ]
        select = ", ".join(f'"{c}"' for c in columns)
        return con.execute(f"SELECT {select} FROM {name} ORDER BY ALL").fetchall()


def staging_tables(home: Path) -> list[str]:
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        return [
            f"staging.{t}"
            for (t,) in con.execute(
                """SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()
                   AND schema_name = 'staging' AND table_name NOT IN ('feed_versions', 'standardised_files')"""
            ).fetchall()
        ]


def features_computed(home: Path) -> tuple[int, int]:
    """The households whose features the latest night computed, and all the night's households."""
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        return con.execute(
            "SELECT computed, (SELECT count(*) FROM core.household_features) FROM core.features_state"
        ).fetchall()[0]


def ages(home: Path) -> dict[str, int]:
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        return dict(con.execute("SELECT person_key, age FROM core.household_members").fetchall())


@pytest.mark.slow  # a county, eight nights
def test_incremental_nights_equal_rebuilding_every_night(county, tmp_path):
    incremental, rebuilt = tmp_path / "incremental", tmp_path / "rebuilt"
    landing = tmp_path / "landing"
    shutil.copytree(county, landing)
    crossed: set[int] = set()
    members_before: dict[str, int] = {}
    roster_changed = False
    for i, night in enumerate(NIGHTS):
        if i == 1:
            assert late_insurance_correction(landing, incremental) == 20
        if i == len(NIGHTS) - 1:  # on a night that computes some households only
            assert late_corrections_and_a_reversal(landing, incremental) == 31
        run(landing, incremental, night, rebuild=False)
        run(landing, rebuilt, night, rebuild=True)
        for name in staging_tables(rebuilt) + COMPARED:
            assert table(incremental, name) == table(rebuilt, name), f"{name} differs on {night}"
        now = ages(incremental)
        crossed |= {
            t
            for key, age in now.items()
            if key in members_before
            for t in (16, 18, 60)
            if members_before[key] < t <= age
        }
        roster_changed |= i > 0 and set(now) != set(members_before)  # households gained or lost members
        members_before = now
        computed, households = features_computed(incremental)
        assert features_computed(rebuilt) == (households, households)
        if i == len(NIGHTS) - 1:  # a day after the night before, the new roster in force: some households
            assert 0 < computed < households / 3, (computed, households)
    assert crossed, "no member crossed 16, 18 or 60 between the nights: the county cannot show it"
    assert roster_changed, "no new roster snapshot between the nights: the county cannot show it"
    with connect(incremental / "warehouse.duckdb", read_only=True) as con:
        # the late file was standardised, corrections and reversal included, and scores were given
        late = con.execute(
            "SELECT count(*), count(reverses) FROM staging.yb_settlements WHERE source_file LIKE '%更正%'"
        ).fetchall()[0]
        stopped = con.execute(
            "SELECT count(*) FROM staging.rs_insurance WHERE is_current AND source_file LIKE '%更正%' AND contribution_base = 0"
        ).fetchall()[0][0]
        scored = con.execute("SELECT count(*) FROM monitoring.household_scores").fetchall()[0][0]
    assert late == (31, 1) and stopped == 20 and scored > 0


class CountingModel:
    """A model that scores a household by its one feature and counts the rows it was asked to predict."""

    def __init__(self):
        self.predicted = 0

    def inputs(self, features):
        import pandas as pd

        return pd.DataFrame({"oop_3m": features["oop_3m"].astype(float)})

    def predict(self, x, threads=1):
        self.predicted += len(x)
        return (x["oop_3m"] / 1000).to_numpy()

    def explain(self, x, scores=None):
        return [[] for _ in range(len(x))]


def test_a_score_is_predicted_again_only_where_its_inputs_changed(tmp_path):
    """Night 2 predicts only the household whose inputs changed; the others keep night 1's scores.
    A rebuild, or another model, predicts every household again."""
    from transform.model.scoring import score_households

    model = CountingModel()
    with connect(tmp_path / "warehouse.duckdb") as con:

        def night(day: int, oop: list[int], **how) -> dict:
            con.execute(
                """CREATE OR REPLACE TABLE core.household_features AS
                   SELECT 'H' || i AS household_id, ?::DATE AS as_of_date, '370725110' AS township_code,
                          ['男', '女'][i % 2 + 1] AS head_sex, 600 AS dibao_standard, oop AS oop_3m
                   FROM unnest(?) WITH ORDINALITY t(oop, i)""",
                [dt.date(2026, 11, day), oop],
            )
            model.predicted = 0
            scores = score_households(con, dt.date(2026, 11, day), how.pop("version", "v1"), model, **how)
            assert scores["predicted"].sum() == model.predicted  # what the asset's metadata reports
            return dict(zip(scores["household_id"], scores["risk_score"]))

        assert night(27, [100, 200, 300]) == {"H1": 0.1, "H2": 0.2, "H3": 0.3} and model.predicted == 3
        assert night(28, [100, 250, 300]) == {"H1": 0.1, "H2": 0.25, "H3": 0.3} and model.predicted == 1
        assert night(28, [100, 250, 300], carry_over=False)["H2"] == 0.25 and model.predicted == 3
        night(28, [100, 250, 300], version="v2")
        assert model.predicted == 3
        stored = con.execute(
            """SELECT count(*), count(inputs_hash), list(visit_order ORDER BY visit_order)
               FROM monitoring.household_scores WHERE as_of_date = '2026-11-28'"""
        ).fetchall()[0]
    assert stored == (3, 3, [1, 2, 3])  # carried or not, every household has its place in the visit order
