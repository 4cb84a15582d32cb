"""`make bench`: the night as a user lives it (issue 14), against DuckDB's floor.

On the county default (generated once into a cache outside the repository, benchmarks/ingest_bench.py),
each scenario is one `jiuzhu run` in its own process, process start included, on one home:

1. night 1: the initial load of a new county, training included (AS_OF - 1);
2. night 2: the next day's files only (AS_OF);
3. no-op: the same night again, nothing new;
4. late file: a correction dated three months back (settlements already delivered, amounts
   changed) dropped into the landing zone, then the night again;
5. backfill: the night a month earlier (AS_OF - 30 days);
6. months48: night 2 on a county generated with ``--months 48`` (its night 1 first, not a target):
   how a night grows with the length of the history. One pair of runs is noise on a shared machine
   (the same night measured 74 s and 98 s an hour apart), so night 2 runs GROWTH_PAIRS more times on
   each county, alternately, each from a copy of the home its night 1 left; the growth is the ratio
   of the two medians;
7. floor: DuckDB alone in the same run: ``read_csv`` of night 2's files, and one hand-written
   query computing the night's household features from staging;
8. simulation: ``jiuzhu simulate`` of the README's proposal (农村低保标准 680 -> 720) on night 2,
   before the backfill (issue 16: at most 30 s).

For each: wall time, time per asset (the run's own step lines), peak RSS of the process and the
ratio to the floor, printed and written to JSON under the cache's results folder.

The machine is shared and its speed varies from day to day (the same night from the same home took
54 s one day and 105 s another), so the run also times a fixed reference at its start and its end
(``machine_speed``: a pure-Python loop and a DuckDB aggregation over generated numbers), and again
before each scenario and the floor (``machine_before``: the speed drifts within a run too): two
figures compare only as far as their references agree.

``--double`` adds night 1 on a county of twice the households under the default memory limit:
it must spill, not die.

Environment: BENCH_HOUSEHOLDS (220000), BENCH_SEED (7), BENCH_AS_OF (2026-11-28), JIUZHU_BENCH_CACHE
(~/.cache/jiuzhu-bench); ``--phases`` picks scenarios (night1 and night2 always run first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.ingest_bench import AS_OF, CACHE, HOUSEHOLDS, SEED, generator_version, read_csv_floor

SCENARIOS = ("night1", "night2", "noop", "late", "backfill", "months48", "floor", "simulation")
TARGETS = {
    "night2_wall_seconds_max": 60,
    "night2_wall_seconds_goal": 20,
    "night1_wall_seconds_max": 600,
    "growth_24_to_48_months_max": 1.10,
    "peak_rss_mib_max": 4096,
    "simulation_wall_seconds_max": 30,
}
PROPOSAL = {"standards": {"dibao_standard_rural": 720}}  # the README's worked example
STEP_DONE = re.compile(r"完成 done\s+(\S+)\s+([\d.]+) s")
LATE_MONTHS = 3
LATE_ROWS = 2000  # settlements corrected by the late file
GROWTH_PAIRS = 2  # night 2 again on each county, alternately (months48)


def county(households: int = HOUSEHOLDS, months: int = 24) -> Path:
    """The generated county, from the cache (generated the first time: minutes)."""
    tail = "" if months == 24 else f"-{months}m"
    out = CACHE / f"county-{households}-seed{SEED}-{AS_OF}-{generator_version()}{tail}"
    if not (out / ".complete").exists():
        shutil.rmtree(out, ignore_errors=True)
        print(f"generating {out.name} …", flush=True)
        subprocess.run(
            [_jiuzhu(), "synth", "--out", str(out), "--households", str(households), "--months", str(months)]
            + ["--as-of", AS_OF, "--seed", str(SEED), "--quiet"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (out / ".complete").write_text("ok")
    return out


def _jiuzhu() -> str:
    return str(Path(sys.executable).parent / "jiuzhu")


def night(landing: Path, home: Path, as_of: dt.date, log: Path) -> dict:
    """One `jiuzhu run` in its own process: its wall time, each step's time and its peak RSS, and the
    machine's speed just before it (the machine drifts within a run: a night compares with the floor
    only as far as the reference measured beside each agrees)."""
    before = machine_speed()
    figures = _timed(["run", "--landing", str(landing), "--home", str(home), "--as-of", as_of.isoformat()], log)
    computed = _features_computed(home) if figures["exit_code"] == 0 else {}
    return {"as_of": as_of.isoformat(), "machine_before": before} | figures | computed


def _features_computed(home: Path) -> dict:
    """How many households' features the night computed; the others were carried over (transform/core/delta.py)."""
    from warehouse.resource import connect

    with connect(home / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT computed, (SELECT count(*) FROM core.household_features) FROM core.features_state"
        ).fetchall()
    return {"features_computed": rows[0][0], "households": rows[0][1]} if rows else {}


