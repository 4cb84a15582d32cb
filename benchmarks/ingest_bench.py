"""`make bench`: the full initial ingest of the county default against DuckDB's floor.

1. generates the county default once (220,000 households) into a cache outside the repo;
2. floor: DuckDB read_csv of the same CSV files, all VARCHAR, into a file-backed
   table with no other work (GB18030 files decoded in Python first, as DuckDB
   reads only UTF-8 here), in its own process;
3. ingest: the raw assets of the nightly job through Dagster into a fresh home, in
   its own process; then staging (standardisation, quality gates, scorecards) in
   another process on the same home; then core (linking and household features);
4. score: the risk model (trained on a smaller county of the same generator, BENCH_MODEL_HOUSEHOLDS,
   cached, with the county default's larger trees) scores every household of the county default,
   with explanations and the income estimate (target < 30 s);
5. prints and writes JSON: wall time per asset, rows/s, peak memory (RSS) of each
   process, and the ratio of ingest to floor. Targets (issue 2): ≤ 3× the floor,
   < 4 GiB peak for the ingest.

Environment: BENCH_HOUSEHOLDS (default 220000), BENCH_SEED (7), JIUZHU_BENCH_CACHE
(default ~/.cache/jiuzhu-bench), BENCH_AS_OF (2026-11-28).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = os.environ.get("BENCH_AS_OF", "2026-11-28")
HOUSEHOLDS = int(os.environ.get("BENCH_HOUSEHOLDS", "220000"))
SEED = int(os.environ.get("BENCH_SEED", "7"))
CACHE = Path(os.environ.get("JIUZHU_BENCH_CACHE", Path.home() / ".cache" / "jiuzhu-bench"))


MODEL_HOUSEHOLDS = int(os.environ.get("BENCH_MODEL_HOUSEHOLDS", "20000"))


def generator_version() -> str:
    """A county in the cache is reused only while the generator that wrote it is unchanged."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((Path(__file__).resolve().parent.parent / "synth").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def county_dir(households: int = HOUSEHOLDS) -> Path:
    return CACHE / f"county-{households}-seed{SEED}-{AS_OF}-{generator_version()}"


def ensure_county(households: int = HOUSEHOLDS) -> tuple[Path, float | None]:
    out = county_dir(households)
    done = out / ".complete"
    if done.exists():
        return out, None
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    jiuzhu = Path(sys.executable).parent / "jiuzhu"
    subprocess.run(
        [
            str(jiuzhu),
            "synth",
            "--out",
            str(out),
            "--households",
            str(households),
            "--as-of",
            AS_OF,
            "--seed",
            str(SEED),
        ],
        check=True,
    )
    done.write_text("ok")
    return out, time.perf_counter() - started


def read_csv_floor(paths: list[Path]) -> tuple[float, int, int]:
    """DuckDB alone reading ``paths``: each CSV file into a file-backed table, all VARCHAR (GB18030
    files decoded in Python first). Returns the seconds, the files read and their rows."""
    import duckdb

    from ingest.sniff import as_utf8, detect_encoding, sniff_format

    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
        started = time.perf_counter()
        rows = files = 0
        for path in paths:
            try:
                if sniff_format(path) != "csv":
                    continue
                src = as_utf8(path, detect_encoding(path), Path(tmp))
            except Exception:
                continue  # whole-file junk: the floor reads what can be read
            files += 1
            con.execute(
                f"CREATE TABLE t{files} AS SELECT * FROM read_csv(?, all_varchar=true, ignore_errors=true, null_padding=true)",
                [str(src)],
            )
            rows += con.execute(f"SELECT count(*) FROM t{files}").fetchall()[0][0]
        seconds = time.perf_counter() - started
        con.close()
    return seconds, files, rows


def phase_floor(landing: Path) -> dict:
    seconds, files, rows = read_csv_floor(sorted(landing.rglob("*.csv")))
    return {"seconds": seconds, "files": files, "rows": rows, "peak_rss_mib": _peak_mib()}


