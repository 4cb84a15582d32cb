"""Ground truth beside the landing zone (never inside it): what the files hold and
what the pipeline should conclude from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from .history import NEVER, History
from .population import ABILITY, DISABILITY, ECON_NAMES, RELATIONS, RESIDENCE, Population
from .timeline import Timeline, or_none

README = """# Ground truth of a synthetic 昌乐县

Written by `synth.generate` beside `landing/`, never inside it. UTF-8 CSV files.

## files.csv — one row per file in landing/
- `feed`, `file_name` (inside `landing/<feed>/`), `extract_date` (blank when the name carries none).
- `expected_status`: `loaded`, `rejected` or `duplicate`.
- `problem`: blank, or one of `empty` (0 bytes, rejected), `header_only` (an increment with 0 data rows: loaded; only incremental feeds get one —
  a header-only snapshot would be rejected),
  `truncated` (an incremental feed's CSV whose last line is cut mid-row without a trailing newline:
  loaded, the last row quarantined, see bad_rows.csv `TRUNCATED_ROW`; a truncated snapshot would be rejected), `missing_required` (a re-sent copy of another file's
  rows without one required column: rejected), `not_a_workbook` (an `.xlsx` that is an HTML page: rejected),
  `xlsx_named_csv` (a real workbook saved under `.csv`: loaded by sniffing the content),
  `duplicate_of:<file_name>` (same bytes as that file of the same feed; the original's name sorts first),
  `no_date` (no 8-digit date in the name: rejected; its rows are copies of another file's).
- `data_rows`: every data row written — not title rows, the header, blank rows or the 合计/总计 row. A row
  with a wrong number of fields or a truncated last row counts as a data row.
- `encoding` (CSV: `utf-8`, `utf-8-sig` = UTF-8 with BOM, `gb18030`; blank for XLSX), `format` (the real
  content: `csv` or `xlsx`), `header_row` (line / Excel row of the header), `sheet` (the data sheet).

## bad_rows.csv — one row per spoiled cell (or spoiled row)
- `row_number` is the row as a person opening the file sees it:
  - CSV: the physical line number counting from 1, the header being line 1, so the first data row is
    line 2 (no CSV has title or blank rows; no field contains a line break).
  - XLSX: the Excel row number (1-based) on the data sheet, counting the title rows above the header and
    any blank rows in between.
- `column`: the header as written in the file (blank for row-level kinds FIELD_COUNT, TRUNCATED_ROW).
- `mess_kind`: ID_LOWERCASE_X, ID_15_DIGIT, ID_FULLWIDTH, ID_SPACES, ID_APOSTROPHE, ID_PRECISION_LOST
  (Excel scientific notation: the number is lost), ID_CHECKSUM, ID_BIRTHDATE; DATE_SLASH, DATE_COMPACT,
  DATE_CHINESE, DATE_DOT, DATE_SERIAL (Excel serial; a numeric cell in XLSX), DATE_WITH_TIME; MONTH_DASH,
  MONTH_CHINESE; MONEY_THOUSANDS, MONEY_YUAN, MONEY_FULLWIDTH, MONEY_BLANK (only where the amount is 0);
  TEXT_TRAILING_SPACE, TEXT_FULLWIDTH; TOWNSHIP_SHORT, TOWNSHIP_OLD, TOWNSHIP_UNKNOWN (a name no reference
  knows: routed to the fallback 370725000); ENUM_ALIAS (value_aliases of feeds.yaml); FIELD_COUNT; TRUNCATED_ROW.
- `expected`: `quarantine` (ID_CHECKSUM, ID_BIRTHDATE, ID_PRECISION_LOST, FIELD_COUNT, TRUNCATED_ROW) or
  `normalise`. Only files whose expected_status is `loaded` are listed.

## rule_cases.csv — planted cases (a subset of all hits: other households may fire rules naturally)
`subject_type` (household / person), `household_id` (blank for a person outside the roster),
`id_number` (person-level cases), `subject_id_number` (the person the case is about: the head for a
household case), `rule_code`, `variant`, `as_of`, `note`, and what the warning's reason must name besides
that person (`|`-separated, blank when nothing): `named_dates` (YYYY-MM-DD: the 大病 diagnosis, the death, the
失业登记, the start of a 特困 record below standard) and `named_amounts` (元 per month: the assistance still paid,
each record of a person on two, the 特困 allowance below standard, the last 职工养老 base before a job loss).
Every row of a planted household or person is clean in every file: no cell mess, never late, never corrected,
never only in a bad file.

## near_misses.csv — planted near misses: the rule named must NOT fire
Same columns as rule_cases.csv; `rule_code` is the rule each case is built to come just short of, so a
correct pipeline gives it no hit of that code on `as_of`. From 300 households there are at least three per
rule, built from the edges RULES.md implies — e.g. R01: a verification older than 12 months, 核对结论
不符合, income exactly at the standard, a member already on 低保; R03: a reversal that brings 12-month
spending under the line, 19,900 元, spending over the line but more than 12 months ago; R04: an active
就业登记 beside the 失业登记, a deregistered 失业登记, 劳动能力 无, age 60; R05: already on 特困, income
exactly 1.5 × standard, a 大病 diagnosis 25 months old, 三级 disability; R06: support ended for a 研究生,
for a 19-year-old not in school, an ended 低保 (not 特困/孤儿), an ended 孤儿 now on 特困; R08: a petition
100 days old, category 其他 with neutral text (also for outsiders); R09: an earner who died at 65, a recent
大病 diagnosis that is not the first, a newly unemployed member who was not the only contributor, a death
after only 居民养老 payments; R10: a 低保 household at 1.4 × standard, a recipient's death after as_of
(in no file yet), a record ended after the death, 低保 then 特困 the next day; R11: 基本生活费 exactly
1.3 × standard and 照料护理费 exactly at (or rounded up to the cent from) the share of the minimum wage.
A near miss is designed to fire no other rule either (its `note` says what it is), and its rows are as
clean as a planted case's. Its members have no routine 医保 settlements, only the ones the case designs
(with verified income at or just above the standard, any 个人自付 would fire R03's income clause). A person-level near miss outside the roster has a blank `household_id`.
households.csv `near_miss_rules` names the rules a household is a near miss for.

## events.csv — what happened, in date order
`household_id`, `id_number` (blank for household events), `event` (illness, job_loss, earner_death,
disability, death, re_employed, applied, entered_dibao, entered_tekun, entered_dibao_edge,
temporary_assistance, exited_assistance), `date`. Signals (the first four) precede the applications and
entries they cause by 1–6 months; some shocked households never apply, some unshocked ones do.

## corrections.csv — records delivered wrong and corrected by a later file (the later extract wins)
`feed`, `key` (natural key; for rs_insurance `身份证号|险种|费款所属期`), `wrong_extract`, `right_extract`.

## households.csv, persons.csv — the true population (true 18-digit IDs)
persons.csv includes people outside the roster (`in_roster` false: living here on a residence permit),
who appear in settlements, insurance and petitions only.
"""


def _date(days: np.ndarray) -> pl.Series:
    d = np.asarray(days, dtype=np.int64)
    return pl.Series(or_none(d < NEVER, d), dtype=pl.Int64).cast(pl.Date).dt.strftime("%Y-%m-%d")


def _csv(df: pl.DataFrame, path: Path) -> None:
    """UTF-8 CSV; empty text is written as an empty field (not as a quoted "")."""
    df.with_columns(pl.col(pl.String).replace("", None)).write_csv(path)


def write(
    folder: Path,
    pop: Population,
    hist: History,
    tl: Timeline,
    files: list[dict],
    bad_rows: list[pl.DataFrame],
    rule_cases: pl.DataFrame,
    near_misses: pl.DataFrame,
    events: pl.DataFrame,
    corrections,
    cases,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(README, encoding="utf-8")
    pl.DataFrame(files).pipe(_csv, folder / "files.csv")
    schema = {
        "feed": pl.String,
        "file_name": pl.String,
        "row_number": pl.Int64,
        "column": pl.String,
        "mess_kind": pl.String,
        "expected": pl.String,
    }
    (pl.concat(bad_rows) if bad_rows else pl.DataFrame(schema=schema)).pipe(_csv, folder / "bad_rows.csv")
    _csv(rule_cases, folder / "rule_cases.csv")
    _csv(near_misses, folder / "near_misses.csv")

    hh_ids = pop.h_id.astype(str)
    ev = (
        events.with_columns(
            household_id=pl.Series(
                np.where(events["_h"].to_numpy() >= 0, hh_ids[np.maximum(events["_h"].to_numpy(), 0)], "")
            ),
            id_number=pl.Series(
                np.where(events["_p"].to_numpy() >= 0, pop.p_id[np.maximum(events["_p"].to_numpy(), 0)], "").astype(str)
            ),
            date=_date(events["date"].to_numpy()),
        )
        .select("household_id", "id_number", "event", "date")
        .sort("date", "household_id", "event", "id_number")
    )
    _csv(ev, folder / "events.csv")
    pl.DataFrame(
        [c.__dict__ for c in corrections],
        schema={"feed": pl.String, "key": pl.String, "wrong_extract": pl.Int64, "right_extract": pl.Int64},
    ).with_columns(wrong_extract=_date_expr("wrong_extract"), right_extract=_date_expr("right_extract")).pipe(
        _csv, folder / "corrections.csv"
    )

    planted_rules: dict[int, list[str]] = {}
    near_rules: dict[int, list[str]] = {}
    for c in cases:
        if c.h >= 0:
            (near_rules if c.near_miss else planted_rules).setdefault(c.h, []).append(c.rule)
    roster = pop.p_hh >= 0
    hh = np.where(roster, pop.p_hh, 0)
    size_start = np.bincount(pop.p_hh[roster], minlength=pop.n_households)
    in_roster_now = roster & (hist.p_roster_end > tl.as_of_day)
    size_now = np.bincount(pop.p_hh[in_roster_now], minlength=pop.n_households)
    towns = pop.townships
    pl.DataFrame(
        {
            "household_id": hh_ids,
            "township_code": np.array([t.code for t in towns])[pop.h_town],
            "township_name": np.array([t.official_name for t in towns])[pop.h_town],
            "village": pop.h_village.astype(str),
            "residence_type": np.array(RESIDENCE)[pop.h_res],
            "address": pop.h_address.astype(str),
            "phone": pop.h_phone.astype(str),
            "household_type": pop.h_type.astype(str),
            "members_at_start": size_start,
            "members_as_of": size_now,
            "planted_rules": ["|".join(planted_rules.get(i, [])) for i in range(pop.n_households)],
            "near_miss_rules": ["|".join(near_rules.get(i, [])) for i in range(pop.n_households)],
        }
    ).pipe(_csv, folder / "households.csv")
    changed = hist.p_disab_day <= tl.as_of_day
    disab = np.where(changed, hist.p_disab_new, pop.p_disab)
    ability = np.where(changed, hist.p_ability_new, pop.p_ability)
    pl.DataFrame(
        {
            "id_number": pop.p_id.astype(str),
            "household_id": np.where(roster, hh_ids[hh], ""),
            "name": pop.p_name.astype(str),
            "sex": np.where(pop.p_male, "男", "女"),
            "birth_date": _date(pop.p_birth),
            "relation_to_head": np.where(roster, np.array(RELATIONS)[pop.p_rel], ""),
            "residence_type": np.array(RESIDENCE)[pop.p_res],
            "township_code": np.array([t.code for t in towns])[pop.p_town],
            "in_roster": roster,
            "in_roster_as_of": in_roster_now,
            "death_date": _date(hist.p_death),
            "work_ability_as_of": np.array(ABILITY)[ability],
            "disability_grade_as_of": np.array(DISABILITY)[disab],
            "economic_role_at_start": np.array(ECON_NAMES)[pop.p_econ],
            "planted": (roster & pop.h_planted[hh])
            | np.isin(np.arange(pop.n_persons), [c.p for c in cases if c.p >= 0]),
        }
    ).pipe(_csv, folder / "persons.csv")


def _date_expr(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Date).dt.strftime("%Y-%m-%d")
