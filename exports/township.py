"""The night's exports: one workbook per township with open warnings, one list per
responsible department, and a manifest (file, rows, SHA-256).

Township staff visit the household, so names, addresses and phones are shown; ID
numbers are masked (first 6 and last 4). A person outside the roster has no address on
record: the address column says so and names the records that found them (a petition, a
settlement: monitoring.warnings.found_by). Text that a spreadsheet would run as a
formula is neutralised.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from exports.excel import HEADER_FORMAT, TITLE_FORMAT, open_workbook, title_lines, write_cell, write_sheet
from exports.export_log import log_export
from exports.feedback_form import write_feedback_sheet, write_template
from exports.quality import not_taken_cells, write_not_taken_sheet
from jiuzhu.config import (
    load_department_lists,
    load_policy_document,
    load_townships,
    township_of_workbook,
    township_workbook_name,
)
from jiuzhu.policy import Policy
from models.rules import RULES, describe, level_text, render
from warehouse.macros import install_macros
from warehouse.resource import transaction

LEVEL_COLOURS = {"红": "#F8CBAD", "橙": "#FCE4D6", "黄": "#FFF2CC", "复核": "#DDEBF7"}

# Widths (characters; a Chinese one counts two) keep a list on A4 landscape at a readable scale:
# long texts wrap within their column and rows grow to fit (exports.excel.write_sheet fit_rows).
OPEN_COLUMNS = [  # (header, SQL over the export view, width)
    ("预警编号", "warning_id", 19),
    ("等级", "level", 5),
    ("状态", "status_zh", 5),
    ("应反馈日期", "due_on", 11),
    ("逾期天数", "overdue_days", 5),
    ("户编号", "household_id", 17),
    ("姓名", "name", 8),
    ("身份证号", "masked_id", 19),
    ("村居", "village", 9),
    ("家庭住址", "address", 18),
    ("联系电话", "phone", 12),
    ("预警规则", "rules", 8),
    ("预警原因", "reasons", 42),
    ("建议措施", "measures", 22),
    ("政策依据", "clauses", 18),
    ("责任单位", "departments_zh", 9),
    ("首次预警", "first_flagged_on", 11),
    ("最近反馈", "last_feedback", 14),
    ("模型评估（全县风险排名，仅供参考）", "model_band", 12),
]
ALL_COLUMNS = OPEN_COLUMNS + [("镇街", "township_name", 10)]  # what a department's list may choose from
LISTS_HOW = "请在应反馈日期前入户核查，在“反馈”工作表填写结果。"  # under the title of every list sheet
TEMPLATE = "反馈表模板.xlsx"  # the blank answer form that goes out with every night's exports
RESOLVED_COLUMNS = [
    ("预警编号", "warning_id", 19),
    ("原等级", "last_level", 6),
    ("户编号", "household_id", 17),
    ("姓名", "name", 8),
    ("身份证号", "masked_id", 19),
    ("村居", "village", 10),
    ("预警规则", "rules", 8),
    ("首次预警", "first_flagged_on", 11),
    ("最后预警", "last_flagged_on", 11),
    ("解除原因", "ended_because", 36),
    ("最近反馈", "outcome", 26),
]

# The head core.households chose (two heads, or none: the lower person_key), as townships find them.
HEADS = """heads AS (
    SELECT h.household_id, m.name, m.address, m.phone, jz_mask(p.id_number) AS masked_id
    FROM core.households h
    JOIN core.household_members m ON m.household_id = h.household_id AND m.person_key = h.head_person_key
    JOIN restricted.person_ids p ON p.person_key = h.head_person_key
)"""

EXPORT_VIEW = f"""
WITH {HEADS}
SELECT w.*, r.visit_order, coalesce(h.name, pe.name) AS name, h.phone, coalesce(h.masked_id, w.person_masked_id) AS masked_id,
       coalesce(h.address, '不在民政名册；' || w.found_by) AS address,
       array_to_string(w.rule_codes, '、') AS rules, array_to_string(w.departments, '、') AS departments_zh,
       CASE w.status WHEN 'new' THEN '新增' WHEN 'continuing' THEN '持续' ELSE '升级' END AS status_zh,
       CASE w.level WHEN '红' THEN 0 WHEN '橙' THEN 1 WHEN '黄' THEN 2 ELSE 3 END AS level_rank,
       nullif(greatest($d - w.due_on, 0), 0) AS overdue_days,
       -- the model's view as a rank among the county's households, never a bare percentage beside a
       -- rule's red warning (a 2 % probability is high where the base rate is 0.5 %, but reads as "safe");
       -- the probability itself only where the model is the reason (M01)
       CASE WHEN r.top IS NULL THEN NULL
            WHEN list_contains(w.rule_codes, 'M01')
                THEN '全县前' || r.top || '%（6个月内需要救助的概率约 ' || round(100 * w.risk_score)::INTEGER || '%）'
            WHEN r.top <= 20 THEN '全县前' || r.top || '%' END AS model_band
