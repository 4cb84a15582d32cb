"""Layer 3 — core: persons, households and members as they stood on the as-of date,
persons outside the roster, household features, and linkage suggestions."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from assets.common import NIGHTS, WAREHOUSE_POOL, NightSettings, Warehouse, night_of
from assets.petitions import PETITION_CLASSIFIER
from assets.staging import staging_assets
from exports.charts import markdown_table
from transform.core.build import build_core
from transform.model.history import is_month_end, keep
from warehouse.person_key import install, load_key
from warehouse.resource import quote_ident as q

# The policy in force (assets/monitoring.py): core reads its windows and standards, and its blocking
# check (complies_with_items_1_and_2) stops core, the scores and the warnings when it fails.
POLICY_IN_FORCE = dg.AssetKey(["config", "policy_in_force"])

CORE_TABLES = {
    "persons": "人员（以 person_key 为键，不含身份证号）：出生日期、性别、是否在民政名册。\n\n"
    "One row per person, keyed by person_key (no ID number): birth date, sex, whether in the roster.",
    "household_members": "当晚的家庭成员（民政名册快照）：与户主关系、年龄、劳动能力、残疾、在校。\n\n"
    "Household members as of the date (roster snapshot in force): relation, age, work ability, "
    "disability, school.",
    "households": "当晚的家庭：户主、城乡、镇街、村居、人数。\n\nHouseholds as of the date: head, urban or rural, "
    "township, village, members.",
    "assistance": "当晚每人的救助记录：类别、起止日期、金额、是否在保。\n\nAssistance records per person as of the date: "
    "category, start and end dates, amount, whether active.",
    "persons_outside_roster": "不在民政名册、但出现在其他部门数据中的人员（持居住证等），按信访问题属地或兜底分派。\n\n"
    "Persons outside the roster seen in other departments' data, routed to a township by "
    "their petition's 问题属地, else to the county centre.",
    "household_features": "每户特征（只用当晚已知的记录）：收入核对、救助状态、医疗自付、大病、死亡、就业、缴费、信访与趋势；"
    "*_detail 列写明预警原因点名的成员（姓名、脱敏身份证号、日期、金额），只进镇街和部门工作簿。"
    "界面中显示脱敏预览（户编号和不涉及健康的数值特征）和各特征的分布。\n\n"
    "One row of features per household, from what was known on the date: verified income, "
    "assistance, out-of-pocket medical costs, serious illness, deaths, employment, contributions, "
    "petitions; the *_detail columns name the members a warning's reason is about (name, masked ID, "
    "date, amount), for the workbooks only. The UI shows a masked preview and each numeric feature's distribution.",
    "linkage_suggestions": "身份证号被隔离的记录可能对应的人员（姓名、出生日期、地区码），供人工确认。\n\n"
    "Likely persons behind rows quarantined for their ID number, for an analyst to confirm.",
}


# The UI preview of core.household_features: household_id (户编号, not personal data) and numeric
# features that say nothing of anyone's health (no disability, illness, medical costs or deaths).
PREVIEW_FEATURES = [
    ("household_id", "household_id"),
    ("township_code", "township_code"),
    ("residence_type", "residence_type"),
    ("members", "members"),
    ("working_age", "working_age"),
    ("able_to_work", "able_to_work"),
    ("in_school", "in_school"),
    ("per_capita_monthly_income", "round(per_capita_monthly_income)::INTEGER"),
    ("income_to_standard", "round(income_to_standard, 2)"),
    ("on_dibao", "on_dibao"),
    ("on_tekun", "on_tekun"),
    ("on_dibao_edge", "on_dibao_edge"),
    ("contributors_6m", "contributors_6m"),
]
PREVIEW_ROWS = 5
FEATURES_PREVIEW_SQL = (
    f"SELECT {', '.join(expr for _, expr in PREVIEW_FEATURES)} FROM core.household_features "
    f"ORDER BY household_id LIMIT {PREVIEW_ROWS}"
)
# Each numeric feature over all households: aggregates only, no row and no extreme (a maximum is one household's
# value). Exact quartiles, a column at a time: SUMMARIZE's sketches of every column, text too, took 1.6 s a night
# at the county default, this 0.5 s.
NOT_SUMMARISED = ("VARCHAR", "DATE", "VARCHAR[]")


def features_summary(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(feature, null %, mean, P25, median, P75) of each numeric column of core.household_features."""
    columns = con.execute(
        f"""SELECT column_name FROM duckdb_columns()
            WHERE database_name = current_database() AND schema_name = 'core' AND table_name = 'household_features'
              AND data_type NOT IN ({", ".join(repr(t) for t in NOT_SUMMARISED)}) ORDER BY column_index"""
    ).fetchall()
    each = [
        f"""SELECT {i} AS i, '{column}' AS feature, round(100 * count_if({q(column)} IS NULL) / count(*), 2) AS nulls,
                   round(avg({q(column)})::DOUBLE, 3) AS mean, quantile_disc({q(column)}, [0.25, 0.5, 0.75])::VARCHAR[] AS q
            FROM core.household_features"""
        for i, (column,) in enumerate(columns)
    ]
    if not each:
        return []
    union = " UNION ALL ".join(f"({sql})" for sql in each)
    return con.execute(f"SELECT feature, nulls, mean, q[1], q[2], q[3] FROM ({union}) ORDER BY i").fetchall()


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["core", name],
            description=text,
            group_name="core",
            kinds={"duckdb"},
            deps=[a.key for a in staging_assets] + [POLICY_IN_FORCE, PETITION_CLASSIFIER],
            owners=["team:civil_affairs"],
            tags={"layer": "core"},
        )
        for name, text in CORE_TABLES.items()
    ],
    pool=WAREHOUSE_POOL,
    partitions_def=NIGHTS,
    name="core_as_of",
)
def core_as_of(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings):
    as_of = night_of(context, night)
    key = load_key(Path(warehouse.home))
    with warehouse.connect() as con:
        install(con, key)
        report = build_core(con, as_of, night.policy_in_force(as_of), rebuild=night.rebuild)
        if is_month_end(as_of):  # kept for the risk model's training: retraining never builds this night again
            keep(con, as_of)
        counts = {name: con.execute(f"SELECT count(*) FROM core.{name}").fetchall()[0][0] for name in CORE_TABLES}
        preview = con.execute(FEATURES_PREVIEW_SQL).fetchall()
        summary = features_summary(con) if counts["household_features"] else []
    extra: dict[str, dict[str, Any]] = {
        "persons": {"outside_roster": report.outside_roster},
        "household_members": {"persons_in_two_households": report.multi_household_persons},
        "linkage_suggestions": {"quarantined_rows_with_a_suggestion": report.rows_with_linkage_suggestions},
        "household_features": {
            # the others' rows carried over from the night before, as_of_date advanced (transform/core/delta.py)
            "computed_tonight": dg.MetadataValue.int(report.features_computed),
            "preview": dg.MetadataValue.md(
                markdown_table([c for c, _ in PREVIEW_FEATURES], preview)
                + f"\n\n前 {len(preview)} 户（按户编号），只列不涉及健康的数值特征；不含姓名、身份证号、地址。"
                "First households by household_id, numeric features without health details; no names, ID numbers "
                "or addresses."
                if preview
                else "没有家庭 (no households)"
            ),
            "feature_distribution": dg.MetadataValue.md(
                markdown_table(["特征 feature", "空值 null %", "均值 mean", "P25", "中位数 median", "P75"], summary)
                if summary
                else "没有家庭 (no households)"
            ),
        },
    }
    for name in CORE_TABLES:
        yield dg.MaterializeResult(
            asset_key=["core", name],
            metadata={
                "dagster/row_count": dg.MetadataValue.int(counts[name]),
                "as_of": as_of.isoformat(),
                **extra.get(name, {}),
            },
        )
