"""SQL that turns raw.<feed> (text as delivered) into staging.<feed> (typed, normalised),
generated from the feed spec: one column rule per type, so adding a feed is a spec entry.

Every raw row lands in exactly one of staging.<feed> or audit.quarantine (stage
'staging'), with one stable reason code per quarantined row (the first problem
in column order) and a Chinese reason that names the columns, never the values.
"""

from __future__ import annotations

from dataclasses import dataclass

from jiuzhu.config import FALLBACK_TOWNSHIP, Column, Feed, load_townships
from warehouse.resource import quote_ident as q

# Stable reason codes of audit.quarantine (stage 'staging') and what they say.
REASONS = {
    "REQUIRED_MISSING": "必填项为空",
    "ID_MISSING": "身份证号为空",
    "ID_FORMAT": "不是身份证号码的格式",
    "ID_CHECKSUM": "身份证号校验位错误",
    "ID_BIRTHDATE": "身份证号中的出生日期不存在或晚于文件提取日期",
    "ID_PRECISION_LOST": "身份证号已被 Excel 变成数字（科学计数法），后几位丢失，无法恢复",
    "DATE_INVALID": "无法识别的日期",
    "DATE_IMPOSSIBLE": "日期不可能（早于1900年或晚于文件提取日期）",
    "MONTH_INVALID": "无法识别的费款所属期",
    "MONEY_INVALID": "无法识别的金额",
    "AMOUNT_NEGATIVE": "金额为负数（只有冲销行可以为负）",
    "INT_INVALID": "无法识别的整数",
    "ENUM_INVALID": "取值不在规定范围内",
    "AMOUNT_MISMATCH": "各项支付之和与医疗总费用不符（差额超过0.01元）",
}

LINEAGE = ("file_id", "source_file", "source_row", "sha256", "extract_date")


def township_case(text_expr: str) -> tuple[str, str]:
    """(code, official name) SQL for a township name in any spelling; unknown -> the fallback."""
    code_whens, name_whens = [], []
    for t in load_townships():
        spellings = {t.code, t.official_name, *t.aliases}
        quoted = ", ".join("'" + s.replace("'", "''") + "'" for s in sorted(spellings))
        code_whens.append(f"WHEN {text_expr} IN ({quoted}) THEN '{t.code}'")
        name_whens.append(f"WHEN '{t.code}' THEN '{t.official_name}'")
    code = f"CASE {' '.join(code_whens)} ELSE '{FALLBACK_TOWNSHIP}' END"
    return code, " ".join(name_whens)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@dataclass
class _ColumnSql:
    typed: list[tuple[str, str]]  # (output name, expression over layer t)
    problem: str | None  # expression giving a reason code or NULL


def _enum_case(c: Column, text: str) -> str:
    mapping = {v: v for v in c.values} | dict(c.value_aliases)
    whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in mapping.items())
    # enumerations compare without inner spaces: "一 级" and "一级" are the same value
    return f"CASE replace({text}, ' ', '') {whens} END"


def _column(c: Column, raw: str) -> _ColumnSql:
    f = c.field
    text = f"jz_text({raw})"
    missing = f"WHEN {text} IS NULL THEN {'NULL' if not c.required else _lit('REQUIRED_MISSING')}"
    if c.type == "id":
        clean, shape = f"jz_id_clean({raw})", f"jz_id_shape(jz_id_clean({raw}))"
        typed = [(f, f"jz_id18_of({clean}, {shape})")]
        problem = (
            f"CASE WHEN {clean} IS NULL THEN {'NULL' if not c.required else _lit('REQUIRED_MISSING')} "
            f"ELSE jz_id_problem_of({shape}, jz_id18_of({clean}, {shape}), extract_date) END"
        )
        return _ColumnSql(typed, problem)
    if c.type == "date":
        value = f"jz_date({raw})"
        later = "" if c.future_ok else " OR " + value + " > extract_date"
        problem = (
            f"CASE {missing} WHEN {value} IS NULL THEN 'DATE_INVALID' "
            f"WHEN {value} < DATE '1900-01-01'{later} THEN 'DATE_IMPOSSIBLE' END"
        )
        return _ColumnSql([(f, value)], problem)
    if c.type == "month":
        value = f"jz_month({raw})"
        problem = f"CASE {missing} WHEN {value} IS NULL THEN 'MONTH_INVALID' WHEN {value} > extract_date THEN 'DATE_IMPOSSIBLE' END"
        return _ColumnSql([(f, value)], problem)
    if c.type == "money":
        value = f"jz_money({raw})"
        return _ColumnSql([(f, value)], f"CASE {missing} WHEN {value} IS NULL THEN 'MONEY_INVALID' END")
    if c.type == "int":
        value = f"jz_int({raw})"
        return _ColumnSql([(f, value)], f"CASE {missing} WHEN {value} IS NULL THEN 'INT_INVALID' END")
    if c.type == "enum":
        value = _enum_case(c, text)
        return _ColumnSql([(f, value)], f"CASE {missing} WHEN {value} IS NULL THEN 'ENUM_INVALID' END")
    if c.type == "township":
        code, names = township_case(text)
        prefix = "" if f == "township" else f + "_"
        typed = [
            (f"{prefix}township_code" if prefix else "township_code", code),
            (f"{prefix}township_name" if prefix else "township_name", f"CASE {code} {names} END"),
            # why a row went to the fallback: kept, never silently
            (
                f"{prefix}township_note" if prefix else "township_note",
                f"CASE WHEN {text} IS NULL THEN '镇街为空，转县社会救助综合服务中心' "
                f"WHEN {code} = '{FALLBACK_TOWNSHIP}' AND {text} <> '{FALLBACK_TOWNSHIP}' "
                f"THEN '无法识别的镇街名称“' || {text} || '”，转县社会救助综合服务中心' END",
            ),
        ]
        return _ColumnSql(typed, f"CASE {missing} END" if c.required else None)
    if c.type == "text":
        return _ColumnSql([(f, text)], f"CASE {missing} END" if c.required else None)
    raise ValueError(f"unknown column type {c.type} of {c.name}")


