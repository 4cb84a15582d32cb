"""The one Dagster ``Definitions`` of jiuzhu.

``defs`` (what `dagster`, `jiuzhu ui` and the tests load) reads the home and the
landing zone from JIUZHU_HOME and JIUZHU_LANDING; `jiuzhu run` builds the same
definitions with explicit paths; the night is the run's partition.
"""

from __future__ import annotations

import dagster as dg

from assets.audit import ingest_summary_asset
from assets.backtest import rule_backtest
from assets.common import NightSettings, Warehouse
from assets.core import core_as_of
from assets.model import household_scores, risk_model
from assets.monitoring import policy_in_force, township_supervision, warning_list, warning_workbooks
from assets.petitions import petition_classifier
from assets.quality import feed_gate, scorecards, township_feedback
from assets.raw import raw_assets
from assets.simulation import fund_demand, policy_simulation
from assets.staging import staging_assets
from checks.accounting import accounting_checks
from checks.freshness import freshness_checks
from checks.gx_suites import gx_checks
from checks.model_checks import model_in_use_beats_the_baseline
from checks.monitoring_checks import policy_complies, workbooks_hold_exactly_the_warnings
from checks.staging_checks import quality_checks
from pipelines.alerts import alert_on_run_failure
from pipelines.recovery import recover_dead_runs
from pipelines.sensors import ingest_landing_job, landing_zone_sensor

NIGHTLY_JOB = "nightly"


def build_definitions(
    home: str | dg.EnvVar, landing: str | dg.EnvVar, policy: str = "", rebuild: bool = False
) -> dg.Definitions:
    nightly = dg.define_asset_job(
        NIGHTLY_JOB,
        # a policy simulation runs on request, with its proposal (jiuzhu simulate, or the UI's launchpad)
        selection=dg.AssetSelection.all() - dg.AssetSelection.assets(policy_simulation),
        # one run per night: its partition (NIGHTS, of the assets selected) is the day it covers;
        # raw ingest is not partitioned: it takes whatever files are new, up to that day
        # DuckDB has one writer: the night runs its steps one after another in one process.
        executor_def=dg.in_process_executor,
        description="夜间全流程：接收各部门数据 … The whole nightly run for one day (its partition), in dependency order.",
    )
    # Every night at 01:30 Beijing time, for the partition of the day that just ended.
    nightly_schedule = dg.build_schedule_from_partitioned_job(
        nightly,
        name="nightly_0130_beijing",
        hour_of_day=1,
        minute_of_hour=30,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="每晚北京时间01:30运行全流程，处理刚结束的一天。Runs the whole night at 01:30 Asia/Shanghai.",
    )
    return dg.Definitions(
        assets=[
            *raw_assets,
            ingest_summary_asset,
            *staging_assets,
            township_feedback,
            feed_gate,
            scorecards,
            petition_classifier,
            core_as_of,
            policy_in_force,
            warning_list,
            warning_workbooks,
            township_supervision,
            risk_model,
            household_scores,
            rule_backtest,
            fund_demand,
            policy_simulation,
        ],
        asset_checks=[
            *accounting_checks,
            *freshness_checks,
            *quality_checks,
            *gx_checks,
            policy_complies,
            workbooks_hold_exactly_the_warnings,
            model_in_use_beats_the_baseline,
        ],
        jobs=[nightly, ingest_landing_job],
        schedules=[nightly_schedule],
        sensors=[landing_zone_sensor, alert_on_run_failure, recover_dead_runs],
        resources={
            "warehouse": Warehouse(home=home),
            "night": NightSettings(landing=landing, policy=policy, rebuild=rebuild),  # the night: the run's partition
        },
    )


defs = build_definitions(home=dg.EnvVar("JIUZHU_HOME"), landing=dg.EnvVar("JIUZHU_LANDING"))
