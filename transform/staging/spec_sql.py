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
    "DUPLICATE_KEY": "业务主键在同一提取日期的数据中重复且内容不同，只保留最后一行",
    # the same row again (a file or a workbook sent twice): no data lost, nothing to correct
    "DUPLICATE_ROW": "与同一提取日期的另一行完全相同（重复报送），只计一次",
}
RESENT = "DUPLICATE_ROW"  # counts against neither validity nor the gates (transform/audit/quality.py)

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


def file_township_sql(file_name: str) -> str:
    """SQL: the township code a returned file's name says (the code it starts with, as
    jiuzhu.config.township_workbook_name names it, or a township's name in any spelling), else NULL."""
    base = f"regexp_extract({file_name}, '[^/]*$')"  # a file in a subfolder: its own name
    whens = " ".join(
        f"WHEN starts_with({base}, '{t.code}') OR "
        + " OR ".join(f"contains({base}, {_lit(name)})" for name in (t.official_name, *t.aliases) if name)
        + f" THEN '{t.code}'"
        for t in load_townships()
    )
    return f"CASE {whens} END"


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@dataclass
class _ColumnSql:
    """The SQL of one spec column, in layers so that each expression is computed once:
    1 over the raw row, 2 over layer 1, 3 over layer 2; the problem over layer 3."""

    layers: tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]
    outputs: list[str]  # the typed columns staging keeps
    problem: str | None  # an expression giving a reason code or NULL


def _enum_case(c: Column, text: str) -> str:
    mapping = {v: v for v in c.values} | dict(c.value_aliases)
    whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in mapping.items())
    # enumerations compare without inner spaces: "一 级" and "一级" are the same value
    return f"CASE replace({text}, ' ', '') {whens} END"


def _column(c: Column, raw: str) -> _ColumnSql:
    f = q(c.field)
    t, missing_code = q("_t_" + c.field), _lit("REQUIRED_MISSING") if c.required else "NULL"
    missing = f"WHEN {t} IS NULL THEN {missing_code}"
    text_layer = [("_t_" + c.field, f"jz_text({raw})")]
    if c.type == "id":
        clean, shape = q("_c_" + c.field), q("_s_" + c.field)
        return _ColumnSql(
            (
                [("_c_" + c.field, f"jz_id_clean({raw})")],
                [("_s_" + c.field, f"jz_id_shape({clean})")],
                [(c.field, f"jz_id18_of({clean}, {shape})")],
            ),
            [c.field],
            f"CASE WHEN {clean} IS NULL THEN {missing_code} ELSE jz_id_problem_of({shape}, {f}, extract_date) END",
        )
    if c.type == "date":
        norm = q("_d_" + c.field)
        later = "" if c.future_ok else f" OR {f} > extract_date"
        return _ColumnSql(
            (text_layer, [("_d_" + c.field, f"jz_date_norm({t})")], [(c.field, f"jz_date_of({norm}, {t})")]),
            [c.field],
            f"CASE {missing} WHEN {f} IS NULL THEN 'DATE_INVALID' WHEN {f} < DATE '1900-01-01'{later} THEN 'DATE_IMPOSSIBLE' END",
        )
    if c.type == "month":
        digits = q("_m_" + c.field)
        return _ColumnSql(
            (text_layer, [("_m_" + c.field, f"jz_month_digits({t})")], [(c.field, f"jz_month_of({digits})")]),
            [c.field],
            f"CASE {missing} WHEN {f} IS NULL THEN 'MONTH_INVALID' WHEN {f} > extract_date THEN 'DATE_IMPOSSIBLE' END",
        )
    simple = {"money": ("jz_money_of({})", "MONEY_INVALID"), "int": ("jz_int_of({})", "INT_INVALID")}
    if c.type in simple:
        expr, code = simple[c.type]
        return _ColumnSql(
            (text_layer, [], [(c.field, expr.format(t))]),
            [c.field],
            f"CASE {missing} WHEN {f} IS NULL THEN '{code}' END",
        )
    if c.type == "enum":
        return _ColumnSql(
            (text_layer, [], [(c.field, _enum_case(c, t))]),
            [c.field],
            f"CASE {missing} WHEN {f} IS NULL THEN 'ENUM_INVALID' END",
        )
    if c.type == "township":
        prefix = "" if c.field == "township" else c.field + "_"
        code_name, name_name, note_name = (f"{prefix}township_code", f"{prefix}township_name", f"{prefix}township_note")
        code_sql, names = township_case(t)
        code = q(code_name)
        return _ColumnSql(
            (
                text_layer,
                [(code_name, code_sql)],
                [
                    (name_name, f"CASE {code} {names} END"),
                    # why a row went to the fallback: kept, never silent
                    (
                        note_name,
                        f"CASE WHEN {t} IS NULL THEN '镇街为空，转县社会救助综合服务中心' "
                        f"WHEN {code} = '{FALLBACK_TOWNSHIP}' AND {t} <> '{FALLBACK_TOWNSHIP}' "
                        f"THEN '无法识别的镇街名称“' || {t} || '”，转县社会救助综合服务中心' END",
                    ),
                ],
            ),
            [code_name, name_name, note_name],
            f"CASE {missing} END" if c.required else None,
        )
    if c.type == "text":
        return _ColumnSql(
            ([(c.field, f"jz_text({raw})")], [], []),
            [c.field],
            f"CASE WHEN {f} IS NULL THEN {missing_code} END" if c.required else None,
        )
    raise ValueError(f"unknown column type {c.type} of {c.name}")


