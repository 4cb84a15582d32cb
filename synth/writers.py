"""Files as departments deliver them: names, headers, encodings, CSV and XLSX
layouts, and the handful of whole-file problems.

Row numbers are what a person opening the file sees: the line number in a CSV
(header = line 1), the Excel row number on the data sheet (title rows count).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import xlsxwriter

from .rates import DeliveryRates, MessRates
from .spec import feeds
from .timeline import date_of

BIG_FEEDS = ("mz_members", "yb_settlements", "rs_insurance")
UNITS = {
    "民政": "昌乐县民政局",
    "卫健": "昌乐县卫生健康局",
    "医保": "昌乐县医疗保障局",
    "人社": "昌乐县人力资源和社会保障局",
    "信访": "昌乐县信访局",
    "镇街": "镇（街道）社会救助服务站",
}
EXTRA_COLUMNS = ("备注", "经办人", "序号")


@dataclass
class Rendered:
    data: bytes
    data_rows: int
    row_numbers: np.ndarray
    encoding: str
    format: str
    header_row: int
    sheet: str
    headers: list[str] = field(default_factory=list)


def file_title(feed: str) -> tuple[str, str]:
    f = feeds()[feed]
    return f.department, f.title.replace("/", "、")


def file_stem(feed: str, style: int, extract: int) -> str:
    dept, title = file_title(feed)
    dept = "" if title.startswith(dept) else dept
    ymd = date_of(extract).strftime("%Y%m%d")
    return (f"{dept}{title}_{ymd}", f"{feed}_{ymd}", f"{ymd}{dept}{title}", f"{title}_{ymd}导出")[style % 4]


def choose_headers(feed: str, text: pl.DataFrame, rates: MessRates, rng: np.random.Generator, n: int):
    """Columns to write (canonical or alias headers, maybe shuffled, maybe an extra column)."""
    spec = feeds()[feed]
    cols = []
    for c in spec.columns:
        header = c.name
        if c.aliases and rng.random() < rates.header_alias:
            header = c.aliases[int(rng.integers(0, len(c.aliases)))]
        cols.append((header, text[c.name]))
    if rng.random() < rates.shuffle_columns:
        order = rng.permutation(len(cols))
        cols = [cols[i] for i in order]
    if rng.random() < rates.extra_column:
        extra = EXTRA_COLUMNS[int(rng.integers(0, len(EXTRA_COLUMNS)))]
        if extra == "序号":
            cols.insert(0, (extra, pl.Series(np.arange(1, n + 1).astype(str).tolist(), dtype=pl.String)))
        elif extra == "经办人":
            names = np.array(["王建国", "李秀英", "张伟", "刘洋", "陈静"])
            cols.append((extra, pl.Series(names[rng.integers(0, 5, n)].tolist(), dtype=pl.String)))
        else:
            notes = np.where(rng.random(n) < 0.03, "已核实", "")
            cols.append((extra, pl.Series(notes.tolist(), dtype=pl.String)))
    return cols


NO_ROWS = np.array([], int)  # no row with a wrong field count


def render_csv(
    cols, encoding: str, crlf: bool, rng, field_count_rows: np.ndarray = NO_ROWS, truncate: bool = False
) -> Rendered:
    # a blank cell is written as nothing, not as ""
    df = pl.DataFrame({f"c{i}": s.replace("", None) for i, (_, s) in enumerate(cols)}) if cols else pl.DataFrame()
    header = pl.DataFrame(schema={h: pl.String for h, _ in cols}).write_csv()
    nl = "\r\n" if crlf else "\n"
    body = df.write_csv(include_header=False, line_terminator=nl) if df.height else ""
    header = header.rstrip("\n") + nl
    if len(field_count_rows) or truncate:
        lines = body.split(nl)
        for k, i in enumerate(field_count_rows):
            line = lines[i]
            if k % 2 == 0 or '"' in line:
                lines[i] = line + ",多余字段"
            else:
                lines[i] = line.rsplit(",", 1)[0]
        if truncate:
            last = len(lines) - 2  # the list ends with "" after the final newline
            line = lines[last]
            commas = [j for j, ch in enumerate(line) if ch == ","]
            cut = commas[len(commas) // 2] + 1 + int(rng.integers(0, 3)) if commas else max(len(line) // 2, 1)
            cut = min(cut, commas[-1] if commas else cut)  # at least one field short
            lines[last] = line[:cut]
            lines = lines[: last + 1]
            body = nl.join(lines)
        else:
            body = nl.join(lines)
    text = header + body
    data = text.encode("utf-8-sig" if encoding == "utf-8-sig" else encoding)
    n = df.height
    return Rendered(data, n, np.arange(n) + 2, encoding, "csv", 1, "", [h for h, _ in cols])


def render_xlsx(cols, feed: str, extract: int, rates: MessRates, rng, numeric: dict, money_numeric: bool) -> Rendered:
    """One data sheet (title rows, header, data with a few blank rows, 合计 row) and maybe 说明 / 汇总 sheets."""
    dept, title = file_title(feed)
    n = len(cols[0][1]) if cols else 0
    d = date_of(extract)
    titles = [
        f"昌乐县{d.year}年{d.month}月{title}",
        f"制表单位：{UNITS.get(dept, dept)}",
        f"制表日期：{d.isoformat()}",
        "说明：本表由业务系统导出",
        f"数据截止：{d.year}年{d.month}月{d.day}日",
    ]
    n_titles = int(rng.integers(1, 6)) if rng.random() < rates.title_rows else 0
    n_blank = int(rng.integers(1, 3)) if (n > 5 and rng.random() < rates.blank_rows) else 0
    blank_after = (
        set(rng.choice(np.arange(1, n), size=min(n_blank, n - 1), replace=False).tolist()) if n_blank else set()
    )
    total = rng.random() < rates.total_row and n > 0
    sheet = ("Sheet1", title, "明细", "数据")[int(rng.integers(0, 4))]
    extra_before = rng.random() < rates.extra_sheets / 2
    extra_after = rng.random() < rates.extra_sheets / 2
    target = io.BytesIO()  # XLSX files stay small (DeliveryRates.xlsx_max_rows), so in memory is fine
    wb = xlsxwriter.Workbook(
        target, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False}
    )
    wb.set_properties({"created": dt.datetime(d.year, d.month, d.day, 8, 0, 0), "author": UNITS.get(dept, dept)})
    if extra_before:
        ws0 = wb.add_worksheet("说明")
        ws0.write_string(0, 0, f"{title}：数据口径说明")
        ws0.write_string(1, 0, "身份证号为18位公民身份号码；金额单位：元。")
    ws = wb.add_worksheet(sheet)
    row = 0
    for t in titles[:n_titles]:
        ws.write_string(row, 0, t)
        row += 1
    headers = [h for h, _ in cols]
    ws.write_row(row, 0, headers)
    header_row = row + 1
    row += 1
    values = [s.to_list() for _, s in cols]
    num_cols = [numeric.get(h, {}) for h in headers]
    spec_types = {c.name: c.type for c in feeds()[feed].columns}
    aliases = {a: c.type for c in feeds()[feed].columns for a in c.spellings}
    is_money = [aliases.get(h, spec_types.get(h)) == "money" for h in headers]
    row_numbers = np.empty(n, np.int64)
    for i in range(n):
        if i in blank_after:
            row += 1
        rowvals = []
        for j, col in enumerate(values):
            v = col[i]
            if i in num_cols[j]:
                v = num_cols[j][i]
            elif money_numeric and is_money[j] and v:
                try:
                    v = float(v)
                except ValueError:
                    pass
            rowvals.append(v if v != "" else None)
        ws.write_row(row, 0, rowvals)
        row_numbers[i] = row + 1
        row += 1
    if total:
        if rng.random() < 0.5:
            row += 1
        ws.write_string(row, 0, "合计" if rng.random() < 0.6 else "总计")
        ws.write_string(row, 1, f"共{n}条")
    if extra_after:
        ws2 = wb.add_worksheet("汇总")
        ws2.write_row(0, 0, ["项目", "数量"])
        ws2.write_row(1, 0, ["记录数", n])
    wb.close()
    data = target.getvalue()
    return Rendered(data, n, row_numbers, "", "xlsx", header_row, sheet, headers)


def choose_encoding(feed: str, rng) -> str:
    if feeds()[feed].department == "民政":
        return ("gb18030", "utf-8-sig", "utf-8")[int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
    return ("utf-8", "utf-8-sig", "gb18030")[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]


def choose_format(feed: str, n_rows: int, rates: DeliveryRates, rng) -> str:
    # large exports come as CSV: an XLSX is only written up to xlsx_max_rows
    share = rates.xlsx_big_feed if feed in BIG_FEEDS else rates.xlsx_small_feed
    return "xlsx" if (n_rows <= rates.xlsx_max_rows and rng.random() < share) else "csv"


NOT_A_WORKBOOK = (
    '<html><head><meta charset="utf-8"><title>系统提示</title></head>'
    "<body><h3>系统繁忙，导出失败，请稍后再试。</h3></body></html>\n"
).encode()
