"""Great Expectations 1.x suites for staging.<feed>, generated from the feed spec.

Required columns non-null, enumerations within their canonical values, ID
numbers of 18 characters, dates not before 1900, money not negative (except on
reversal rows), settlement parts adding up to the total, and the natural key
unique among current rows. GX validates tonight's extract (sampled down to
`gx_max_rows`); rows that fail were already quarantined, so a failure here
means standardisation let something through, and the check says which
expectation and how many rows — never which values.

A suite's results are remembered per feed (``<home>/state/gx/<feed>.json``: expectations and counts,
no values) with a key of what was validated: the rows (each current row of tonight's extract by its
file and row), the rules staging standardised them by, the suite and the sample size. A night whose
key is the same (a department that sent nothing new) shows the results again without validating.
"""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import dagster as dg
import duckdb

from assets.common import NightSettings, Warehouse, night_of
from jiuzhu.config import Feed, load_feeds, load_quality
from transform.audit.quality import tonights_extract
from transform.staging.spec_sql import output_columns
from warehouse.resource import quote_ident as q

_lock = threading.Lock()
PARTS_GAP = "_parts_gap"  # a settlement's total less its parts (the spec's parts_sum)
GX_FORMAT = "1"  # bump when this module changes what a suite reads or says: every result is validated again


@lru_cache(maxsize=1)
def _gx():
    """Import GX and build its ephemeral context once per process (the import takes seconds)."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    return gx, context, context.data_sources.add_pandas("jiuzhu_staging")


def expectations(feed: Feed) -> list[tuple[str, dict]]:
    """The suite of ``feed`` as (GX expectation class, its arguments), from the feed spec."""
    out: list[tuple[str, dict]] = []
    for c in feed.columns:
        if c.required and c.type != "township":
            out.append(("ExpectColumnValuesToNotBeNull", {"column": c.field}))
        if c.type == "enum":
            out.append(("ExpectColumnValuesToBeInSet", {"column": c.field, "value_set": list(c.values)}))
        elif c.type == "id":
            out.append(("ExpectColumnValueLengthsToEqual", {"column": c.field, "value": 18}))
        elif c.type == "date":
            out.append(("ExpectColumnValuesToBeBetween", {"column": c.field, "min_value": dt.datetime(1900, 1, 1)}))
        elif c.type == "money" and not feed.reversal:
            out.append(("ExpectColumnValuesToBeBetween", {"column": c.field, "min_value": 0}))
        elif c.type == "township":
            code = "township_code" if c.field == "township" else f"{c.field}_township_code"
            out.append(("ExpectColumnValuesToNotBeNull", {"column": code}))
    if feed.parts_sum:
        out.append(("ExpectColumnValuesToBeBetween", {"column": PARTS_GAP, "min_value": -0.01, "max_value": 0.01}))
    key = feed.key_fields
    if len(key) == 1:
        out.append(("ExpectColumnValuesToBeUnique", {"column": key[0]}))
    else:
        out.append(("ExpectCompoundColumnsToBeUnique", {"column_list": list(key)}))
    return out


def build_suite(feed: Feed):
    gx, _, _ = _gx()
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=f"staging_{feed.name}")
    for kind, kwargs in expectations(feed):
        suite.add_expectation(getattr(gxe, kind)(**kwargs))
    return suite


def suite_columns(feed: Feed) -> list[str]:
    """The columns the suite reads, in spec order (names and free text are never read into pandas)."""
    named = {c for _, kwargs in expectations(feed) for c in [kwargs.get("column"), *kwargs.get("column_list", [])]}
    return [c for c in output_columns(feed) if c in named]


def tonights_rows(con: duckdb.DuckDBPyConnection, feed: Feed, as_of: dt.date, max_rows: int):
    """Current rows of tonight's extract as pandas, sampled reproducibly when there are many."""
    extract = tonights_extract(con, feed.name, as_of)
    columns = [q(c) for c in suite_columns(feed)]
    fields = {c.name: c.field for c in feed.columns}
    if feed.parts_sum:
        p = feed.parts_sum
        parts = " + ".join(f"coalesce({q(fields[x])}, 0)" for x in p["parts"])
        columns.append(f"({q(fields[p['total']])} - ({parts}))::DOUBLE AS {PARTS_GAP}")
    # a fixed sample: the rows whose file and row hash lowest (DuckDB's REPEATABLE seed holds only with one thread)
    return con.sql(
        f"""SELECT {", ".join(columns)} FROM staging.{feed.name}
            WHERE is_current AND extract_date = ?
            ORDER BY hash(source_file, source_row), source_file, source_row LIMIT {int(max_rows)}""",
        params=[extract],
    ).df()


