"""Layer 3 — core: persons, households and members as they stood on the as-of date,
persons outside the roster, household features, and linkage suggestions."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

from pathlib import Path

import dagster as dg

from assets.staging import staging_assets
from pipelines.settings import NIGHTS, WAREHOUSE_POOL, NightSettings, night_of
from warehouse.core import build_core
from warehouse.person_key import install, load_key
from warehouse.resource import Warehouse

CORE_TABLES = {
    "persons": "人员（以 person_key 为键，不含身份证号）：出生日期、性别、是否在民政名册。One row per person, keyed by person_key.",
    "household_members": "当晚的家庭成员（民政名册快照）：与户主关系、年龄、劳动能力、残疾、在校。Members as of the date.",
    "households": "当晚的家庭：户主、城乡、镇街、村居、人数。Households as of the date.",
    "assistance": "当晚每人的救助记录：类别、起止日期、金额、是否在保。Assistance records per person as of the date.",
    "persons_outside_roster": "不在民政名册、但出现在其他部门数据中的人员（持居住证等），按信访问题属地或兜底分派。Persons outside the roster.",
    "household_features": "每户特征（只用当晚已知的记录）：收入核对、救助状态、医疗自付、大病、死亡、就业、缴费、信访与趋势。Household features.",
    "linkage_suggestions": "身份证号被隔离的记录可能对应的人员（姓名、出生日期、地区码），供人工确认。Suggestions for quarantined IDs.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["core", name], description=text, group_name="core", kinds={"duckdb"},
            deps=[a.key for a in staging_assets], owners=["team:civil_affairs"],
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
        report = build_core(con, as_of, night.policy_in_force(as_of))
        counts = {name: con.execute(f"SELECT count(*) FROM core.{name}").fetchall()[0][0] for name in CORE_TABLES}
    extra = {
        "persons": {"outside_roster": report.outside_roster},
        "household_members": {"persons_in_two_households": report.multi_household_persons},
        "linkage_suggestions": {"quarantined_rows_with_a_suggestion": report.rows_with_linkage_suggestions},
    }
    for name in CORE_TABLES:
        yield dg.MaterializeResult(
            asset_key=["core", name],
            metadata={"dagster/row_count": dg.MetadataValue.int(counts[name]), "as_of": as_of.isoformat(), **extra.get(name, {})},
        )
