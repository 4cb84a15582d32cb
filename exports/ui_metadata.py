"""What the Dagster UI shows of a night: Markdown tables and charts built from counts, codes and
masked IDs that the assets pass in (never a name, address, phone or reasons text). Pure
functions: the assets read the warehouse and hand the rows over."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from exports.charts import bar_chart_markdown, histogram_markdown, markdown_table, stacked_bar_chart_markdown
from exports.supervision import percent
from jiuzhu.config import load_feeds
from jiuzhu.idnumber import mask
from models.rules import LEVEL_ORDER

# LEVEL_ORDER: 红 > 橙 > 黄 > 复核
LEVEL_COLOURS = {"红": "#c0392b", "橙": "#e67e22", "黄": "#f1c40f", "复核": "#5d6d7e"}
STATUS_ZH = {"new": "新增", "continuing": "持续", "escalated": "升级"}


def ingest_summary_markdown(rows: list[dict]) -> str:
    """The ingest summary (transform/audit/ingest_summary.py) as a table, one row per feed."""
    if not rows:
        return "没有新文件 (no new files)"
    out = [
        "| feed | 加载文件 | 拒收文件 | 重复文件 | 等待写完 | 数据行 | 隔离行 | 主要原因 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['feed']} | {r['files_loaded']} | {r['files_rejected']} | {r['files_duplicate']} | {r['files_waiting']} "
            f"| {r['rows_read']} | {r['rows_quarantined']} | {r['top_reasons'] or ''} |"
        )
    return "\n".join(out)


def _bar(share: float, width: int = 20) -> str:
    filled = round(max(0.0, min(1.0, share)) * width)
    return "█" * filled + "░" * (width - filled)


def reasons_in_chinese(top_reasons: str | None, reasons: dict[str, str]) -> str:
    """ "ID_CHECKSUM ×3, …" with each code's Chinese meaning beside it."""
    return re.sub(
        r"\b([A-Z][A-Z0-9_]+) ×",
        lambda m: f"{m[1]}（{reasons[m[1]]}）×" if m[1] in reasons else m[0],
        top_reasons or "",
    )


def scorecard_table(rows: list[dict], reasons: dict[str, str]) -> str:
    """The scorecards (transform/audit/scorecards.py) as a table, validity as a bar, reasons in Chinese."""
    table = [
        "| 部门 | feed | 最近提取日期 last extract | 距今(天) age | 允许(天) allowed | 是否按时 on time "
        "| 有效性 validity | 主要原因 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        validity = r["validity"]
        shown = f"{_bar(validity)} {validity:.1%}" if validity is not None else "—"
        table.append(
            f"| {r['department']} | {r['feed']} | {r['extract_date'] or '—'} "
            f"| {r['age_days'] if r['age_days'] is not None else '—'} | {r['max_age_days']} "
            f"| {'✓' if r['fresh'] else '✗'} {r['on_time']} | {shown} | {reasons_in_chinese(r['top_reasons'], reasons)} |"
        )
    return "\n".join(table)


def feed_label(feed: str) -> str:
    """A feed as a chart names it: its department and title (民政·家庭成员信息)."""
    spec = load_feeds().get(feed)
    return f"{spec.department}·{spec.title}" if spec else feed


def validity_chart(rows: list[dict], as_of: dt.date, max_quarantine_share: float) -> str:
    """Each scored feed's share of tonight's rows standardised, against the quarantine limit."""
    scored = [r for r in rows if r["validity"] is not None]
    return bar_chart_markdown(
        [feed_label(r["feed"]) for r in scored],
        [100 * r["validity"] for r in scored],
        f"今晚各部门数据的有效率（{as_of}）",
        "标准化通过（未隔离）的行 %",
        limit=100 * (1 - max_quarantine_share),
    )


def quarantine_chart(quarantined: list[tuple[str, str, int]], as_of: dt.date, reasons: dict[str, str]) -> str:
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
        codes,
        {feed_label(feed): [counts.get((code, feed), 0) for code in codes] for feed in feeds},
        f"今晚隔离的行，按原因（{as_of}）",
        "隔离行数（接收或标准化时）",
    )
    table = markdown_table(
        ["原因代码 reason", "说明", "行数 rows", "部门数据 feeds"],
        [
            [
                code,
                reasons.get(code, ""),
                totals[code],
                ", ".join(f"{feed} ×{counts[(code, feed)]}" for feed in feeds if (code, feed) in counts),
            ]
            for code in codes
        ],
    )
    return f"{chart}\n\n{table}"


def hits_by_rule_table(by_rule: list[tuple[str, int | None, bool]]) -> str:
    return "\n".join(
        ["| 规则 | 命中 | 已评估 |", "|---|---|---|"]
        + [f"| {c} | {h if h is not None else '—'} | {'✓' if e else '✗'} |" for c, h, e in by_rule]
    )


def township_level_table(by_town: list[tuple[str, str, int]]) -> str:
    return "\n".join(["| 镇街 | 等级 | 户数 |", "|---|---|---|"] + [f"| {t} | {lv} | {n} |" for t, lv, n in by_town])