FROM monitoring.warnings w
LEFT JOIN heads h ON h.household_id = w.household_id
LEFT JOIN (SELECT household_id, visit_order,
                  CASE WHEN pr < 0.01 THEN 1 WHEN pr < 0.05 THEN 5 WHEN pr < 0.1 THEN 10 WHEN pr < 0.2 THEN 20 ELSE 100 END AS top
           FROM (SELECT household_id, visit_order, percent_rank() OVER (ORDER BY risk_score DESC) AS pr
                 FROM monitoring.household_scores WHERE as_of_date = $d)) r ON r.household_id = w.household_id
-- a person outside the roster (no household): by key alone, which DuckDB hashes (a condition on w alone
-- in ON made it compare every warning with every person)
LEFT JOIN core.persons pe ON pe.person_key = CASE WHEN w.household_id IS NULL THEN w.subject_id END
WHERE w.as_of_date = $d
"""

# the county's order of the open warnings: most urgent first, then the higher score
COUNTY_ORDER = "level_rank, due_on, risk_score DESC NULLS LAST, first_flagged_on, warning_id"

RESOLVED_VIEW = f"""
WITH {HEADS}
SELECT r.*, array_to_string(r.rule_codes, '、') AS rules, h.name, h.masked_id
FROM monitoring.resolved_warnings r
LEFT JOIN heads h USING (household_id)
WHERE r.as_of_date = $d
"""


def _rows(con, sql: str, as_of: dt.date, columns, where: str = "", order: str = "") -> list[dict]:
    cur = con.execute(f"SELECT * FROM ({sql}) {where} {order}", {"d": as_of})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _formats(wb) -> dict:
    formats = {
        "header": wb.add_format(HEADER_FORMAT),
        "title": wb.add_format(TITLE_FORMAT),
        "answer": wb.add_format({"bg_color": "#FFFFE0", "border": 1}),
        "answer_date": wb.add_format({"bg_color": "#FFFFE0", "border": 1, "num_format": "yyyy-mm-dd"}),
        "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
    }
    return formats | {
        lv: wb.add_format({"bg_color": c, "text_wrap": True, "valign": "top"}) for lv, c in LEVEL_COLOURS.items()
    }


def _sheet(wb, name: str, columns, rows: list[dict], formats: dict, recipient: str, as_of: dt.date) -> None:
    """One list of warnings under its title, each row in its level's colour, printable."""
    header, keys, widths = zip(*columns)
    write_sheet(
        wb,
        name,
        header,
        ([row.get(key) for key in keys] for row in rows),
        widths=widths,
        header_format=formats["header"],
        autofilter=True,
        row_formats=[formats.get(row.get("level") or row.get("last_level")) for row in rows],
        title=title_lines(recipient, as_of, name, LISTS_HOW),
        title_format=formats["title"],
        printed=f"{recipient} {name} 截至 {as_of}",
        fit_rows=True,
    )