def _timed(arguments: list[str], log: Path) -> dict:
    """`jiuzhu <arguments>` in its own process: exit code, wall time, peak RSS and the steps it logged."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen([_jiuzhu(), *arguments], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    steps = {name: float(seconds) for name, seconds in STEP_DONE.findall(text)}
    return {
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "step_seconds": steps,
        "slowest_steps": dict(sorted(steps.items(), key=lambda kv: -kv[1])[:6]),
        "log": str(log),
    }


def simulation(home: Path, as_of: dt.date, work: Path) -> dict:
    """`jiuzhu simulate` of PROPOSAL on the night ``as_of``, timed, with its headline figures."""
    proposal = work / "rural_720.yaml"
    proposal.write_text(json.dumps(PROPOSAL), encoding="utf-8")  # JSON is YAML
    arguments = ["simulate", "--policy", str(proposal), "--home", str(home), "--as-of", as_of.isoformat()]
    figures = _timed(arguments, work / "simulation.log")
    out = home / "exports" / as_of.isoformat() / "simulation" / "rural_720.json"
    if out.exists():
        figures["figures"] = json.loads(out.read_text(encoding="utf-8"))
    return {"as_of": as_of.isoformat()} | figures


def _night_again(start: Path, landing: Path, as_of: dt.date, log: Path) -> dict:
    """night() on a copy of the home ``start``, which stays as it was."""
    copy = start.with_name(start.name + "-again")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(start, copy, symlinks=True)
    try:
        return night(landing, copy, as_of, log)
    finally:
        shutil.rmtree(copy)


def late_file(landing: Path, home: Path, as_of: dt.date) -> Path:
    """A correction dated three months back: LATE_ROWS settlements of the file delivered then, each
    500 元 more out of pocket (and in total), as 医保 resends them. Written from what staging holds
    (the delivered files are messy on purpose); returned so that it can be removed."""
    from warehouse.resource import connect

    when = as_of - dt.timedelta(days=30 * LATE_MONTHS)
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(
            """SELECT settlement_id AS 结算编号, id_number AS 身份证号, name AS 姓名, settlement_date AS 结算日期,
                      visit_type AS 就诊类别, total_cost + 500 AS 医疗总费用, fund_paid AS 统筹基金支付,
                      serious_illness_insurance_paid AS 大病保险支付, medical_assistance_paid AS 医疗救助支付,
                      out_of_pocket + 500 AS 个人自付, facility AS 定点机构, reverses AS 原结算编号
               FROM staging.yb_settlements
               WHERE extract_date = (SELECT max(extract_date) FROM staging.yb_settlements WHERE extract_date <= ?)
                 AND reverses IS NULL AND out_of_pocket IS NOT NULL AND total_cost IS NOT NULL
               ORDER BY settlement_id LIMIT ?""",
            [when, LATE_ROWS],
        ).pl()
    out = landing / "yb_settlements" / f"{when.strftime('%Y%m%d')}医保结算明细_更正.csv"
    rows.write_csv(out)
    return out


def floor(landing: Path, home: Path, as_of: dt.date) -> dict:
    """DuckDB alone: read_csv of the night's files (all VARCHAR, into a file-backed table), and one
    hand-written query of the night's household features over staging (nine of core's columns)."""
    from ingest.files import extract_date_from_name
    from warehouse.resource import connect

    before = machine_speed()
    files = [p for p in sorted(landing.rglob("*.csv")) if extract_date_from_name(p.name) == as_of]
    read_seconds, read, rows = read_csv_floor(files)
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        started = time.perf_counter()
        con.execute(FEATURES_FLOOR_SQL, {"as_of": as_of})
        households = con.execute("SELECT count(*) FROM floor_features").fetchall()[0][0]
        features_seconds = time.perf_counter() - started
    return {
        "files": read,
        "rows": rows,
        "read_csv_seconds": round(read_seconds, 2),
        "features_query_seconds": round(features_seconds, 2),
        "households": households,
        "seconds": round(read_seconds + features_seconds, 2),
        "machine_before": before,
    }


# The floor of core: the roster in force, each member's settlements, contributions, petitions and
# assistance in the policy's windows, added up per household, in one statement.
FEATURES_FLOOR_SQL = """
CREATE TEMP TABLE floor_features AS
WITH members AS (
    SELECT household_id, id_number, birth_date FROM staging.mz_members WHERE is_current
), oop AS (
    SELECT id_number,
           sum(out_of_pocket) FILTER (WHERE settlement_date > $as_of - INTERVAL 3 MONTH) AS oop_3m,
           sum(out_of_pocket) AS oop_12m,
           count(*) FILTER (WHERE visit_type = '住院') AS inpatient_12m
    FROM staging.yb_settlements
    WHERE is_current AND extract_date <= $as_of AND settlement_date > $as_of - INTERVAL 12 MONTH
    GROUP BY ALL
), paid AS (
    SELECT DISTINCT id_number FROM staging.rs_insurance
    WHERE is_current AND extract_date <= $as_of AND contribution_month > $as_of - INTERVAL 6 MONTH
), petitions AS (
    SELECT id_number, count(*) AS petitions_90d FROM staging.xf_petitions
    WHERE is_current AND extract_date <= $as_of AND registration_date > $as_of - INTERVAL 90 DAY GROUP BY ALL
), assisted AS (
    SELECT DISTINCT id_number FROM staging.mz_assistance
    WHERE is_current AND extract_date <= $as_of AND start_date <= $as_of AND coalesce(end_date, $as_of) >= $as_of
)
SELECT household_id, count(*) AS members,
       count(*) FILTER (WHERE birth_date > $as_of - INTERVAL 18 YEAR) AS children,
       count(*) FILTER (WHERE birth_date <= $as_of - INTERVAL 60 YEAR) AS elderly,
       coalesce(sum(oop_3m), 0) AS oop_3m, coalesce(sum(oop_12m), 0) AS oop_12m,
       coalesce(sum(inpatient_12m), 0) AS inpatient_12m,
       count(paid.id_number) AS contributors_6m, coalesce(sum(petitions_90d), 0) AS petitions_90d,
       count(assisted.id_number) > 0 AS assisted