def township_level_chart(by_town: list[tuple[str, str, int]], as_of) -> str:
    """Warnings per township, stacked by level."""
    if not by_town:
        return "今晚没有预警 (no warnings tonight)"
    towns = sorted({t for t, _, _ in by_town})
    counts = {(t, lv): n for t, lv, n in by_town}
    series = {lv: [counts.get((t, lv), 0) for t in towns] for lv in LEVEL_ORDER}
    return stacked_bar_chart_markdown(
        towns, series, f"各镇街预警数，按等级（{as_of}）", "预警数（家庭，或不在名册的个人）", LEVEL_COLOURS
    )


def warnings_preview(rows: list[tuple]) -> str:
    """The first warnings (most urgent first) as a Markdown table, without personal data."""
    if not rows:
        return "今晚没有预警 (no warnings tonight)"
    header = [
        "预警编号 warning",
        "镇街 township",
        "村居 village",
        "等级 level",
        "规则 rules",
        "状态 status",
        "首次预警 first flagged",
        "风险分 risk",
        "身份证号(脱敏) masked ID",
    ]
    body = [
        [
            wid,
            town,
            village,
            level,
            ", ".join(codes),
            STATUS_ZH.get(status, status),
            first,
            f"{score:.3f}" if score is not None else None,
            mask(masked) if masked else None,
        ]
        for wid, town, village, level, codes, status, first, score, masked in rows
    ]
    return (
        markdown_table(header, body)
        + f"\n\n前 {len(rows)} 条（按等级、风险分排序）；姓名、地址、电话、原因见各镇街工作簿。"
        "First warnings by level and score; names, addresses, phones and reasons are in the township workbooks only."
    )


def score_histogram(values: np.ndarray, threshold: float, high: float, as_of: dt.date, version: str) -> str:
    """Tonight's scores with the policy's M01 lines: 黄 from the threshold, 橙 from the high band."""
    if not len(values):
        return "没有打分的家庭 (no household scored)"
    above, top = int((values >= threshold).sum()), int((values >= high).sum())
    chart = histogram_markdown(
        values,
        f"{len(values)} 户家庭的风险分（{as_of}，模型 {version}）",
        "风险分（6个月内需要救助的概率）",
        [
            (threshold, f"M01 阈值 {threshold:g}（黄）：{above} 户", "#f1c40f"),
            (high, f"M01 高风险线 {high:g}（橙）：{top} 户", "#e67e22"),
        ],
    )
    return (
        f"{chart}\n\n分数 ≥ 阈值 {threshold:g}（黄）：{above} 户；≥ 高风险线 {high:g}（橙）：{top} 户"
        f"（其中规则未命中的家庭进入 M01）。Households at or above the M01 threshold: {above}; at or above the "
        f"high band: {top} (M01 warns those no rule flags)."
    )


def supervision_table(rows: list[dict]) -> str:
    """monitoring.township_supervision as the UI shows it (counts and dates only)."""
    return markdown_table(
        [
            # short headers, and the oldest unanswered warning's 预警编号 in a table of its own
            # (oldest_unanswered_table): a wide table squeezes the townships' names to a character a line
            "镇街",
            "在办",
            "逾期",
            "按期反馈率",
            "反馈中位(天)",
            "属实",
            "属实率",
            "最久未反馈(天)",
        ],
        [
            [
                r["township_name"],
                r["open_warnings"],
                r["overdue"],
                percent(r["answered_on_time_share"]),
                r["median_days_to_feedback"],
                r["found_true"],
                percent(r["found_true_share"]),
                r["oldest_unanswered_days"],
            ]
            for r in rows
        ],
    )


def oldest_unanswered_table(rows: list[dict]) -> str:
    """Per township, its oldest warning with no answer and how long it has waited (beside the
    supervision table, which has no room for an 18-character 预警编号)."""
    waiting = [r for r in rows if r["township_code"] != "合计" and r["oldest_unanswered"]]
    if not waiting:
        return "没有未反馈的预警 (every open warning has an answer)"
    return markdown_table(
        ["镇街", "最久未反馈的预警", "已等待(天)"],
        [[r["township_name"], r["oldest_unanswered"], r["oldest_unanswered_days"]] for r in waiting],
    )


def supervision_chart(rows: list[dict], as_of: dt.date) -> str:
    """Per township: open warnings answered, overdue, and not yet due (the total row left out)."""
    towns = [r for r in rows if r["township_code"] != "合计"]
    if not towns:
        return "今晚没有在办预警 (no open warnings)"
    series = {
        "逾期未反馈": [r["overdue"] for r in towns],
        "在办（未逾期）": [r["open_warnings"] - r["overdue"] for r in towns],
    }
    return stacked_bar_chart_markdown(
        [r["township_name"] for r in towns],
        series,
        f"各镇街在办预警与逾期未反馈（{as_of}）",
        "预警数",
        {"逾期未反馈": "#c0392b", "在办（未逾期）": "#2e86c1"},
    )