def phase_run(landing: Path, home: Path, groups: list[str]) -> dict:
    """Materialise the asset groups through Dagster in the home's instance; time each step."""
    from pipelines.definitions import NIGHTLY_JOB, build_definitions
    from pipelines.instance import open_instance
    from pipelines.nightly import QUIET_DAGSTER
    from warehouse.resource import connect

    instance = open_instance(home, landing)
    defs = build_definitions(home=str(home), landing=str(landing))
    keys = [spec.key for spec in defs.resolve_all_asset_specs() if spec.group_name in groups]
    started = time.perf_counter()
    result = defs.resolve_job_def(NIGHTLY_JOB).execute_in_process(
        instance=instance,
        run_config=QUIET_DAGSTER,
        raise_on_error=False,
        asset_selection=keys,
        partition_key=AS_OF,
        tags={"jiuzhu/bench": ",".join(groups)},
    )
    wall = time.perf_counter() - started
    steps: dict[str, dict] = {}
    for record in instance.all_logs(result.run_id):
        ev = record.dagster_event
        if ev is None or not ev.step_key:
            continue
        if ev.event_type_value == "STEP_START":
            steps[ev.step_key] = {"start": record.timestamp}
        elif ev.event_type_value == "STEP_SUCCESS" and ev.step_key in steps:
            steps[ev.step_key]["seconds"] = round(record.timestamp - steps[ev.step_key].pop("start"), 3)
    with connect(home / "warehouse.duckdb", read_only=True) as con:  # encrypted: through the resource
        by_format = con.execute(
            """SELECT coalesce(format, 'none'), count(*), sum(coalesce(rows_read, 0)), round(sum(seconds), 3)
               FROM audit.files GROUP BY 1 ORDER BY 1"""
        ).fetchall()
    return {
        "success": result.success,
        "wall_seconds": round(wall, 3),
        "step_seconds": {k: v.get("seconds") for k, v in steps.items()},
        "by_format": [dict(zip(("format", "files", "rows_read", "seconds"), r)) for r in by_format],
        "peak_rss_mib": _peak_mib(),
    }


def ensure_model() -> Path:
    """A trained model home: the nightly run (which trains the model) on a smaller county, cached."""
    county, _ = ensure_county(MODEL_HOUSEHOLDS)
    home = county.parent / f"model-home-{county.name}"
    if not (home / "models" / "current.json").exists():
        shutil.rmtree(home, ignore_errors=True)
        jiuzhu = Path(sys.executable).parent / "jiuzhu"
        subprocess.run(
            [str(jiuzhu), "run", "--landing", str(county / "landing"), "--home", str(home), "--as-of", AS_OF],
            check=True,
            capture_output=True,
        )
    return home


def phase_score(home: Path, model_home: Path) -> dict:
    """Score every household of the county default. The model is trained on the smaller county's
    training rows, with the larger trees the county default's own training rows would get
    (models/risk.py trees_for): scoring costs what it costs in production."""
    import datetime as dt

    from models.risk import LARGE_TREES, train
    from transform.model.frames import model_frame
    from transform.model.scoring import score_households
    from warehouse.resource import connect

    with connect(model_home / "warehouse.duckdb", read_only=True) as con:
        model = train(model_frame(con, "model.training_rows"), trees=LARGE_TREES)
    with connect(home / "warehouse.duckdb") as con:
        started = time.perf_counter()
        scores = score_households(con, dt.date.fromisoformat(AS_OF), f"bench-{model.kind}", model)
        seconds = time.perf_counter() - started
    assert model.income is not None  # train() always fits the income estimate
    return {
        "seconds": round(seconds, 3),
        "households": len(scores),
        "kind": model.kind,
        "held_out": model.metrics,
        "income_estimate": model.income.metrics,
        "peak_rss_mib": _peak_mib(),
    }