def _problem_label(code_expr: str, column: str) -> str:
    whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(column + '：' + v)}" for k, v in REASONS.items())
    return f"CASE {code_expr} {whens} END"


def standardise_sql(feed: Feed) -> str:
    """SELECT over raw.<feed> giving lineage, typed fields, _reason_code, _reason and _raw (JSON).

    Layer t types every column and finds its problem; layer u adds the rules that
    need typed values of several columns (negative money, parts adding up).
    """
    fields = {c.name: c.field for c in feed.columns}
    layer_t = [f"r.{c}" for c in LINEAGE]
    checks: list[tuple[str, str]] = []  # (problem column, the column named in the reason)
    for c in feed.columns:
        sql = _column(c, "r." + q(c.name))
        layer_t += [f"{expr} AS {q(name)}" for name, expr in sql.typed]
        if sql.problem:
            layer_t.append(f"{sql.problem} AS {q('_p_' + c.field)}")
            checks.append(("_p_" + c.field, c.name))
    # the original values of the row, under the spec's column names, for the quarantine
    layer_t.append("to_json(struct_pack(" + ", ".join(f"{q(c.name)} := r.{q(c.name)}" for c in feed.columns) + ")) AS _raw")

    layer_u = ["t.*"]
    money = [c for c in feed.columns if c.type == "money"]
    if money:
        negative = " OR ".join(f"t.{q(c.field)} < 0" for c in money)
        reversal = f"t.{q(fields[feed.reversal['column']])} IS NOT NULL" if feed.reversal else "false"
        layer_u.append(f"CASE WHEN ({negative}) AND NOT ({reversal}) THEN 'AMOUNT_NEGATIVE' END AS _p_negative")
        checks.append(("_p_negative", "金额"))
    if feed.parts_sum:
        parts = feed.parts_sum
        total = f"t.{q(fields[parts['total']])}"
        summed = " + ".join(f"coalesce(t.{q(fields[p])}, 0)" for p in parts["parts"])
        layer_u.append(
            f"CASE WHEN {total} IS NOT NULL AND abs({total} - ({summed})) > {float(parts['tolerance'])} "
            "THEN 'AMOUNT_MISMATCH' END AS _p_parts"
        )
        checks.append(("_p_parts", parts["total"]))

    reason_code = f"coalesce({', '.join(p for p, _ in checks)})" if checks else "NULL::VARCHAR"
    reason = "concat_ws('；', " + ", ".join(_problem_label(p, label) for p, label in checks) + ")" if checks else "''"
    return f"""
WITH t AS (SELECT {', '.join(layer_t)} FROM raw.{feed.name} r),
u AS (SELECT {', '.join(layer_u)} FROM t)
SELECT u.*, {reason_code} AS _reason_code, nullif({reason}, '') AS _reason FROM u
"""


def output_columns(feed: Feed) -> list[str]:
    """The typed columns of staging.<feed>, in spec order."""
    names: list[str] = []
    for c in feed.columns:
        names += [name for name, _ in _column(c, "x").typed]
    return names