def _problem_label(code_expr: str, column: str) -> str:
    whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(column + '：' + v)}" for k, v in REASONS.items())
    return f"CASE {code_expr} {whens} END"


def standardise_sql(feed: Feed, only: str = "true") -> str:
    """SELECT over raw.<feed> giving lineage, typed fields, _reason_code and _reason; ``only``: a
    predicate on the raw rows ``r`` choosing whole extract dates (duplicates are judged per date).

    Layers 1-3 type every column (each expression once); layer 4 finds each
    column's problem; layer 5 adds the rules over several typed columns
    (negative money outside reversal rows, parts adding up to the total).
    """
    fields = {c.name: c.field for c in feed.columns}
    columns = {c.name: _column(c, "r." + q(c.name)) for c in feed.columns}
    layers = [[f"r.{x}" for x in LINEAGE], ["*"], ["*"]]
    if feed.file_township:
        layers[0].append(f"{file_township_sql('r.source_file')} AS {q(feed.file_township)}")
    for sql in columns.values():
        for i in range(3):
            layers[i] += [f"{expr} AS {q(name)}" for name, expr in sql.layers[i]]
    # (alias, column label, its layer-4 expression; None for the checks layer 5 adds)
    checks: list[tuple[str, str, str | None]] = [
        (q("_p_" + fields[name]), name, sql.problem) for name, sql in columns.items() if sql.problem
    ]
    layer4 = ["*"] + [f"{problem} AS {alias}" for alias, _, problem in checks]

    layer5 = ["*"]
    money = [c for c in feed.columns if c.type == "money"]
    if money:
        negative = " OR ".join(f"{q(c.field)} < 0" for c in money)
        reversal = f"{q(fields[feed.reversal['column']])} IS NOT NULL" if feed.reversal else "false"
        layer5.append(f"CASE WHEN ({negative}) AND NOT ({reversal}) THEN 'AMOUNT_NEGATIVE' END AS _p_negative")
        checks.append(("_p_negative", "金额", None))
    if feed.parts_sum:
        parts = feed.parts_sum
        total = q(fields[parts["total"]])
        summed = " + ".join(f"coalesce({q(fields[p])}, 0)" for p in parts["parts"])
        layer5.append(
            f"CASE WHEN {total} IS NOT NULL AND abs({total} - ({summed})) > {float(parts['tolerance'])} "
            "THEN 'AMOUNT_MISMATCH' END AS _p_parts"
        )
        checks.append(("_p_parts", parts["total"], None))

    reason_code = f"coalesce({', '.join(a for a, _, _ in checks)})" if checks else "NULL::VARCHAR"
    reason = (
        "concat_ws('；', " + ", ".join(_problem_label(a, label) for a, label, _ in checks) + ")" if checks else "''"
    )
    outputs = [q(c) for c in output_columns(feed)]
    keep = ", ".join([*LINEAGE, *outputs])
    key = ", ".join(q(f) for f in feed.key_fields)
    # Layer 7: a natural key twice in one extract date (one file, or a main file and its 补录): the
    # last row (latest file, then latest row) stands, as a later extract corrects an earlier one;
    # the others are quarantined, saying which row stands: as DUPLICATE_KEY where they differ from it,
    # as DUPLICATE_ROW (re-sent) where they are the same. Only the standardised rows of the keys found
    # twice are ranked (few): ranking every row was about a tenth of standardising a roster snapshot.
    duplicate = (
        f"'业务主键（{'+'.join(feed.natural_key)}）在同一提取日期的数据中重复，以' || CASE WHEN _kept_file = file_id "
        "THEN '本文件' ELSE '同日另一文件（编号 ' || _kept_file || '）' END || '第 ' || _kept_row || ' 行为准（内容' || "
        "CASE WHEN _same THEN '相同' ELSE '不同' END || '）'"
    )
    return f"""
WITH l1 AS (SELECT {", ".join(layers[0])} FROM raw.{feed.name} r
            WHERE r.file_id NOT IN (SELECT file_id FROM audit.files WHERE status = 'superseded') AND ({only})),
l2 AS (SELECT {", ".join(layers[1])} FROM l1),
l3 AS (SELECT {", ".join(layers[2])} FROM l2),
l4 AS (SELECT {", ".join(layer4)} FROM l3),
l5 AS (SELECT {", ".join(layer5)} FROM l4),
l6 AS MATERIALIZED (SELECT *, {reason_code} AS _reason_code, hash({", ".join(outputs)}) AS _values FROM l5),
twice AS (SELECT {key}, extract_date FROM l6 WHERE _reason_code IS NULL GROUP BY ALL HAVING count(*) > 1),
ranks AS (SELECT file_id, source_row, row_number() OVER w AS _key_rank, first_value(file_id) OVER w AS _kept_file,
                 first_value(source_row) OVER w AS _kept_row, _values = first_value(_values) OVER w AS _same
          FROM (SELECT {key}, x.extract_date, file_id, source_row, _values FROM l6 x
                SEMI JOIN twice t ON {same_key_sql(feed, "x", "t")} AND x.extract_date = t.extract_date WHERE _reason_code IS NULL)
          WINDOW w AS (PARTITION BY {key}, extract_date ORDER BY file_id DESC, source_row DESC)),
l7 AS (SELECT * FROM l6 LEFT JOIN ranks USING (file_id, source_row))
SELECT {keep},
       CASE WHEN _reason_code IS NOT NULL OR coalesce(_key_rank, 1) = 1 THEN _reason_code
            WHEN _same THEN '{RESENT}' ELSE 'DUPLICATE_KEY' END AS _reason_code,
       CASE WHEN _reason_code IS NOT NULL THEN nullif({reason}, '') WHEN _key_rank > 1 THEN {duplicate} END AS _reason
FROM l7
"""


def same_key_sql(feed: Feed, left: str, right: str) -> str:
    """SQL: the rows aliased ``left`` and ``right`` have the same natural key. A key field may be empty
    (a returned form's township): an empty field matches an empty one."""
    return " AND ".join(f"{left}.{q(f)} IS NOT DISTINCT FROM {right}.{q(f)}" for f in feed.key_fields)


def original_values_json(feed: Feed, alias: str = "r") -> str:
    """The row as delivered, under the spec's column names, for the quarantine."""
    return "to_json(struct_pack(" + ", ".join(f"{q(c.name)} := {alias}.{q(c.name)}" for c in feed.columns) + "))"


def output_columns(feed: Feed) -> list[str]:
    """The typed columns of staging.<feed>, in spec order."""
    own = [name for c in feed.columns for name in _column(c, "x").outputs]
    return own + ([feed.file_township] if feed.file_township else [])
