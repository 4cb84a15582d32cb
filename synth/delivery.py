"""From the simulated history to the departments' deliveries: which record goes
into which file, and what each record looks like before any mess.

- Incremental feeds: one history extract per month (a few records arrive a
  file late), then one file a day for the last week; now and then a record is
  delivered wrong and corrected in a later file (the later extract wins).
  rs_insurance: one file per 费款所属期, extracted around the 10th of the next
  month. zj_feedback: none (the townships answer the workbooks the nights send
  out: ``jiuzhu synth-feedback``, synth/feedback.py).
- Snapshot feeds: the full list at every month end and on as_of, sometimes as a
  main file plus a 补录 supplement of the same extract date.

Frames are typed here (day numbers, cents, person indices) and turned into the
canonical text of each column by ``to_text``; ``mess`` then spoils some cells.
Columns are named by the feed spec's ``field`` and renamed to Chinese headers
by the writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from . import vocab
from .history import (
    BENEFITS,
    CARE_LEVELS,
    CATEGORIES,
    ILLNESSES,
    INSURANCE,
    NEVER,
    REGISTRATIONS,
    RESULTS,
    SUPPORT_MODES,
    VISITS,
    History,
)
from .population import ABILITY, DISABILITY, RELATIONS, RESIDENCE, Population, school_stage
from .rates import DeliveryRates
from .spec import feeds
from .timeline import Timeline, age_years, or_none


@dataclass
class FilePlan:
    feed: str
    extract: int  # day number of the extract date
    build: Callable[[], pl.DataFrame]  # typed frame of this file's records (+ _p, _h, _prot)
    part: str = ""  # "" or "补录"
    n_protected: int = -1  # known up front for incremental files
    n_rows: int = -1
    role: str = ""  # a planted whole-file problem, set by choose_bad_files
    monthly: bool = False


@dataclass
class Correction:
    feed: str
    key: str
    wrong_extract: int
    right_extract: int


@dataclass
class Deliveries:
    plans: list[FilePlan]
    corrections: list[Correction] = field(default_factory=list)
    late: int = 0


# ---------------------------------------------------------------------------------------------
# typed record tables per feed


def incremental_tables(
    pop: Population, hist: History, tl: Timeline, rng: np.random.Generator
) -> dict[str, pl.DataFrame]:
    t = hist.tables
    out: dict[str, pl.DataFrame] = {}
    year = lambda d: np.asarray(d, dtype=np.int64).astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970  # noqa: E731

    s = t["settlements"]
    if s.height:
        days = s["settlement_date"].to_numpy()
        ymd = np.datetime_as_string(days.astype("datetime64[D]")).astype("U10")
        sid = np.char.add(
            np.char.add("JS", np.char.replace(ymd, "-", "")), np.char.zfill(np.arange(1, s.height + 1).astype("U8"), 8)
        )
        rev = s["reverses"].to_numpy()
        out["yb_settlements"] = s.select(
            pl.Series("settlement_id", sid),
            "_p",
            pl.col("settlement_date"),
            pl.Series("visit_type", np.array(VISITS)[s["visit_type"].to_numpy()]),
            "total_cost",
            "fund_paid",
            "serious_illness_insurance_paid",
            "medical_assistance_paid",
            "out_of_pocket",
            pl.Series("facility", hist.facilities[s["facility"].to_numpy()].astype(str)),
            pl.Series("reverses", or_none(rev >= 0, sid[np.maximum(rev, 0)]), dtype=pl.String),
        ).with_columns(_date=pl.col("settlement_date"), _key=pl.col("settlement_id"))

    ins = t["insurance"]
    if ins.height:
        yyyymm = np.array([mo.yyyymm for mo in tl.months])
        out["rs_insurance"] = pl.DataFrame(
            {
                "_p": ins["_p"],
                "insurance_type": np.array(INSURANCE)[ins["insurance_type"].to_numpy()],
                "contribution_month": yyyymm[ins["month"].to_numpy()],
                "contribution_base": np.round(ins["contribution_base"].to_numpy() * 100).astype(np.int64),
                "benefit_type": np.array(BENEFITS)[ins["benefit_type"].to_numpy()],
                "benefit_amount": np.round(ins["benefit_amount"].to_numpy() * 100).astype(np.int64),
                "_month": ins["month"],
            }
        ).with_columns(
            _key=pl.concat_str(
                [pl.col("_p").cast(pl.String), "insurance_type", pl.col("contribution_month").cast(pl.String)],
                separator="|",
            )
        )

    r = t["registrations"]
    if r.height:
        rd = r["registration_date"].to_numpy()
        dd = r["deregistration_date"].to_numpy()
        rid = np.char.add(
            np.char.add("DJ", year(rd).astype("U4")), np.char.zfill(np.arange(1, r.height + 1).astype("U7"), 7)
        )
        emp = r["employer"].to_numpy()
        base = pl.DataFrame(
            {
                "registration_id": rid,
                "_p": r["_p"],
                "registration_type": np.array(REGISTRATIONS)[r["registration_type"].to_numpy()],
                "registration_date": rd,
                "employer": pl.Series(
                    or_none(emp >= 0, np.array(vocab.EMPLOYERS, dtype=object)[np.maximum(emp, 0)]),
                    dtype=pl.String,
                ),
            }
        )
        # first delivered open; when it closes, the same 登记编号 comes again with 注销日期 (a correction by nature)
        open_v = base.with_columns(deregistration_date=pl.lit(None, pl.Int64), _date=pl.col("registration_date"))
        closed = dd < NEVER
        close_v = base.filter(pl.Series(closed)).with_columns(
            deregistration_date=pl.Series(dd[closed]), _date=pl.Series(dd[closed])
        )
        out["rs_employment"] = pl.concat([open_v, close_v]).with_columns(_key=pl.col("registration_id"))

    v = t["verifications"]
    if v.height:
        vd = v["verification_date"].to_numpy()
        ymd = np.char.replace(np.datetime_as_string(vd.astype("datetime64[D]")).astype("U10"), "-", "")
        out["mz_verification"] = pl.DataFrame(
            {
                "verification_id": np.char.add(
                    np.char.add("HD", ymd), np.char.zfill(np.arange(1, v.height + 1).astype("U6"), 6)
                ),
                "_h": v["_h"],
                "verification_date": vd,
                "household_size": v["household_size"],
                "annual_income": np.round(v["annual_income"].to_numpy() * 100).astype(np.int64),
                "financial_assets": np.round(v["financial_assets"].to_numpy() * 100).astype(np.int64),
                "vehicles": v["vehicles"],
                "properties": v["properties"],
                "verification_result": np.array(RESULTS)[v["verification_result"].to_numpy()],
            }
        ).with_columns(_date=pl.col("verification_date"), _key=pl.col("verification_id"))

    g = t["diagnoses"]
    if g.height:
        gd = g["diagnosis_date"].to_numpy()
        ill = np.array(ILLNESSES, dtype=object)[g["illness"].to_numpy()]
        out["wj_diagnoses"] = pl.DataFrame(
            {
                "registration_id": np.char.add(
                    np.char.add("ZD", year(gd).astype("U4")), np.char.zfill(np.arange(1, g.height + 1).astype("U7"), 7)
                ),
                "_p": g["_p"],
                "diagnosis_date": gd,
                "disease_name": ill[:, 0].astype(str),
                "icd10": ill[:, 1].astype(str),
                "illness_category": ill[:, 2].astype(str),
                "facility": hist.facilities[g["facility"].to_numpy()].astype(str),
            }
        ).with_columns(_date=pl.col("diagnosis_date"), _key=pl.col("registration_id"))

    d = t["deaths"]
    if d.height:
        out["wj_deaths"] = d.select("_p", "death_date").with_columns(
            _date=pl.col("death_date"), _key=pl.col("_p").cast(pl.String)
        )

    p = t["petitions"]
    if p.height:
        pd_ = p["registration_date"].to_numpy()
        towns = np.array([x.official_name for x in pop.townships])
        out["xf_petitions"] = pl.DataFrame(
            {
                "petition_id": np.char.add(
                    np.char.add("XF", year(pd_).astype("U4")), np.char.zfill(np.arange(1, p.height + 1).astype("U6"), 6)
                ),
                "_p": p["_p"],
                "registration_date": pd_,
                "petition_form": np.array(vocab.PETITION_FORMS)[p["petition_form"].to_numpy()],
                "township": towns[p["township"].to_numpy()],
                "petition_category": p["petition_category"],
                "petition_text": p["petition_text"],
                "handling_status": np.array(vocab.HANDLING_STATUS)[p["handling_status"].to_numpy()],
            }
        ).with_columns(_date=pl.col("registration_date"), _key=pl.col("petition_id"))
    return out


def _corrupt(feed: str, df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """The wrong first delivery of a record that a later file corrects."""
    n = df.height
    if feed == "yb_settlements":
        parts = ["fund_paid", "serious_illness_insurance_paid", "medical_assistance_paid", "out_of_pocket"]
        df = df.with_columns([(pl.col(c) * 11 // 10) for c in parts])
        return df.with_columns(total_cost=pl.sum_horizontal(parts))
    if feed == "rs_insurance":
        return df.with_columns(
            contribution_base=pl.when(pl.col("contribution_base") > 0)
            .then(pl.col("contribution_base") + 10000)
            .otherwise(pl.col("contribution_base")),
            benefit_amount=pl.when(pl.col("benefit_amount") > 0)
            .then(pl.col("benefit_amount") + 5000)
            .otherwise(pl.col("benefit_amount")),
        )
    if feed == "mz_verification":
        return df.with_columns(annual_income=pl.col("annual_income") * 12 // 10)
    if feed == "wj_diagnoses":
        ill = np.array(ILLNESSES, dtype=object)[rng.integers(0, len(ILLNESSES), n)]
        return df.with_columns(disease_name=pl.Series(ill[:, 0].astype(str)), icd10=pl.Series(ill[:, 1].astype(str)))
    if feed == "wj_deaths":
        return df.with_columns(death_date=pl.col("death_date") - 1)
    if feed == "xf_petitions":
        return df.with_columns(handling_status=pl.lit("已受理"))
    if feed == "rs_employment":
        return df.with_columns(
            employer=pl.when(pl.col("employer").is_null()).then(None).otherwise(pl.lit(vocab.EMPLOYERS[0]))
        )
    return df


def _protected_rows(df: pl.DataFrame, prot_p: np.ndarray, prot_h: np.ndarray) -> np.ndarray:
    out = np.zeros(df.height, bool)
    if "_p" in df.columns:
        p = df["_p"].to_numpy()
        out |= (p >= 0) & prot_p[np.maximum(p, 0)]
    if "_h" in df.columns:
        h = df["_h"].to_numpy()
        out |= (h >= 0) & prot_h[np.maximum(h, 0)]
    return out


def plan(
    pop: Population,
    hist: History,
    tl: Timeline,
    rates: DeliveryRates,
    rng: np.random.Generator,
    prot_p: np.ndarray,
    prot_h: np.ndarray,
) -> Deliveries:
    tables = incremental_tables(pop, hist, tl, rng)
    plans: list[FilePlan] = []
    corrections: list[Correction] = []
    late_total = 0
    for feed in feeds():
        kind = feeds()[feed].kind
        if kind == "snapshot":
            for d in tl.snapshot_days():
                builder = _snapshot_builder(feed, pop, hist, tl, d, rng.integers(0, 2**31))
                if rng.random() < rates.supplement:
                    cut = float(rng.uniform(0.9, 0.99))
                    plans.append(FilePlan(feed, d, _split(builder, cut, True)))
                    plans.append(FilePlan(feed, d, _split(builder, cut, False), part="补录"))
                else:
                    plans.append(FilePlan(feed, d, builder))
            continue
        if feed == "zj_feedback":
            continue  # townships answer the workbooks the nights send out (synth/feedback.py), none before
        df = tables.get(feed)
        if df is None:
            df = _empty_typed(feed)
        df = df.with_columns(_prot=pl.Series(_protected_rows(df, prot_p, prot_h)))
        if feed == "rs_insurance":
            ex = tl.insurance_extracts(rng)
            days = sorted({e for _, e in ex})  # one file per extract day (bulk: every month in one)
            month_to_file = np.full(len(tl), -1)
            for m, e in ex:
                month_to_file[m] = days.index(e)
            fidx = month_to_file[df["_month"].to_numpy()]
            late = (rng.random(df.height) < rates.insurance_backpay) & ~df["_prot"].to_numpy()
            extracts = np.array(days + [NEVER])
        else:
            windows = tl.incremental_windows(rng)
            lasts = np.array([w.last for w in windows])
            fidx = np.searchsorted(lasts, df["_date"].to_numpy(), side="left")
            late = (rng.random(df.height) < rates.late) & ~df["_prot"].to_numpy()
            extracts = np.array([w.extract for w in windows] + [NEVER])
        n_files = len(extracts) - 1
        # a record delivered in several versions (a registration, then its 注销) keeps its versions in order
        multi = df["_key"].is_duplicated().to_numpy()
        late &= ~multi
        fidx = np.where(late & (fidx >= 0) & (fidx < n_files - 1), fidx + 1, fidx)
        late_total += int((late & (fidx >= 1)).sum())
        # corrections: the wrong version in the record's file, the right one 1-2 files later
        corr = (rng.random(df.height) < rates.correction) & ~df["_prot"].to_numpy() & (fidx >= 0) & ~multi
        later = fidx + rng.integers(1, 3, df.height)
        corr &= later < n_files
        right = df.with_columns(_file=pl.Series(np.where(corr, later, fidx)))
        wrong = _corrupt(feed, df.filter(pl.Series(corr)), rng).with_columns(_file=pl.Series(fidx[corr]))
        for k, a, b in zip(wrong["_key"].to_list(), fidx[corr], later[corr]):
            corrections.append(Correction(feed, _readable_key(feed, k, pop), int(extracts[a]), int(extracts[b])))
        allrows = pl.concat([wrong.select(right.columns), right]).filter(pl.col("_file") >= 0)
        # a file holds each natural key once: the newest version of it
        allrows = (
            allrows.with_columns(_v=pl.int_range(pl.len()))
            .sort("_v")
            .unique(subset=["_file", "_key"], keep="last", maintain_order=True)
        )
        parts = allrows.partition_by("_file", as_dict=True, maintain_order=True)
        for k in range(n_files):
            part = parts.get((k,), allrows.clear())
            part = part.sort("_date", "_key") if "_date" in part.columns else part
            plans.append(
                FilePlan(
                    feed,
                    int(extracts[k]),
                    _ready(part),
                    n_protected=int(part["_prot"].sum()),
                    n_rows=part.height,
                    monthly=not (feed != "rs_insurance" and k >= n_files - 7),
                )
            )
    return Deliveries(plans, corrections, late_total)


def _readable_key(feed, key, pop):
    if feed in ("rs_insurance", "wj_deaths"):
        parts = key.split("|")
        parts[0] = pop.p_id[int(parts[0])]
        return "|".join(parts)
    return key


def _empty_typed(feed):
    cols = {c.field: pl.String for c in feeds()[feed].columns}
    cols.update({"_p": pl.Int64, "_h": pl.Int64, "_date": pl.Int64, "_key": pl.String})
    return pl.DataFrame(schema=cols)


def _split(builder, cut, first):
    def build():
        df = builder()
        n = int(round(df.height * cut))
        return df.head(n) if first else df.slice(n)

    return build


def _ready(frame: pl.DataFrame) -> Callable[[], pl.DataFrame]:
    """A FilePlan's build for a frame made already (bound now, not to a loop's last frame)."""
    return lambda: frame


def _snapshot_builder(feed, pop, hist, tl, d, seed):
    if feed == "mz_members":
        return lambda: members_snapshot(pop, hist, d)
    return lambda: assistance_snapshot(hist, d, seed)


def members_snapshot(pop: Population, hist: History, d: int) -> pl.DataFrame:
    p = np.flatnonzero((pop.p_hh >= 0) & (hist.p_roster_end > d))
    h = pop.p_hh[p]
    changed = hist.p_disab_day[p] <= d
    disab = np.where(changed, hist.p_disab_new[p], pop.p_disab[p])
    ability = np.where(changed, hist.p_ability_new[p], pop.p_ability[p])
    age = age_years(pop.p_birth[p], d)
    school = school_stage(age, pop.p_edu[p])
    override = pop.p_school_override[p]
    school = np.where(override != "", override, school)
    towns = np.array([t.official_name for t in pop.townships])
    phone = np.where((pop.p_rel[p] <= 1), pop.h_phone[h], "")
    return pl.DataFrame(
        {
            "_h": h,
            "_p": p,
            "name": pop.p_name[p].astype(str),
            "sex": np.where(pop.p_male[p], "男", "女"),
            "birth_date": pop.p_birth[p],
            "relation_to_head": np.array(RELATIONS)[pop.p_rel[p]],
            "residence_type": np.array(RESIDENCE)[pop.p_res[p]],
            "township": towns[pop.h_town[h]],
            "village": pop.h_village[h].astype(str),
            "address": pop.h_address[h].astype(str),
            "phone": phone.astype(str),
            "work_ability": np.array(ABILITY)[ability],
            "disability_grade": np.array(DISABILITY)[disab],
            "school_stage": school,
        }
    )


def assistance_snapshot(hist: History, d: int, seed: int) -> pl.DataFrame:
    a = hist.tables["assistance"]
    if a.height == 0:
        return _empty_typed("mz_assistance").drop("_date", "_key")
    changes = hist.assistance_amounts.filter(pl.col("day") <= d).sort("day").group_by("_rec").last()
    a = (  # each record's amount as its latest review on or before d set it
        a.with_row_index("_rec")
        .with_columns(pl.col("_rec").cast(pl.Int64))
        .filter(pl.col("start_date") <= d)
        .join(changes.select("_rec", pl.col("monthly_amount").alias("_reviewed")), on="_rec", how="left")
        .with_columns(pl.coalesce("_reviewed", "monthly_amount").alias("monthly_amount"))
    )
    end = a["end_date"].to_numpy()
    ended = end <= d
    rng = np.random.default_rng(seed)
    status = np.where(ended, np.where(rng.random(a.height) < 0.15, "停保", "终止"), "在保")
    cat = a["category"].to_numpy()
    lvl = a["care_level"].to_numpy()
    mode = a["support_mode"].to_numpy()
    money = lambda c: a.select((pl.col(c).fill_nan(None) * 100).round().cast(pl.Int64)).to_series()  # noqa: E731
    return pl.DataFrame(
        {
            "_h": a["_h"],
            "_p": a["_p"],
            "category": np.array(CATEGORIES)[cat],
            "start_date": a["start_date"],
            "end_date": pl.Series(or_none(ended, end), dtype=pl.Int64),
            "monthly_amount": money("monthly_amount"),
            "basic_living": money("basic_living"),
            "care_allowance": money("care_allowance"),
            "care_level": pl.Series(
                or_none(lvl >= 0, np.array(CARE_LEVELS, dtype=object)[np.maximum(lvl, 0)]),
                dtype=pl.String,
            ),
            "support_mode": pl.Series(
                or_none(mode >= 0, np.array(SUPPORT_MODES, dtype=object)[np.maximum(mode, 0)]),
                dtype=pl.String,
            ),
            "status": status,
        }
    ).sort("_h", "_p", "start_date")


# ---------------------------------------------------------------------------------------------
# canonical text


def to_text(feed: str, df: pl.DataFrame, pop: Population) -> pl.DataFrame:
    """Every spec column as the text a tidy export would hold, plus helper columns
    _id18 (the true ID), _born19xx (a 15-digit form exists) and _prot (planted: keep clean)."""
    spec = feeds()[feed]
    n = df.height
    p = df["_p"].to_numpy() if "_p" in df.columns else np.full(n, -1)
    h = df["_h"].to_numpy() if "_h" in df.columns else np.where(p >= 0, pop.p_hh[np.maximum(p, 0)], -1)
    s = lambda arr: pl.Series(np.asarray(arr).astype(str).tolist(), dtype=pl.String)  # noqa: E731
    ids = np.where(p >= 0, pop.p_id[np.maximum(p, 0)], "")
    cols = {}
    for c in spec.columns:
        f = c.field
        if c.type == "id":
            cols[c.name] = s(ids)
        elif f == "household_id":
            cols[c.name] = s(np.where(h >= 0, pop.h_id[np.maximum(h, 0)], ""))
        elif f == "name" and f not in df.columns:
            cols[c.name] = s(np.where(p >= 0, pop.p_name[np.maximum(p, 0)], ""))
        elif f not in df.columns:
            cols[c.name] = pl.Series([None] * n, dtype=pl.String)
        elif c.type == "date":
            cols[c.name] = df.select(pl.from_epoch(pl.col(f), "d").dt.strftime("%Y-%m-%d")).to_series()
        elif c.type == "money":
            cols[c.name] = df.select(_money_text(pl.col(f))).to_series()
        else:
            cols[c.name] = df[f].cast(pl.String)
    born = pop.p_birth[np.maximum(p, 0)].astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
    return pl.DataFrame(cols).with_columns(
        _id18=s(ids),
        _born19xx=pl.Series((p >= 0) & (born < 2000), dtype=pl.Boolean),
        _prot=df["_prot"] if "_prot" in df.columns else pl.Series(np.zeros(n, bool)),
    )


def _money_text(e: pl.Expr) -> pl.Expr:
    """cents -> '1234.50' (negative on reversal rows), null stays null."""
    a = e.abs()
    return (
        pl.when(e.is_null())
        .then(None)
        .otherwise(
            pl.concat_str(
                [
                    pl.when(e < 0).then(pl.lit("-")).otherwise(pl.lit("")),
                    (a // 100).cast(pl.String),
                    pl.lit("."),
                    (a % 100).cast(pl.String).str.zfill(2),
                ]
            )
        )
    )