def _rules_sheet(wb, policy: Policy, formats: dict, not_evaluated: list[tuple[str, str]]) -> None:
    # M01's line also says when it fires: the policy's threshold is in none of its reasons
    doc = load_policy_document()
    rows = [
        [
            rule.code,
            rule.name,
            level_text(rule, policy),
            "、".join(rule.departments),
            doc.clauses(rule.policy_items),
            (f"{describe(rule, policy)}：" if rule.model else "") + render(rule.measure, policy),
        ]
        for rule in RULES
    ]
    ws, _ = write_sheet(
        wb,
        "规则说明",
        ["规则", "名称", "等级", "责任单位", "政策条款", "建议措施"],
        rows,
        widths=[6, 16, 6, 18, 36, 60],
        header_format=formats["header"],
        row_formats=[formats.get(values[2], formats["黄"]) for values in rows],  # M01: 黄/橙
        printed="规则说明",
        fit_rows=True,
    )
    write_cell(
        ws,
        len(rows) + 2,
        0,
        "等级：红＝疑似应保未保，立即处置；橙＝突发或支出型困难，数日内响应；黄＝持续关注；复核＝核查在保记录。",
    )
    for i, (code, reason) in enumerate(not_evaluated):  # the list says what it could not check tonight
        write_cell(ws, len(rows) + 4 + i, 0, f"今晚未能评估 {code}：{reason}")


def _workbook(
    path: Path,
    sheets: list[tuple[str, list, list[dict]]],
    policy: Policy,
    not_evaluated,
    recipient: str,
    as_of: dt.date,
    feedback: list[dict] | None = None,
    not_taken: Sequence[list] = (),
) -> None:
    wb = open_workbook(path)
    formats = _formats(wb)
    for name, columns, rows in sheets:
        _sheet(wb, name, columns, rows, formats, recipient, as_of)
    if feedback is not None:  # a township's workbook is also its answer form
        write_feedback_sheet(wb, feedback, recipient, as_of, formats)
    if not_taken:  # and it says which rows of the workbooks it returned were not taken, and why
        write_not_taken_sheet(wb, not_taken, recipient, as_of, formats)
    _rules_sheet(wb, policy, formats, not_evaluated)
    wb.close()


def _clauses_of(codes) -> str:
    """The items of 乐办字〔2021〕21号 the rules rest on: 第N条（the item's title）, in item order."""
    items = {r.code: r.policy_items for r in RULES}
    numbers = sorted({int(n) for code in codes for n in re.findall(r"\d+", items.get(code, ""))})
    return load_policy_document().clauses(", ".join(map(str, numbers)))