FROM members
LEFT JOIN oop USING (id_number) LEFT JOIN paid USING (id_number)
LEFT JOIN petitions USING (id_number) LEFT JOIN assisted USING (id_number)
GROUP BY household_id
"""


REFERENCE_LOOP = 10_000_000  # iterations of the Python reference
REFERENCE_SQL = "SELECT count(DISTINCT hash(i) % 5000000), sum(i % 7) FROM range(20000000) t(i)"


def machine_speed() -> dict:
    """A fixed amount of work, timed: the interpreter (ns per loop iteration) and DuckDB on two threads
    (a hash aggregation of 20M generated numbers). Neither reads a file, so only the machine varies."""
    import duckdb

    started = time.perf_counter()
    total = 0
    for i in range(REFERENCE_LOOP):
        total += i
    python_ns = (time.perf_counter() - started) / REFERENCE_LOOP * 1e9
    con = duckdb.connect(config={"threads": 2})
    con.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    con.execute(REFERENCE_SQL).fetchall()
    duckdb_seconds = time.perf_counter() - started
    con.close()
    return {"python_loop_ns": round(python_ns, 1), "duckdb_reference_seconds": round(duckdb_seconds, 2)}


def _print(name: str, figures: dict, floor_seconds: float | None) -> None:
    ratio = f", {figures['wall_seconds'] / floor_seconds:.1f}× the floor" if floor_seconds else ""
    ok = "" if figures["exit_code"] == 0 else f"  EXIT {figures['exit_code']} (see {figures['log']})"
    print(f"{name:>10}: {figures['wall_seconds']:8.1f} s  peak {figures['peak_rss_mib']:7.0f} MiB{ratio}{ok}")
    if "machine_before" in figures:
        m = figures["machine_before"]
        print(
            f"{'':>10}  machine before it: Python loop {m['python_loop_ns']} ns, DuckDB reference {m['duckdb_reference_seconds']} s"
        )
    if "features_computed" in figures:
        print(f"{'':>10}  features computed: {figures['features_computed']:,} of {figures['households']:,} households")
    slow = ", ".join(f"{k} {v:.1f}" for k, v in figures["slowest_steps"].items())
    if slow:
        print(f"{'':>10}  slowest steps (s): {slow}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default=",".join(SCENARIOS), help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--double", action="store_true", help="also night 1 at twice the households (spilling)")
    args = parser.parse_args()
    phases = set(args.phases.split(",")) | {"night1", "night2"}
    as_of = dt.date.fromisoformat(AS_OF)
    work = CACHE / "night-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    landing, home = county() / "landing", work / "home"
    result: dict = {"households": HOUSEHOLDS, "as_of": AS_OF, "seed": SEED, "targets": TARGETS, "scenarios": {}}
    runs = result["scenarios"]
    print(f"county: {landing.parent.name}; home: {home}", flush=True)
    result["machine_speed"] = {"start": machine_speed()}
    print(f"machine: {result['machine_speed']['start']}", flush=True)
    runs["night1"] = night(landing, home, as_of - dt.timedelta(days=1), work / "night1.log")
    after_night1 = work / "home-after-night1"  # night 2 again from here (months48)
    if "months48" in phases:
        shutil.copytree(home, after_night1, symlinks=True)
    runs["night2"] = night(landing, home, as_of, work / "night2.log")
    if "floor" in phases:
        result["floor"] = floor(landing, home, as_of)
    if "noop" in phases:
        runs["noop"] = night(landing, home, as_of, work / "noop.log")
    if "late" in phases:
        late = late_file(landing, home, as_of)
        try:
            runs["late"] = night(landing, home, as_of, work / "late.log")
            runs["late"]["late_file"] = late.name
        finally:
            late.unlink()
    if "simulation" in phases:  # on the latest night, which core holds (before the backfill moves it)
        runs["simulation"] = simulation(home, as_of, work)
    if "backfill" in phases:
        runs["backfill"] = night(landing, home, as_of - dt.timedelta(days=30), work / "backfill.log")
    if "months48" in phases:
        long_landing, long_home = county(months=48) / "landing", work / "home-48m"
        runs["months48_night1"] = night(long_landing, long_home, as_of - dt.timedelta(days=1), work / "48-night1.log")
        growth: dict[str, list[float]] = {"months24": [], "months48": []}
        result["growth_runs"] = growth
        for pair in range(GROWTH_PAIRS):
            for months, start, where in (("months48", long_home, long_landing), ("months24", after_night1, landing)):
                again = _night_again(start, where, as_of, work / f"night2-{months}-{pair + 1}.log")
                growth[months].append(again["wall_seconds"])
                runs.setdefault(f"{months}_night2", again)  # the first of each, in full
        result["growth_24_to_48_months"] = round(
            statistics.median(growth["months48"]) / statistics.median(growth["months24"]), 3
        )
        shutil.rmtree(after_night1)
    if args.double:
        big = county(2 * HOUSEHOLDS) / "landing"
        runs["double_night1"] = night(big, work / "home-2x", as_of - dt.timedelta(days=1), work / "2x-night1.log")
    result["machine_speed"]["end"] = machine_speed()
    floor_seconds = result.get("floor", {}).get("seconds")
    for name, figures in runs.items():
        if floor_seconds:
            figures["ratio_to_floor"] = round(figures["wall_seconds"] / floor_seconds, 1)
        _print(name, figures, floor_seconds)
    if "floor" in result:
        f = result["floor"]
        print(
            f"     floor: {f['seconds']:.1f} s = read_csv of night 2's {f['files']} files ({f['rows']:,} rows) "
            f"{f['read_csv_seconds']:.1f} s + household features query {f['features_query_seconds']:.1f} s "
            f"(machine before it: {f['machine_before']})"
        )
    if "growth_24_to_48_months" in result:
        walls = result["growth_runs"]
        print(
            f"night 2 at 48 months / at 24 months: {result['growth_24_to_48_months']:.2f} (medians of "
            f"{', '.join(map(str, walls['months48']))} s and {', '.join(map(str, walls['months24']))} s)"
        )
    speed = result["machine_speed"]
    print(
        "machine (start, end): Python loop "
        + ", ".join(f"{speed[k]['python_loop_ns']} ns" for k in ("start", "end"))
        + "; DuckDB reference "
        + ", ".join(f"{speed[k]['duckdb_reference_seconds']} s" for k in ("start", "end"))
    )
    out = CACHE / "results" / f"night-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