def rows_key(con: duckdb.DuckDBPyConnection, feed: Feed, as_of: dt.date, max_rows: int) -> str:
    """What a validation of tonight's rows reads: the rows by file and row (a staged row is a function of
    its raw row and the rules), the rules, the suite, the sample size, this module's and GX's versions."""
    extract = tonights_extract(con, feed.name, as_of)
    rules = con.execute("SELECT version FROM staging.feed_versions WHERE feed = ?", [feed.name]).fetchall()
    rows = con.execute(
        f"""SELECT count(*), bit_xor(hash(file_id, source_row)) FROM staging.{feed.name}
            WHERE is_current AND extract_date = ?""",
        [extract],
    ).fetchall()[0]
    what = (GX_FORMAT, version("great_expectations"), expectations(feed), rules, str(extract), rows, max_rows)
    return hashlib.sha256(repr(what).encode("utf-8")).hexdigest()


def remembered(folder: Path, feed: Feed, key: str) -> dict | None:
    """The results last validated for ``feed`` if they were for ``key``."""
    try:
        kept = json.loads((folder / f"{feed.name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # none yet, or unreadable: validated again
    return kept if isinstance(kept, dict) and kept.get("key") == key else None


def remember(folder: Path, feed: Feed, key: str, rows: int, results: list[dict]) -> None:
    """Keep ``results`` for ``key`` (expectations and counts only), owner-only, replaced whole."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path, part = folder / f"{feed.name}.json", folder / f".{feed.name}.json.{os.getpid()}"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"key": key, "rows": rows, "results": results}, fh, ensure_ascii=False)
    os.replace(part, path)


def validate(feed: Feed, frame) -> list[dict]:
    """One dict per expectation: type, column(s), success, unexpected count. No values."""
    gx, _, source = _gx()
    with _lock:  # the ephemeral context is shared; GX is not thread-safe
        asset_name = f"staging_{feed.name}"
        try:
            asset = source.get_asset(asset_name)
        except LookupError:
            asset = source.add_dataframe_asset(asset_name)
        try:
            batch_def = asset.get_batch_definition("tonight")
        except (KeyError, LookupError, ValueError):
            batch_def = asset.add_batch_definition_whole_dataframe("tonight")
        result = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(build_suite(feed))
    out = []
    for r in result.results:
        kwargs = r.expectation_config.kwargs
        out.append(
            {
                "expectation": r.expectation_config.type,
                "column": kwargs.get("column") or "+".join(kwargs.get("column_list", [])),
                "success": bool(r.success),
                "unexpected_count": int(r.result.get("unexpected_count") or 0),
            }
        )
    return out


def build_gx_check(feed: Feed) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["staging", feed.name]),
        name="great_expectations_suite",
        blocking=False,
        description="Great Expectations 套件（由数据规范生成）：必填、取值范围、身份证号长度、日期、金额、主键唯一。"
        " Great Expectations suite generated from the feed spec.",
    )
    def gx_suite(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse, night: NightSettings
    ) -> dg.AssetCheckResult:
        as_of, max_rows = night_of(context, night), load_quality()["gx_max_rows"]
        with warehouse.connect(read_only=True) as con:
            key = rows_key(con, feed, as_of, max_rows)
            kept = remembered(warehouse.gx_results, feed, key)
            if kept is None:
                frame = tonights_rows(con, feed, as_of, max_rows)
        fresh = kept is None
        if kept is None:
            results = validate(feed, frame) if len(frame) else []
            remember(warehouse.gx_results, feed, key, len(frame), results)
            kept = {"rows": len(frame), "results": results}
        results = kept["results"]
        failed = [r for r in results if not r["success"]]
        table = "\n".join(
            ["| expectation | column | ok | unexpected rows |", "|---|---|---|---|"]
            + [
                f"| {r['expectation']} | {r['column']} | {'✓' if r['success'] else '✗'} | {r['unexpected_count']} |"
                for r in results
            ]
        )
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_validated": kept["rows"],
                "validated": "本晚验证 validated tonight"
                if fresh
                else "与此前验证过的数据相同，沿用其结果 the same rows as validated before: their results",
                "expectations": len(results),
                "failed": len(failed),
                "results": dg.MetadataValue.md(table if results else "今晚没有新数据 (no rows tonight)"),
            },
        )

    return gx_suite


gx_checks = [build_gx_check(feed) for feed in load_feeds().values()]