def _with_clauses(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["clauses"] = _clauses_of(row["rule_codes"])
    return rows


def _department_rows(hits: list[tuple], warnings: list[dict], dept: str) -> list[dict]:
    """The warnings a department must act on, each with only its own rules' reasons and measures
    (minimum necessary: config/department_lists.yaml); ``hits``: the night's rule hits that stand
    (subject, code, name, reason, measure)."""
    own = {r.code for r in RULES if dept in r.departments}
    by_subject: dict[str, list[tuple]] = {}
    for subject, code, name, reason, measure in hits:
        if code in own:
            by_subject.setdefault(subject, []).append((code, name, reason, measure))
    rows = []
    for w in warnings:
        mine = by_subject.get(w["subject_id"])
        if not mine:
            continue
        rows.append(
            w
            | {
                "rules": "、".join(c for c, *_ in mine),
                "reasons": "；".join(f"{c} {n}：{r}" for c, n, r, _ in mine),
                "measures": "；".join(sorted({m for *_, m in mine})),
                "clauses": _clauses_of(c for c, *_ in mine),
            }
        )
    return rows


def department_columns(dept: str) -> list[tuple[str, str, float]]:
    """The columns of a department's list, in the order config/department_lists.yaml names them."""
    default, named = load_department_lists()
    by_header = {h: (h, key, width) for h, key, width in ALL_COLUMNS}
    return [by_header[h] for h in named.get(dept, default)]


def write_exports(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    out_dir: Path,
    policy: Policy,
    run_id: str | None = None,
    not_taken: Sequence[dict] = (),
) -> list[dict]:
    """Write the night's workbooks, the blank answer form and the manifest (each logged in
    audit.export_log); return the manifest entries. ``not_taken``: the rows of returned workbooks
    that were not taken (transform.monitoring.feedback.not_taken), each in its township's workbook."""
    install_macros(con)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in list(out_dir.glob("*.xlsx")) + list((out_dir / "departments").glob("*.xlsx")):
        old.unlink()  # a re-run of the night replaces its workbooks
    # most urgent first; within a level and deadline, the township's visit order (transform/model/visit_order.py),
    # then the county's order, which a department's county-wide list follows alone (_department_books)
    ranked = f"SELECT *, row_number() OVER (ORDER BY {COUNTY_ORDER}) AS county_rank FROM ({EXPORT_VIEW})"
    order = "ORDER BY level_rank, due_on, visit_order NULLS LAST, county_rank"
    night = _Night(
        as_of,
        policy,
        _with_clauses(_rows(con, ranked, as_of, OPEN_COLUMNS, order=order)),
        _rows(con, RESOLVED_VIEW, as_of, RESOLVED_COLUMNS, order="ORDER BY warning_id"),
        con.execute(
            "SELECT rule_code, reason FROM monitoring.rule_status WHERE as_of_date = ? AND NOT evaluated ORDER BY 1",
            [as_of],
        ).fetchall(),
    )
    townships, entries = _township_books(night, out_dir, not_taken_cells(con, list(not_taken)))
    departments, more = _department_books(con, night, out_dir)
    write_books(townships + departments, night)
    entries += more
    write_template(out_dir / TEMPLATE, as_of, _formats)
    entries.append({"file": TEMPLATE, "kind": "feedback_template", "rows": {"反馈": 0}})
    with transaction(con):  # the night's export log whole: every workbook and the manifest, or none
        for e in entries:
            e["sha256"] = log_export(
                con,
                as_of,
                out_dir / e["file"],
                e["kind"],
                e.get("township_code") or e.get("department"),
                sum(e["rows"].values()),
                run_id,
            )
        manifest = {
            "as_of_date": as_of.isoformat(),
            "warnings": len(night.warnings),
            "resolved": len(night.resolved),
            "rules_not_evaluated": [{"rule": c, "reason": r} for c, r in night.not_evaluated],
            "files": entries,
        }
        (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        log_export(con, as_of, out_dir / "manifest.json", "manifest", None, len(entries), run_id)
    return entries


@dataclass(frozen=True)
class _Night:
    """What every workbook of a night is written from."""

    as_of: dt.date
    policy: Policy
    warnings: list[dict]  # open, most urgent first
    resolved: list[dict]  # ended tonight
    not_evaluated: list[tuple[str, str]]  # rules the gate left unevaluated, and why


@dataclass(frozen=True)
class _Book:
    """A workbook to write: its sheets (name, columns, rows), for whom, and a township's answer form."""

    path: Path
    sheets: list[tuple[str, list, list[dict]]]
    recipient: str
    feedback: list[dict] | None = None
    not_taken: Sequence[list] = ()

    @property
    def rows(self) -> int:
        return sum(len(rows) for _, _, rows in self.sheets) + len(self.feedback or ())


# xlsxwriter is pure Python, one core per workbook: a night with many warnings writes its workbooks in a
# second process too (5.2 → 3.7 s at the county default); a small night writes them here, as starting
# a process costs more than it saves
PARALLEL_FROM_ROWS = 2000


def write_books(books: list[_Book], night: _Night) -> None:
    """Write every book: this process takes the largest and, on a large night with a second core, a
    process of its own takes about half the rows (a fresh interpreter, not a fork of this process and
    its DuckDB and Dagster threads). A book that fails raises here, as if written here."""
    books = sorted(books, key=lambda b: (-b.rows, str(b.path)))
    if sum(b.rows for b in books) < PARALLEL_FROM_ROWS or (os.cpu_count() or 1) < 2 or len(books) < 2:
        _write(books, night)
        return
    here: list[_Book] = []
    there: list[_Book] = []
    for book in books:  # the largest first, each to the lighter side
        (here if sum(b.rows for b in here) <= sum(b.rows for b in there) else there).append(book)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
        elsewhere = pool.submit(_write, there, night)
        _write(here, night)
        elsewhere.result()


def _write(books: list[_Book], night: _Night) -> None:
    for b in books:
        _workbook(
            b.path, b.sheets, night.policy, night.not_evaluated, b.recipient, night.as_of, b.feedback, b.not_taken
        )


def _township_books(
    night: _Night, out_dir: Path, not_taken_of: dict[str, list[list]]
) -> tuple[list[_Book], list[dict[str, Any]]]:
    """One workbook per township that has open warnings, warnings ended tonight or answers not taken
    (a township hears of these even on a night it has no open warning), and their manifest entries."""
    official = {t.code: t.official_name for t in load_townships()}
    towns = sorted(
        {(w["township_code"], w["township_name"]) for w in night.warnings}
        | {(r["township_code"], r["township_name"]) for r in night.resolved}
        | {(code, official[code]) for code in not_taken_of if code in official}
    )
    books, entries = [], []
    for code, name in towns:
        mine = [w for w in night.warnings if w["township_code"] == code]
        new = [w for w in mine if w["status"] == "new"]
        ongoing = [w for w in mine if w["status"] != "new"]
        ended = [r for r in night.resolved if r["township_code"] == code]
        path = out_dir / township_workbook_name(code, name)
        books.append(
            _Book(
                path,
                [
                    ("新增预警", OPEN_COLUMNS, new),
                    ("持续预警", OPEN_COLUMNS, ongoing),
                    ("本期解除", RESOLVED_COLUMNS, ended),
                ],
                name,
                feedback=mine,
                not_taken=not_taken_of.get(code, []),
            )
        )
        entries.append(
            {
                "file": path.name,
                "kind": "township",
                "township_code": code,
                "rows": {"新增预警": len(new), "持续预警": len(ongoing), "本期解除": len(ended)},
            }
        )
    return books, entries


def _department_books(
    con: duckdb.DuckDBPyConnection, night: _Night, out_dir: Path
) -> tuple[list[_Book], list[dict[str, Any]]]:
    """One list per responsible department, of its own rules' warnings, and their manifest entries."""
    (out_dir / "departments").mkdir(exist_ok=True)
    hits = con.execute(
        """SELECT subject_id, rule_code, rule_name, reason, measure FROM monitoring.rule_hits
           WHERE as_of_date = ? AND NOT suppressed ORDER BY subject_id, rule_code""",
        [night.as_of],
    ).fetchall()
    books, entries = [], []
    # a department's list covers the county: in the county's order (a visit order ranks within one township)
    county = sorted(night.warnings, key=lambda w: w["county_rank"])
    for dept in sorted({d for w in night.warnings for d in w["departments"]}):
        mine = _department_rows(hits, county, dept)
        path = out_dir / "departments" / f"{dept}.xlsx"
        books.append(_Book(path, [("预警清单", department_columns(dept), mine)], dept))
        entries.append(
            {
                "file": f"departments/{path.name}",
                "kind": "department",
                "department": dept,
                "rows": {"预警清单": len(mine)},
            }
        )
    return books, entries


def listed_warnings(cells: list[list]) -> list[str]:
    """The 预警编号 of a list sheet read back (rows below its header, under the title lines)."""
    header = next((i for i, row in enumerate(cells) if row and row[0] == "预警编号"), None)
    return [] if header is None else [row[0] for row in cells[header + 1 :] if row and row[0]]


def township_workbooks(out_dir: Path) -> list[Path]:
    """A night's township workbooks (jiuzhu.config.township_workbook_name), not the county centre's or the template."""
    return sorted(p for p in out_dir.glob("*.xlsx") if township_of_workbook(p.name))
