"""Tonight's data quality: the feed gate (which feeds the rules may use), a scorecard
per department, and each department's workbook of rejected rows to fix at the source."""
# no `from __future__ import annotations`: Dagster reads these type hints at definition time

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb
import xlsxwriter

from exports.charts import bar_chart_markdown, markdown_table, stacked_bar_chart_markdown
from assets.staging import staging_assets
from jiuzhu.config import Feed, load_feeds, load_quality
from jiuzhu.idnumber import mask as id_mask
from jiuzhu.pii import mask_name
from exports.excel import WORKBOOK_OPTIONS, neutralise
from assets.common import NIGHTS, WAREHOUSE_POOL, NightSettings, night_of
from exports.export_log import log_export
from transform.audit.freshness import freshness
from warehouse.pii_lookup import masker
from transform.audit.quality import FeedQuality, measure_all
from assets.common import Warehouse
from warehouse.resource import transaction
from transform.staging.spec_sql import REASONS


def _bar(share: float, width: int = 20) -> str:
    filled = round(max(0.0, min(1.0, share)) * width)
    return "█" * filled + "░" * (width - filled)


@dg.asset(
    key=["audit", "feed_gate"],
    partitions_def=NIGHTS,
    group_name="quality",
    owners=["team:civil_affairs"],
    tags={"layer": "quality"},
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    deps=[a.key for a in staging_assets],
    description=(
        "今晚哪些部门数据可用于预警规则：隔离占比、主键重复、名册缩减等检查未通过的数据不参与今晚的规则，"
        "并注明原因；只有民政名册不可用时才停止预警名单。\n\nWhich feeds tonight's rules may use. A feed that "
        "fails a gate is left out (its rules are reported as not evaluated); only an unusable roster stops the list."
    ),
)
def feed_gate(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    with warehouse.connect() as con:
        measured = measure_all(con, as_of)
        with transaction(con):  # the night's gate whole, or last run's left as it was
            con.execute("DELETE FROM audit.feed_gate WHERE as_of_date = ?", [as_of])
            con.executemany(
                "INSERT INTO audit.feed_gate BY NAME SELECT ? AS as_of_date, ? AS feed, ? AS usable, ? AS problems, ?::JSON AS measured",
                [[as_of, fq.feed, fq.usable, "；".join(fq.problems) or None, json.dumps(fq.as_dict(), ensure_ascii=False)]
                 for fq in measured],
            )
    rows = ["| feed | 可用 usable | 原因 problems |", "|---|---|---|"]
    rows += [f"| {fq.feed} | {'✓' if fq.usable else '✗'} | {'；'.join(fq.problems)} |" for fq in measured]
    return dg.MaterializeResult(
        metadata={
            "usable_feeds": sum(fq.usable for fq in measured),
            "unusable_feeds": dg.MetadataValue.json([fq.feed for fq in measured if not fq.usable]),
            "gate": dg.MetadataValue.md("\n".join(rows)),
        }
    )


def _scorecard_rows(con: duckdb.DuckDBPyConnection, measured: list[FeedQuality], as_of: dt.date) -> list[dict]:
    feeds = load_feeds()
    timeliness = {f.feed: f for f in freshness(con, as_of)}
    out = []
    for fq in measured:
        feed = feeds[fq.feed]
        f = timeliness[fq.feed]
        required_missing = sum(n for code, n in fq.top_reasons if code == "REQUIRED_MISSING")
        rejected = con.execute(
            "SELECT count(*) FROM audit.files WHERE feed = ? AND status = 'rejected' AND coalesce(extract_date, ?) <= ?",
            [fq.feed, as_of, as_of],
        ).fetchall()[0][0]
        out.append({
            "as_of_date": as_of,
            "department": feed.department,
            "feed": fq.feed,
            "extract_date": fq.extract_date,
            "days_since_last_file": fq.days_since_last_file,
            "expected_cadence_days": feed.cadence_days,
            "fresh": f.fresh,  # the newest loaded extract within the spec's max_age (transform/audit/freshness.py)
            "rows_tonight": fq.rows_tonight,
            "completeness": round(1 - required_missing / fq.rows_tonight, 4) if fq.rows_tonight else None,
            "validity": round(1 - fq.quarantine_share, 4) if fq.rows_tonight else None,
            "duplicate_keys": fq.duplicate_keys,
            "files_rejected": rejected,
            "top_reasons": ", ".join(f"{c} ×{n}" for c, n in fq.top_reasons) or None,
            "usable": fq.usable,
            "last_delivered": f.last_delivered,
            "age_days": f.age_days,
            "max_age_days": f.max_age_days,
            "on_time": f.label_zh,
            "freshness_note": f.message_zh,
        })
    return out


@dg.asset(
    key=["audit", "scorecards"],
    partitions_def=NIGHTS,
    group_name="quality",
    owners=["team:civil_affairs"],
    tags={"layer": "quality"},
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "excel"},
    deps=[feed_gate.key],
    description=(
        "各部门数据质量记分卡（每晚）：及时性（最近提取日期、距今天数、是否按时）、完整性、有效性、主键重复、主要隔离原因，"
        "今晚按原因代码统计的隔离行图；并为每个部门数据生成被隔离行清单（exports/<日期>/quality/<feed>.xlsx，身份证号已脱敏），供源头整改。\n\n"
        "A scorecard per department per night (freshness: last extract, age, on time; completeness, validity, "
        "duplicates, top reasons), a chart of tonight's quarantined rows by reason code, and "
        "each feed's workbook of quarantined rows with masked ID numbers, to fix at the source."
    ),
)
def scorecards(context: dg.AssetExecutionContext, warehouse: Warehouse, night: NightSettings) -> dg.MaterializeResult:
    as_of = night_of(context, night)
    out_dir = Path(warehouse.home) / "exports" / as_of.isoformat() / "quality"
    with warehouse.connect() as con:
        measured = measure_all(con, as_of)
        rows = _scorecard_rows(con, measured, as_of)
        quarantined = _quarantined_by_reason(con, measured)
        # the night's scorecards and the log of its workbooks land together, or last run's stay as they were
        with transaction(con):
            con.execute("DELETE FROM audit.scorecards WHERE as_of_date = ?", [as_of])
            con.executemany(
                f"INSERT INTO audit.scorecards ({', '.join(rows[0])}) VALUES ({', '.join('?' * len(rows[0]))})",
                [list(r.values()) for r in rows],
            )
            written = {feed.name: write_quality_workbook(con, feed, as_of, out_dir) for feed in load_feeds().values()}
            for name, rows_listed in written.items():
                log_export(con, as_of, out_dir / f"{name}.xlsx", "quality", name, rows_listed, context.run.run_id)
    table = ["| 部门 | feed | 最近提取日期 last extract | 距今(天) age | 允许(天) allowed | 是否按时 on time "
             "| 有效性 validity | 主要原因 |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        validity = r["validity"]
        shown = f"{_bar(validity)} {validity:.1%}" if validity is not None else "—"
        table.append(
            f"| {r['department']} | {r['feed']} | {r['extract_date'] or '—'} "
            f"| {r['age_days'] if r['age_days'] is not None else '—'} | {r['max_age_days']} "
            f"| {'✓' if r['fresh'] else '✗'} {r['on_time']} | {shown} | {r['top_reasons'] or ''} |"
        )
    scored = [r for r in rows if r["validity"] is not None]
    chart = bar_chart_markdown(
        [r["feed"] for r in scored], [100 * r["validity"] for r in scored],
        f"Validity of tonight's rows, {as_of}", "% of rows standardised (not quarantined)",
        limit=100 * (1 - load_quality()["max_quarantine_share"]),
    )
    return dg.MaterializeResult(
        metadata={
            "scorecard": dg.MetadataValue.md("\n".join(table)),
            "validity_chart": dg.MetadataValue.md(chart),
            "quarantined_rows_tonight": sum(n for _, _, n in quarantined),
            "quarantine_reasons_chart": dg.MetadataValue.md(_quarantine_chart(quarantined, as_of)),
            "stale_feeds": dg.MetadataValue.json([r["feed"] for r in rows if not r["fresh"]]),
            "quality_workbooks": dg.MetadataValue.path(str(out_dir)),
            "quarantined_rows_listed": sum(written.values()),
        }
    )


def _quarantined_by_reason(con: duckdb.DuckDBPyConnection, measured: list[FeedQuality]) -> list[tuple[str, str, int]]:
    """(reason_code, feed, rows) quarantined from each feed's tonight's extract (at ingest or
    standardisation), counted as the quality measures count them."""
    out = []
    for fq in measured:
        if fq.extract_date is None:
            continue
        out += con.execute(
            """SELECT q.reason_code, f.feed, count(*) FROM audit.quarantine q JOIN audit.files f USING (file_id)
               WHERE f.feed = ? AND f.extract_date = ? GROUP BY ALL""",
            [fq.feed, dt.date.fromisoformat(fq.extract_date)],
        ).fetchall()
    return out


def _quarantine_chart(quarantined: list[tuple[str, str, int]], as_of: dt.date) -> str:
    """Quarantined rows by reason code, each bar split by feed, most frequent reason first; and the
    same as a table with the reasons in Chinese (counts only, no row content)."""
    if not quarantined:
        return "今晚没有隔离行 (no rows quarantined tonight)"
    totals: dict[str, int] = {}
    for code, _, n in quarantined:
        totals[code] = totals.get(code, 0) + n
    codes = sorted(totals, key=lambda c: (-totals[c], c))
    feeds = sorted({feed for _, feed, _ in quarantined})
    counts = {(code, feed): n for code, feed, n in quarantined}
    chart = stacked_bar_chart_markdown(
        codes, {feed: [counts.get((code, feed), 0) for code in codes] for feed in feeds},
        f"Quarantined rows by reason, tonight's extracts, {as_of}", "rows quarantined (ingest or standardisation)",
    )
    table = markdown_table(
        ["原因代码 reason", "说明", "行数 rows", "部门数据 feeds"],
        [[code, REASONS.get(code, ""), totals[code],
          ", ".join(f"{feed} ×{counts[(code, feed)]}" for feed in feeds if (code, feed) in counts)] for code in codes],
    )
    return f"{chart}\n\n{table}"


def write_quality_workbook(con: duckdb.DuckDBPyConnection, feed: Feed, as_of: dt.date, out_dir: Path) -> int:
    """<out_dir>/<feed>.xlsx: rejected files and quarantined rows up to the as-of date, for the
    department to fix at the source. What leaves the warehouse is masked: ID numbers (in their
    columns, and ID-like numbers in any text, file names included), names (the name column keeps
    the surname; roster names in free text), and text that starts like a formula is neutralised.
    The records' own numbers (户编号, 结算编号 …) stay as delivered."""
    files = con.execute(
        """SELECT coalesce(display_name, file_name), extract_date, reason_code, reason FROM audit.files
           WHERE feed = ? AND status = 'rejected' AND coalesce(extract_date, ?) <= ? ORDER BY extract_date, file_name""",
        [feed.name, as_of, as_of],
    ).fetchall()
    rows = con.execute(
        """SELECT coalesce(f.display_name, q.file_name), q.row_number, q.reason_code, q.reason, q.raw FROM audit.quarantine q
           JOIN audit.files f USING (file_id)
           WHERE q.feed = ? AND f.extract_date <= ? ORDER BY f.extract_date, q.file_name, q.row_number""",
        [feed.name, as_of],
    ).fetchall()
    id_columns = {c.name for c in feed.columns if c.type == "id"}
    name_columns = {c.name for c in feed.columns if c.field == "name"}
    # the records' own numbers (户编号, 结算编号 …): the department finds the row by them; they name no person
    record_numbers = {c.name for c in feed.columns if c.field.endswith("_id") and c.type != "id"}
    columns = feed.column_names
    values = [json.loads(raw) if raw else {} for *_, raw in rows]
    # the rows' own names count too: a petition may name its petitioner, who is not always in the roster
    own_names = frozenset(str(row[c]).strip() for row in values for c in name_columns if row.get(c))
    mask = masker(con, [str(v) for row in values for v in row.values() if v] + [r[3] or "" for r in rows], own_names)

    def shown(column: str, value) -> str | None:
        if value is None or value == "":
            return None
        text = str(value)
        if column in id_columns:
            return id_mask(text)
        if column in record_numbers:
            return text
        return mask_name(text.strip()) if column in name_columns else mask(text)

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{feed.name}.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, **WORKBOOK_OPTIONS})
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7"})
    ws = wb.add_worksheet("隔离的行")
    ws.write_row(0, 0, ["文件", "行号", "原因代码", "原因", *columns], bold)
    ws.freeze_panes(1, 0)
    for i, ((file_name, row_number, code, reason, _), original) in enumerate(zip(rows, values), start=1):
        unsplit = original.pop("原始行", None)  # a row that could not be split into columns
        cells = [shown(c, original.get(c)) for c in columns]
        if unsplit is not None:
            cells[0] = mask(str(unsplit))
        _write_row(ws, i, [mask(file_name), row_number, code, mask(reason or ""), *cells])
    ws2 = wb.add_worksheet("拒收的文件")
    ws2.write_row(0, 0, ["文件", "提取日期", "原因代码", "原因"], bold)
    for i, (file_name, extract, code, reason) in enumerate(files, start=1):
        _write_row(ws2, i, [mask(file_name), extract.isoformat() if extract else "", code, mask(reason or "")])
    wb.close()
    return len(rows)


def _write_row(ws, row: int, cells: list) -> None:
    """Text as text (never a formula, link or number), neutralised where it starts like a formula."""
    for j, value in enumerate(cells):
        if value is None:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            ws.write_number(row, j, value)
        else:
            ws.write_string(row, j, str(neutralise(value)))
