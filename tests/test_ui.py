"""The Dagster UI as an operator opens it (`jiuzhu ui --home`): it starts, and its GraphQL API
lists the assets, the asset checks, the nightly schedule and the sensors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

STARTUP_LIMIT = 120  # seconds to wait for the server to answer before giving up (not a timing assertion)

QUERY = """
{
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        jobs { name }
        schedules { name cronSchedule executionTimezone }
        sensors { name sensorType sensorState { status } targets { pipelineName } }
      }
    }
    ... on PythonError { message }
  }
  assetNodes {
    assetKey { path }
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } }
  }
}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui")
    (root / "landing").mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "JIUZHU_HOME", "JIUZHU_LANDING")}
    log = (root / "webserver.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "ui",
            "--home",
            str(root / "home"),
            "--landing",
            str(root / "landing"),
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while _get(f"{base}/server_info") is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "the webserver did not start:\n" + (root / "webserver.log").read_text(errors="replace")[-3000:]
                )
            time.sleep(0.5)
        yield base
    finally:
        # the webserver and the code server it started are in their own process group
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()


def test_the_ui_lists_assets_checks_schedule_and_sensors(ui):
    data = _graphql(ui, QUERY)
    repos = data["repositoriesOrError"]
    assert repos["__typename"] == "RepositoryConnection", repos
    [repo] = repos["nodes"]

    assert {"nightly", "ingest_landing"} <= {j["name"] for j in repo["jobs"]}
    schedules = {s["name"]: s for s in repo["schedules"]}
    assert schedules["nightly_0130_beijing"]["cronSchedule"] == "30 1 * * *"
    assert schedules["nightly_0130_beijing"]["executionTimezone"] == "Asia/Shanghai"

    sensors = {s["name"]: s for s in repo["sensors"]}
    landing = sensors["landing_zone_new_files"]
    assert landing["sensorType"] == "STANDARD" and landing["sensorState"]["status"] == "RUNNING"
    assert [t["pipelineName"] for t in landing["targets"]] == ["ingest_landing"]
    assert sensors["alert_on_run_failure"]["sensorType"] == "RUN_STATUS"
    assert sensors["alert_on_run_failure"]["sensorState"]["status"] == "RUNNING"

    checks = {
        "/".join(n["assetKey"]["path"]): {c["name"]: c["blocking"] for c in n["assetChecksOrError"].get("checks", [])}
        for n in data["assetNodes"]
    }
    for asset in (
        "raw/mz_members",
        "raw/wj_deaths",
        "audit/ingest_summary",
        "staging/mz_members",
        "core/households",
        "monitoring/warnings",
        "monitoring/household_scores",
        "model/risk_model",
    ):
        assert asset in checks, asset
    assert checks["raw/mz_members"]["every_row_accounted_for"] is True  # blocking
    assert "duplicate_keys_within_limit" in checks["staging/mz_members"]
    assert "workbooks_hold_exactly_the_warnings" in checks["exports/warning_workbooks"]