def id_normalisation_rate(n: int = 3_000_000) -> float:
    """ID numbers normalised per second by staging's SQL (target ≥ 1M/s): a mix of
    clean 18-digit numbers, lowercase x, 15-digit numbers and numbers with spaces."""
    import duckdb

    from warehouse.macros import install_macros

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    install_macros(con)
    con.execute(
        f"""CREATE TABLE ids AS SELECT CASE i % 10
                WHEN 0 THEN lower(s) WHEN 1 THEN s[1:6] || s[9:17] WHEN 2 THEN s[1:6] || ' ' || s[7:] ELSE s END AS raw
            FROM (SELECT '370725' || strftime(DATE '1940-01-01' + (i % 30000)::INTEGER, '%Y%m%d')
                         || lpad((i % 1000)::VARCHAR, 3, '0') || 'X' AS s, i FROM range({n}) t(i))"""
    )
    started = time.perf_counter()
    con.execute(
        """CREATE TABLE out AS
           WITH a AS (SELECT jz_id_clean(raw) AS c FROM ids), b AS (SELECT c, jz_id_shape(c) AS shape FROM a),
                d AS (SELECT shape, jz_id18_of(c, shape) AS id18 FROM b)
           SELECT id18, jz_id_problem_of(shape, id18, DATE '2026-11-28') AS problem FROM d"""
    )
    return n / (time.perf_counter() - started)


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _child(phase: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ingest_bench", "--phase", phase, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=["floor", "ingest", "staging", "core", "score"])
    parser.add_argument("--model-home", type=Path)
    parser.add_argument("--landing", type=Path)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.phase == "floor":
        print(json.dumps(phase_floor(args.landing)))
        return
    if args.phase == "score":
        print(json.dumps(phase_score(args.home, args.model_home)))
        return
    if args.phase in ("ingest", "staging", "core"):
        import contextlib
        import io

        groups = {"ingest": ["raw", "audit"], "staging": ["staging", "quality"], "core": ["core"]}[args.phase]
        with contextlib.redirect_stdout(io.StringIO()):  # keep stdout for the JSON line
            result = phase_run(args.landing, args.home, groups)
        print(json.dumps(result))
        return

    county, synth_seconds = ensure_county()
    landing = county / "landing"
    home = CACHE / "bench-home"
    shutil.rmtree(home, ignore_errors=True)
    print(
        f"county: {county} ({HOUSEHOLDS} households){'' if synth_seconds is None else f', generated in {synth_seconds:.1f} s'}"
    )
    floor = _child("floor", "--landing", str(landing))
    ingest = _child("ingest", "--landing", str(landing), "--home", str(home))
    staging = _child("staging", "--landing", str(landing), "--home", str(home))
    core = _child("core", "--landing", str(landing), "--home", str(home))
    score = _child("score", "--home", str(home), "--model-home", str(ensure_model()))
    csv = next((f for f in ingest["by_format"] if f["format"] == "csv"), {"seconds": 0, "rows_read": 0})
    raw_steps = sum(v or 0 for k, v in ingest["step_seconds"].items() if k.startswith("raw__"))
    staging_steps = sum(v or 0 for k, v in staging["step_seconds"].items() if k.startswith("staging__"))
    rows = sum(f["rows_read"] or 0 for f in ingest["by_format"])
    result = {
        "households": HOUSEHOLDS,
        "as_of": AS_OF,
        "synth_seconds": synth_seconds,
        "floor": floor,
        "ingest": ingest,
        "staging": staging,
        "core": core,
        "score": score,
        "core_seconds": core["step_seconds"].get("core_as_of"),
        "ingest_raw_steps_seconds": round(raw_steps, 3),
        "staging_steps_seconds": round(staging_steps, 3),
        "rows_read": rows,
        "rows_per_second": round(rows / raw_steps) if raw_steps else None,
        "staging_rows_per_second": round(rows / staging_steps) if staging_steps else None,
        "ratio_raw_steps_to_floor": round(raw_steps / floor["seconds"], 2),
        "ratio_csv_files_to_floor": round(csv["seconds"] / floor["seconds"], 2),
        "targets": {"ratio_max": 3.0, "ingest_peak_rss_mib_max": 4096},
    }
    result["id_normalisation_per_second"] = round(id_normalisation_rate())
    out = CACHE / "results" / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(
        f"floor (DuckDB read_csv, all VARCHAR): {floor['seconds']:.2f} s for {floor['rows']:,} rows in {floor['files']} CSV files"
    )
    print(
        f"ingest (all raw assets):              {raw_steps:.2f} s for {rows:,} rows  → {result['rows_per_second']:,} rows/s"
    )
    print(
        f"  CSV files only:                     {csv['seconds']:.2f} s  (ratio to floor {result['ratio_csv_files_to_floor']})"
    )
    print(f"ratio ingest / floor:                 {result['ratio_raw_steps_to_floor']}  (target ≤ 3)")
    print(
        f"peak memory: ingest {ingest['peak_rss_mib']:.0f} MiB, floor {floor['peak_rss_mib']:.0f} MiB  (target < 4096)"
    )
    print(
        f"staging (all feeds, then checks):     {staging_steps:.2f} s  → {result['staging_rows_per_second']:,} rows/s,"
        f" peak {staging['peak_rss_mib']:.0f} MiB, wall with checks {staging['wall_seconds']:.1f} s"
    )
    print(
        f"link and features (core, one night): {result['core_seconds']} s, peak {core['peak_rss_mib']:.0f} MiB  (target < 60 s)"
    )
    print(
        f"scoring (every household, {score['kind']}): {score['seconds']} s for {score['households']:,} households,"
        f" peak {score['peak_rss_mib']:.0f} MiB  (target < 30 s)"
    )
    print(
        f"ID normalisation in SQL:              {result['id_normalisation_per_second']:,} IDs/s  (target ≥ 1,000,000)"
    )
    for step, secs in sorted({**ingest["step_seconds"], **staging["step_seconds"], **core["step_seconds"]}.items()):
        print(f"  {step:<40} {secs} s")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
