"""Month-by-month life of the county, vectorised over all persons per month.

The loop is over months only. Each month: deaths, household shocks (serious
illness, job loss, death of an earner, disability), re-employment, applications
for assistance (some shocked households apply 1-6 months later, some never; a
few unshocked ones apply too), verifications and entries, then the month's
settlements, insurance rows and petitions. Records are kept as numeric tables
(person / household indices, day numbers, cents); ``delivery`` turns them into
the departments' files.

Planted households (and planted outsiders) take part only in the routine:
settlements and insurance rows that follow from their designed state. They get
no random event, so the planted rule cases stay exactly as designed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from tqdm import tqdm

from jiuzhu.policy import Policy

from . import vocab
from .population import (
    EMPLOYEE,
    FARMER,
    HOMEMAKER,
    NO_INCOME,
    RETIRED_EMPLOYEE,
    RETIRED_RESIDENT,
    SELF_EMPLOYED,
    UNEMPLOYED,
    Population,
)
from .rates import HistoryRates
from .spec import values
from .timeline import Timeline, age_years

NEVER = np.iinfo(np.int64).max // 4

VISITS = values("yb_settlements", "visit_type", "普通门诊", "门诊慢特病", "住院")
INSURANCE = values("rs_insurance", "insurance_type", "职工养老", "居民养老", "失业保险")
BENEFITS = values("rs_insurance", "benefit_type", "无", "养老金", "失业保险金")
REGISTRATIONS = values("rs_employment", "registration_type", "失业登记", "就业登记", "就业困难人员认定")
RESULTS = values("mz_verification", "verification_result", "符合", "不符合", "待定")
CATEGORIES = values("mz_assistance", "category", "城市低保", "农村低保", "特困供养", "低保边缘", "临时救助", "孤儿")
CARE_LEVELS = values("mz_assistance", "care_level", "全自理", "半护理", "全护理")
SUPPORT_MODES = values("mz_assistance", "support_mode", "集中", "分散")
PETITION_CATS = values("xf_petitions", "petition_category")
URBAN_DIBAO, RURAL_DIBAO, TEKUN, EDGE, TEMPORARY, ORPHAN = range(6)
ILLNESSES = vocab.SERIOUS_ILLNESSES + vocab.CHRONIC_ILLNESSES + vocab.RARE_ILLNESSES
N_SERIOUS, N_CHRONIC = len(vocab.SERIOUS_ILLNESSES), len(vocab.CHRONIC_ILLNESSES)
# 孤儿 basic allowance (元/month); not a number the county policy file carries
ORPHAN_MONTHLY = 1500.0


class Recorder:
    """Append numpy columns per table; one polars frame per table at the end."""

    def __init__(self) -> None:
        self.parts: dict[str, list[dict]] = {}
        self.sizes: dict[str, int] = {}

    def add(self, table: str, **cols) -> np.ndarray:
        n = len(next(iter(cols.values())))
        start = self.sizes.get(table, 0)
        if n:
            self.parts.setdefault(table, []).append(
                {k: np.broadcast_to(np.asarray(v), (n,)).copy() for k, v in cols.items()}
            )
            self.sizes[table] = start + n
        return np.arange(start, start + n)

    def frame(self, table: str) -> pl.DataFrame:
        parts = self.parts.get(table, [])
        if not parts:
            return pl.DataFrame()
        cols = {}
        for k in parts[0].keys():
            v = np.concatenate([p[k] for p in parts])
            cols[k] = pl.Series(k, v.tolist(), dtype=pl.String) if v.dtype == object else pl.Series(k, v)
        return pl.DataFrame(cols)


@dataclass
class History:
    tables: dict[str, pl.DataFrame]
    p_death: np.ndarray
    p_roster_end: np.ndarray  # day the person leaves the roster (after a death, with the bureau's lag)
    p_disab_day: np.ndarray  # day a new disability grade applies (NEVER if none)
    p_disab_new: np.ndarray
    p_ability_new: np.ndarray
    events: pl.DataFrame
    facilities: np.ndarray
    employers: np.ndarray = field(default_factory=lambda: np.array(vocab.EMPLOYERS, dtype=object))
    # 低保 amounts set again by an annual review: (_rec: the record's row in tables["assistance"], day, amount)
    assistance_amounts: pl.DataFrame = field(default_factory=lambda: _amounts([]))


def _amounts(changes: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pl.DataFrame:
    """The amount changes (record, day, amount) collected over the months as one frame."""
    columns = {"_rec": np.int64, "day": np.int64, "monthly_amount": float}
    return pl.DataFrame(
        {
            name: np.concatenate([c[i] for c in changes]).astype(kind) if changes else np.array([], kind)
            for i, (name, kind) in enumerate(columns.items())
        }
    )


def dibao_amount(std, pc, minimum: float, unit: float) -> np.ndarray:
    """低保金 per person a month as the bureau pays it (policy file, payments): the standard less the
    verified per-capita income, rounded half up to ``unit``, at least ``minimum``."""
    return np.maximum(np.floor((np.asarray(std) - np.asarray(pc)) / unit + 0.5) * unit, minimum)


def at_least(x, unit: float) -> np.ndarray:
    """A 特困 amount the policy sets as a floor, rounded up to ``unit`` (1.3 × 680 is 884, not 885)."""
    return np.ceil(np.round(np.asarray(x, dtype=float) / unit, 6)) * unit


def _cents(x) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float) * 100).astype(np.int64)


def simulate(
    pop: Population,
    tl: Timeline,
    rates: HistoryRates,
    policy: Policy,
    rng: np.random.Generator,
    protected_persons: np.ndarray,
    progress: bool = True,
) -> History:
    st = policy.standards
    std_urban, std_rural = float(st.dibao_standard_urban), float(st.dibao_standard_rural)
    min_wage = float(st.minimum_wage)
    tekun_mult = float(policy.compliance.tekun_basic_multiple)
    care_share = policy.compliance.care_share_of_minimum_wage
    edge_mult = float(policy.rules.dibao_edge_multiple)
    temp_lo, temp_hi = policy.measures.temporary_assistance_serious_illness
    pay_min, pay_unit = float(policy.payments.dibao_minimum_per_person), float(policy.payments.round_to)

    P, H = pop.n_persons, pop.n_households
    rec = Recorder()
    roster = pop.p_hh >= 0
    hh = np.where(roster, pop.p_hh, 0)
    quiet_p = protected_persons | (roster & pop.h_planted[hh])  # no random events for these
    quiet_h = pop.h_planted.copy()
    h_std = np.where(pop.h_res == 0, std_urban, std_rural)

    alive = np.ones(P, bool)
    death = np.full(P, NEVER, np.int64)
    econ = pop.p_econ.copy()
    income = pop.p_income.astype(float).copy()
    base = pop.p_base.astype(float).copy()
    ub_left = np.zeros(P, np.int16)
    ill_month = np.full(P, -999, np.int32)
    # A serious illness is diagnosed 1-3 months after it starts; meanwhile the patient sees
    # doctors more often (work-up visits). A job loss follows 1-2 months of a struggling
    # employer not paying contributions. These are the signals that precede an application.
    ill_due = np.full(P, -1, np.int32)
    job_due = np.full(P, -1, np.int32)
    disab_day = np.full(P, NEVER, np.int64)
    disab_new = pop.p_disab.copy()
    ability_new = pop.p_ability.copy()
    unemp_reg = np.full(P, -1, np.int64)
    emp_reg = np.full(P, -1, np.int64)
    dereg: list[tuple[np.ndarray, np.ndarray]] = []
    p_on = np.full(P, -1, np.int64)  # index of the person's active dibao/tekun/edge record
    h_on = np.full(H, -1, np.int8)  # household's category while on assistance
    h_apply_at = np.full(H, -1, np.int32)
    h_shock = np.full(H, "", dtype=object)
    h_shock_month = np.full(H, -999, np.int32)
    assist_end: list[tuple[np.ndarray, np.ndarray]] = []
    amount_changes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (record, day, amount)
    ub_amount = round(0.9 * min_wage)  # 失业保险金: 90 % of the minimum wage (Shandong practice)

    town_names = [t.official_name for t in pop.townships]
    facilities = np.array(
        list(vocab.FACILITIES_COUNTY)
        + [f"{n}{'社区卫生服务中心' if t.kind == '街道' else '卫生院'}" for n, t in zip(town_names, pop.townships)],
        dtype=object,
    )
    n_county = len(vocab.FACILITIES_COUNTY)

    def events(h, p, name, days):
        h = np.asarray(h)
        rec.add("events", _h=h, _p=np.asarray(p), event=np.full(len(h), name, dtype=object), date=np.asarray(days))

    def household_income():
        live = roster & alive
        inc = np.bincount(hh[live], weights=income[live] + np.where(ub_left[live] > 0, ub_amount, 0), minlength=H)
        size = np.bincount(hh[live], minlength=H)
        return inc + pop.h_other_income * (size > 0), size

    def add_assistance(h_sel, cat_of_h, start_day, pc, members_alive):
        """One record per living member of each household in h_sel, paid by the policy's formula from the
        per-capita income ``pc`` (per household): what the verification found, or for households on the
        rolls before the history starts, what they had."""
        pm = np.flatnonzero(members_alive & np.isin(hh, h_sel) & roster)
        if len(pm) == 0:
            return
        hsel_index = np.full(H, -1, np.int64)
        hsel_index[h_sel] = np.arange(len(h_sel))
        k = hsel_index[hh[pm]]
        cat = cat_of_h[k]
        std = h_std[hh[pm]]
        level = np.where(
            (disab_new[pm] >= 1) & (disab_new[pm] <= 2),
            2,
            np.where(age_years(pop.p_birth[pm], start_day[k]) >= 80, 1, 0),
        )
        level = np.where(cat == TEKUN, level, -1)
        share = np.array([care_share[c] for c in CARE_LEVELS])
        basic = np.where(cat == TEKUN, at_least(tekun_mult * std, pay_unit), np.nan)
        care = np.where(cat == TEKUN, at_least(share[np.maximum(level, 0)] * min_wage, pay_unit), np.nan)
        amount = np.select(
            [(cat == URBAN_DIBAO) | (cat == RURAL_DIBAO), cat == TEKUN, cat == ORPHAN],
            [dibao_amount(std, pc[hh[pm]], pay_min, pay_unit), basic + care, ORPHAN_MONTHLY],
            np.nan,
        )
        idx = rec.add(
            "assistance",
            _h=hh[pm],
            _p=pm,
            category=cat,
            start_date=start_day[k],
            end_date=np.full(len(pm), NEVER),
            monthly_amount=amount,
            basic_living=basic,
            care_allowance=care,
            care_level=level,
            support_mode=np.where(cat == TEKUN, np.where(rng.random(len(pm)) < 0.15, 0, 1), -1),
        )
        p_on[pm] = idx
        h_on[hh[pm]] = cat

    # ---- the state when the history starts -------------------------------------------
    start = tl.start_day
    inc0, size0 = household_income()
    pc0 = inc0 / np.maximum(size0, 1)
    poor = (pc0 < h_std) & ~quiet_h
    single_weak = (size0 == 1) & np.bincount(
        hh[roster],
        weights=((age_years(pop.p_birth, start) >= 60) | (pop.p_disab == 1) | (pop.p_disab == 2))[roster],
        minlength=H,
    ).astype(bool)
    enrol = poor & (rng.random(H) < rates.initially_enrolled)
    cat_h = np.where(single_weak & (rng.random(H) < 0.8), TEKUN, np.where(pop.h_res == 0, URBAN_DIBAO, RURAL_DIBAO))
    edge = (pc0 >= h_std) & (pc0 < edge_mult * h_std) & ~quiet_h & (rng.random(H) < 0.3)
    cat_h = np.where(edge, EDGE, cat_h)
    sel = np.flatnonzero(enrol | edge)
    add_assistance(sel, cat_h[sel], start - rng.integers(60, 3000, len(sel)), pc0, alive)
    # orphans raised by grandparents
    orphan = np.flatnonzero(roster & (pop.p_rel == 4) & ~quiet_p & (rng.random(P) < 0.25))
    if len(orphan):
        o_start = np.maximum(start - rng.integers(100, 2500, len(orphan)), pop.p_birth[orphan] + 30)
        y18 = pop.p_birth[orphan] + 18 * 365 + 5
        rec.add(
            "assistance",
            _h=hh[orphan],
            _p=orphan,
            category=ORPHAN,
            start_date=o_start,
            end_date=np.where(y18 < tl.as_of_day - 1, y18, NEVER),
            monthly_amount=ORPHAN_MONTHLY,
            basic_living=np.nan,
            care_allowance=np.nan,
            care_level=-1,
            support_mode=-1,
        )
    # registrations already open when the history starts
    u0 = np.flatnonzero((econ == UNEMPLOYED) & ~quiet_p & (rng.random(P) < 0.6))
    unemp_reg[u0] = rec.add(
        "registrations",
        _p=u0,
        registration_type=0,
        registration_date=start - rng.integers(20, 700, len(u0)),
        deregistration_date=NEVER,
        employer=-1,
    )
    e0 = np.flatnonzero((econ == EMPLOYEE) & ~quiet_p & (rng.random(P) < 0.12))
    emp_reg[e0] = rec.add(
        "registrations",
        _p=e0,
        registration_type=1,
        registration_date=start - rng.integers(20, 700, len(e0)),
        deregistration_date=NEVER,
        employer=rng.integers(0, len(vocab.EMPLOYERS), len(e0)),
    )
    # chronic illnesses get registered at some point of the history
    chronic_month = np.where(pop.p_chronic, rng.integers(0, len(tl) * 3, P), -1)  # a third within the history

    # illnesses that started before the history and are diagnosed in its first months
    adults0 = roster & ~quiet_p & (age_years(pop.p_birth, start) >= 18)
    early = np.flatnonzero(adults0 & (rng.random(P) < 2 * rates.illness * H / max(adults0.sum(), 1)))
    ill_due[early] = rng.integers(0, 3, len(early))

    months = tqdm(tl.months, desc="synth months", unit="month", disable=not progress, leave=False)
    for mo in months:
        m = mo.index
        ndays = mo.last - mo.start + 1
        alive_start = alive.copy()
        age = age_years(pop.p_birth, mo.start)

        # ---- background mortality ---------------------------------------------------
        q = np.clip(np.exp(-9.9 + 0.087 * age) * rates.mortality_scale / 12, 0, 0.2)
        dies = alive & ~quiet_p & (rng.random(P) < q)
        # ---- household shocks -------------------------------------------------------
        live_r = alive & roster & ~quiet_p
        u = rng.random(P)

        def pick(cand_p, h_mask, weight=None, u=u):  # u: this month's draws (bound here, called within the month)
            """One random candidate member per household selected in h_mask (more likely the heavier)."""
            c = np.flatnonzero(cand_p & h_mask[hh])
            if len(c) == 0:
                return c
            key = u[c] if weight is None else -(u[c] ** (1.0 / weight[c]))  # weighted sampling by exponent keys
            order = np.lexsort((key, hh[c]))
            c = c[order]
            first = np.r_[True, hh[c][1:] != hh[c][:-1]]
            return c[first]

        active_h = ~quiet_h & (np.bincount(hh[live_r], minlength=H) > 0)
        has_emp = np.bincount(hh[live_r & (econ == EMPLOYEE)], minlength=H) > 0
        earner = live_r & np.isin(econ, (EMPLOYEE, FARMER, SELF_EMPLOYED)) & (age >= 16) & (age <= 59)
        has_earner = np.bincount(hh[earner], minlength=H) > 0
        hr = rng.random((4, H))
        # serious illness is likelier with age and with a chronic condition
        frail = np.where(live_r & (age >= 18), 1.0 + 1.2 * (age >= 50) + 1.2 * (age >= 65) + 1.5 * pop.p_chronic, 0.0)
        h_frail = np.bincount(hh[live_r], weights=frail[live_r], minlength=H)
        ill_hazard = rates.illness * h_frail / max(h_frail[active_h].mean(), 1e-9) if active_h.any() else 0.0
        shock_ill = active_h & (hr[0] < ill_hazard)
        shock_job = active_h & has_emp & (hr[1] < rates.job_loss) & ~shock_ill
        shock_death = active_h & has_earner & (hr[2] < rates.earner_death) & ~shock_ill & ~shock_job
        shock_dis = active_h & (hr[3] < rates.disability) & ~shock_ill & ~shock_job & ~shock_death

        onset = pick(live_r & (age >= 18) & ~dies & (ill_due < 0), shock_ill, weight=np.maximum(frail, 1e-9))
        ill_due[onset] = m + rng.integers(1, 4, len(onset))
        ill = np.flatnonzero((ill_due == m) & alive & ~dies)
        ill_due[ill] = -1
        d_ill = tl.random_days(rng, m, len(ill))
        ill_month[ill] = m
        if len(ill):
            which = rng.integers(0, N_SERIOUS, len(ill))
            rec.add(
                "diagnoses", _p=ill, diagnosis_date=d_ill, illness=which, facility=rng.integers(0, n_county, len(ill))
            )
            stop = ill[np.isin(econ[ill], (EMPLOYEE, FARMER, SELF_EMPLOYED)) & (rng.random(len(ill)) < 0.5)]
            econ[stop], income[stop], base[stop] = NO_INCOME, 0.0, 0.0
            events(hh[ill], ill, "illness", d_ill)

        arrears = pick(live_r & (econ == EMPLOYEE) & ~dies & (job_due < 0), shock_job)
        job_due[arrears] = m + rng.integers(1, 3, len(arrears))
        lost = np.flatnonzero((job_due == m) & alive & ~dies & (econ == EMPLOYEE))
        job_due[job_due == m] = -1
        d_lost = tl.random_days(rng, m, len(lost))
        if len(lost):
            econ[lost], income[lost], base[lost] = UNEMPLOYED, 0.0, 0.0
            had = emp_reg[lost] >= 0
            dereg.append((emp_reg[lost][had], d_lost[had]))
            emp_reg[lost] = -1
            reg = rng.random(len(lost)) < rates.register_unemployed
            r_day = np.minimum(d_lost + rng.integers(0, 20, len(lost)), mo.last)
            unemp_reg[lost[reg]] = rec.add(
                "registrations",
                _p=lost[reg],
                registration_type=0,
                registration_date=r_day[reg],
                deregistration_date=NEVER,
                employer=-1,
            )
            hard = reg & ((age[lost] >= 45) | (disab_new[lost] > 0)) & (rng.random(len(lost)) < 0.4)
            rec.add(
                "registrations",
                _p=lost[hard],
                registration_type=2,
                registration_date=r_day[hard],
                deregistration_date=NEVER,
                employer=-1,
            )
            ub_left[lost] = np.where(
                rng.random(len(lost)) < rates.unemployment_benefit, rng.integers(3, 13, len(lost)), 0
            )
            events(hh[lost], lost, "job_loss", d_lost)

        dead_earner = pick(earner & ~dies, shock_death)
        dies[dead_earner] = True

        dis = pick(live_r & (age >= 16) & ~dies & (disab_new == 0), shock_dis)
        d_dis = tl.random_days(rng, m, len(dis))
        if len(dis):
            grade = rng.choice([1, 2, 3, 4], size=len(dis), p=[0.2, 0.3, 0.25, 0.25])
            disab_new[dis], disab_day[dis] = grade, d_dis
            ability_new[dis] = np.where(grade <= 2, 2, np.maximum(ability_new[dis], 1))
            stop = dis[(grade <= 2) & np.isin(econ[dis], (EMPLOYEE, FARMER, SELF_EMPLOYED))]
            econ[stop], income[stop], base[stop] = NO_INCOME, 0.0, 0.0
            events(hh[dis], dis, "disability", d_dis)

        # ---- deaths (background and earners) ----------------------------------------
        dead = np.flatnonzero(dies)
        d_dead = tl.random_days(rng, m, len(dead))
        alive[dead] = False
        death[dead] = d_dead
        if len(dead):
            rec.add("deaths", _p=dead, death_date=d_dead)
            is_earner = np.isin(dead, dead_earner)
            r = roster[dead]
            events(hh[dead[r & is_earner]], dead[r & is_earner], "earner_death", d_dead[r & is_earner])
            events(hh[dead[r & ~is_earner]], dead[r & ~is_earner], "death", d_dead[r & ~is_earner])
            # registrations close, assistance ends after the bureau hears of it
            for register in (unemp_reg, emp_reg):
                k = register[dead] >= 0
                dereg.append((register[dead][k], d_dead[k] + rng.integers(5, 60, k.sum())))
                register[dead] = -1
            k = p_on[dead] >= 0
            assist_end.append((p_on[dead][k], d_dead[k] + rng.integers(20, 110, k.sum())))
            p_on[dead] = -1
            ub_left[dead] = 0

        # who applies, and when
        shocked_h = np.zeros(H, bool)
        for name, sel in (("illness", ill), ("job_loss", lost), ("earner_death", dead_earner), ("disability", dis)):
            shocked_h[hh[sel]] = True
            h_shock[hh[sel]] = name
            h_shock_month[hh[sel]] = m
        inc, size = household_income()
        pc = inc / np.maximum(size, 1)
        needy = pc < edge_mult * h_std
        p_apply = np.where(needy | (h_shock == "illness"), rates.apply_after_shock, rates.apply_after_shock * 0.2)
        go = shocked_h & (h_on < 0) & (h_apply_at < m) & (rng.random(H) < p_apply)
        h_apply_at[go] = m + rng.integers(1, 7, go.sum())
        free = ~quiet_h & (h_on < 0) & (h_apply_at < m) & (size > 0)
        go = free & (
            ((pc < h_std) & (rng.random(H) < rates.apply_poor_unshocked)) | (rng.random(H) < rates.apply_random)
        )
        h_apply_at[go] = m

        # ---- re-employment ------------------------------------------------------------
        back = np.flatnonzero(
            alive & ~quiet_p & (econ == UNEMPLOYED) & (age < 60) & (rng.random(P) < rates.reemployment)
        )
        if len(back):
            d_back = tl.random_days(rng, m, len(back))
            wage = np.clip(3800 * rng.lognormal(0, 0.3, len(back)), min_wage, 30000)
            econ[back], income[back], base[back] = EMPLOYEE, np.round(wage), np.clip(np.round(wage, -2), 3300, 25000)
            k = unemp_reg[back] >= 0
            dereg.append((unemp_reg[back][k], d_back[k]))
            unemp_reg[back] = -1
            ub_left[back] = 0
            reg = rng.random(len(back)) < 0.7
            emp_reg[back[reg]] = rec.add(
                "registrations",
                _p=back[reg],
                registration_type=1,
                registration_date=d_back[reg],
                deregistration_date=NEVER,
                employer=rng.integers(0, len(vocab.EMPLOYERS), reg.sum()),
            )
            r = roster[back]
            events(hh[back[r]], back[r], "re_employed", d_back[r])

        # ---- applications due this month: verification, then (maybe) entry ----------------
        inc, size = household_income()
        pc = inc / np.maximum(size, 1)
        due = np.flatnonzero((h_apply_at == m) & (size > 0) & (h_on < 0))
        d_app = mo.start + (rng.random(len(due)) * max(ndays - 8, 1)).astype(int)
        d_ver = np.minimum(d_app + rng.integers(1, 8, len(due)), mo.last)
        events(due, -1, "applied", d_app)
        result, found_pc = _verify(rec, rng, due, d_ver, inc, size, pc, h_std, edge_mult, assets_scale=1.0)
        next_start = tl.months[m + 1].start if m + 1 < len(tl) else None
        ok = due[result == 0]
        if next_start is not None and len(ok):
            verified = np.zeros(H)  # what the bureau found decides the programme and pays
            verified[due] = found_pc
            cat = np.where(
                verified[ok] < h_std[ok],
                np.where(
                    single_weak_now(ok, size, pop, age, disab_new, ability_new, roster, alive, hh),
                    TEKUN,
                    np.where(pop.h_res[ok] == 0, URBAN_DIBAO, RURAL_DIBAO),
                ),
                EDGE,
            )
            add_assistance(ok, cat, np.full(len(ok), next_start), verified, alive)
            for c, name in (
                (URBAN_DIBAO, "entered_dibao"),
                (RURAL_DIBAO, "entered_dibao"),
                (TEKUN, "entered_tekun"),
                (EDGE, "entered_dibao_edge"),
            ):
                s = cat == c
                events(ok[s], -1, name, np.full(s.sum(), next_start))
        # one-off help after a serious illness
        sick = due[
            (h_shock[due] == "illness")
            & (m - h_shock_month[due] <= 7)
            & (rng.random(len(due)) < rates.temporary_after_illness)
        ]
        if len(sick):
            heads = _head_of(sick, roster & alive, hh, pop.p_rel)
            have = heads >= 0
            sick, heads = sick[have], heads[have]
            d_t = np.minimum(d_ver[np.searchsorted(due, sick)] + rng.integers(2, 12, len(sick)), mo.last)
            amt = std_urban * rng.integers(int(temp_lo), int(temp_hi) + 1, len(sick))
            rec.add(
                "assistance",
                _h=sick,
                _p=heads,
                category=TEMPORARY,
                start_date=d_t,
                end_date=d_t,
                monthly_amount=amt,
                basic_living=np.nan,
                care_allowance=np.nan,
                care_level=-1,
                support_mode=-1,
            )
            events(sick, heads, "temporary_assistance", d_t)

        # ---- annual reviews of assisted households, and a few other checks --------------------
        on = (h_on >= 0) & (size > 0) & ~quiet_h
        review = np.flatnonzero(on & (rng.random(H) < rates.review_assisted))
        other = np.flatnonzero(
            ~quiet_h & (h_on < 0) & (h_apply_at != m) & (size > 0) & (rng.random(H) < rates.verify_random)
        )
        chk = np.concatenate([review, other])
        d_chk = tl.random_days(rng, m, len(chk))
        _, chk_pc = _verify(rec, rng, chk, d_chk, inc, size, pc, h_std, edge_mult, assets_scale=1.0)
        leave = review[
            (pc[review] >= 1.2 * h_std[review])
            & (h_on[review] != EDGE)
            & (rng.random(len(review)) < rates.dibao_exit * 4)
        ]
        if len(leave):
            d_leave = d_chk[: len(review)][np.isin(review, leave)] + rng.integers(15, 60, len(leave))
            pm = np.flatnonzero(np.isin(hh, leave) & roster & (p_on >= 0))
            end_of_h = np.full(H, NEVER, np.int64)
            end_of_h[leave] = d_leave
            assist_end.append((p_on[pm], end_of_h[hh[pm]]))
            p_on[pm] = -1
            h_on[leave] = -1
            events(leave, -1, "exited_assistance", d_leave)
        # a 低保 household that stays is paid what its review found, from the review's day
        stay = np.isin(h_on[review], (URBAN_DIBAO, RURAL_DIBAO)) & ~np.isin(review, leave)
        stay &= chk_pc[: len(review)] < h_std[review]
        if stay.any():
            found_of_h, day_of_h = np.zeros(H), np.zeros(H, np.int64)
            found_of_h[review[stay]], day_of_h[review[stay]] = chk_pc[: len(review)][stay], d_chk[: len(review)][stay]
            pm = np.flatnonzero(np.isin(hh, review[stay]) & roster & alive & (p_on >= 0))
            h_pm = hh[pm]
            amount_changes.append(
                (p_on[pm], day_of_h[h_pm], dibao_amount(h_std[h_pm], found_of_h[h_pm], pay_min, pay_unit))
            )
        # a household whose last recipient died is no longer on assistance
        h_on[(h_on >= 0) & (np.bincount(hh[roster & (p_on >= 0)], minlength=H) == 0)] = -1

        # ---- the month's routine: settlements, insurance, diagnoses, petitions ---------------
        _settlements(
            rec,
            rng,
            tl,
            m,
            pop,
            alive_start,
            death,
            age,
            ill_month,
            ill_due > m,
            p_on,
            facilities,
            n_county,
            rates,
            econ,
        )
        _insurance(
            rec,
            rng,
            m,
            mo,
            alive_start,
            econ,
            base,
            income,
            pop,
            ub_left,
            ub_amount,
            age,
            unpaid=(job_due > m) & (rng.random(P) < 0.7),
            means=np.where(roster, pc[hh] / h_std[hh], 2.0),
        )
        ub_left[ub_left > 0] -= 1
        chron = np.flatnonzero((chronic_month == m) & alive)
        if len(chron):
            rec.add(
                "diagnoses",
                _p=chron,
                diagnosis_date=tl.random_days(rng, m, len(chron)),
                illness=N_SERIOUS + rng.integers(0, N_CHRONIC, len(chron)),
                facility=rng.integers(0, len(facilities), len(chron)),
            )
        rare = np.flatnonzero(alive & ~quiet_p & (rng.random(P) < 0.00001))
        if len(rare):
            rec.add(
                "diagnoses",
                _p=rare,
                diagnosis_date=tl.random_days(rng, m, len(rare)),
                illness=N_SERIOUS + N_CHRONIC + rng.integers(0, len(vocab.RARE_ILLNESSES), len(rare)),
                facility=rng.integers(0, n_county, len(rare)),
            )
        _petitions(
            rec,
            rng,
            tl,
            m,
            pop,
            alive,
            roster,
            quiet_p,
            hh,
            shocked_h | (m - h_shock_month < 6),
            pc < h_std,
            rates,
            policy.rules.petition_categories,
        )

    # ---- close the books ----------------------------------------------------------------
    regs = _close(
        rec.frame("registrations"), "deregistration_date", dereg, tl.as_of_day, not_before="registration_date"
    )
    assist = _close(rec.frame("assistance"), "end_date", assist_end, tl.as_of_day)
    tables = {
        name: rec.frame(name)
        for name in ("settlements", "insurance", "verifications", "diagnoses", "deaths", "petitions")
    }
    tables["registrations"] = regs
    tables["assistance"] = assist
    roster_end = np.where(death < NEVER, death + rng.integers(15, 120, P), NEVER)
    ev = rec.frame("events")
    amounts = _amounts(amount_changes)
    return History(
        tables=tables,
        p_death=death,
        p_roster_end=roster_end,
        p_disab_day=disab_day,
        p_disab_new=disab_new,
        p_ability_new=ability_new,
        events=ev,
        facilities=facilities,
        assistance_amounts=amounts,
    )


def _close(
    frame: pl.DataFrame,
    column: str,
    updates: list[tuple[np.ndarray, np.ndarray]],
    as_of_day: int,
    not_before: str | None = None,
) -> pl.DataFrame:
    """End dates of records (row index, day) collected over the months: the earliest wins, never
    before ``not_before``; an end on or after the as-of day is not known yet (open)."""
    if not updates or not frame.height:
        return frame
    idx = np.concatenate([u[0] for u in updates]).astype(np.int64)
    days = np.concatenate([u[1] for u in updates]).astype(np.int64)
    end = frame[column].to_numpy().copy()
    end[idx] = np.minimum(end[idx], days)
    if not_before is not None:
        start = frame[not_before].to_numpy()
        end = np.where(end < start, start, end)
    return frame.with_columns(pl.Series(column, np.where(end >= as_of_day, NEVER, end)))


def single_weak_now(h_sel, size, pop, age, disab, ability, roster, alive, hh):
    """Single-person households whose member is old, severely disabled or unable to work: 特困 candidates."""
    live = roster & alive
    weak = live & ((age >= 60) | ((disab >= 1) & (disab <= 2)) | (ability == 2))
    n_weak = np.bincount(hh[weak], minlength=len(size))
    return (size[h_sel] == 1) & (n_weak[h_sel] == 1)


def _head_of(h_sel, live, hh, rel):
    """A living member per household, the head if alive."""
    out = np.full(len(h_sel), -1, np.int64)
    pos = np.full(hh.max() + 1 if len(hh) else 1, -1, np.int64)
    pos[h_sel] = np.arange(len(h_sel))
    cand = np.flatnonzero(live & (pos[hh] >= 0))
    order = np.lexsort((rel[cand], hh[cand]))[::-1]  # later assignment wins: head (rel 0) last
    out[pos[hh[cand[order]]]] = cand[order]
    return out


def _verify(rec, rng, h_sel, days, inc, size, pc, h_std, edge_mult, assets_scale):
    """家庭经济状况核对: the household's income as the bureau finds it (±6 %), assets, conclusion.
    Returns the conclusions (0 符合) and the per-capita monthly income found, as the warehouse reads it
    (the annual income to the cent, over twelve months and the members, to the cent)."""
    n = len(h_sel)
    if n == 0:
        return np.array([], int), np.array([], float)
    found = inc[h_sel] * 12 * rng.lognormal(0, 0.06, n)
    pcf = np.round(np.round(found, 2) / 12 / np.maximum(size[h_sel], 1), 2)
    assets = np.round(rng.lognormal(np.log(8000), 1.2, n) * np.clip(pcf / h_std[h_sel], 0.2, 5) * assets_scale, 2)
    rich_assets = assets > 100_000
    result = np.where((pcf < edge_mult * h_std[h_sel]) & ~rich_assets, np.where(rng.random(n) < 0.92, 0, 2), 1)
    rec.add(
        "verifications",
        _h=h_sel,
        verification_date=days,
        household_size=size[h_sel],
        annual_income=np.round(found, 2),
        financial_assets=assets,
        vehicles=(rng.random(n) < np.clip(pcf / 5000, 0.02, 0.6)).astype(int),
        properties=rng.choice([0, 1, 1, 1, 2], size=n),
        verification_result=result,
    )
    return result, pcf


def _settlements(
    rec, rng, tl, m, pop, alive_start, death, age, ill_month, ill_pending, p_on, facilities, n_county, rates, econ
):
    P = pop.n_persons
    bucket = np.digitize(age, [16, 50, 65])
    lam = np.array(rates.outpatient_per_month)[bucket] + np.where(ill_pending, rates.workup_visits_per_month, 0.0)
    n_out = rng.poisson(lam) * alive_start
    since = m - ill_month
    p_in = np.where(
        (since >= 0) & (since <= 5),
        rates.inpatient_after_illness,
        np.where(
            (since > 5) & (since <= 11), rates.inpatient_after_illness / 3, np.array(rates.inpatient_per_month)[bucket]
        ),
    )
    n_in = ((rng.random(P) < p_in) | (since == 0)).astype(int) * alive_start
    n_chr = ((rng.random(P) < 0.7) & pop.p_chronic).astype(int) * alive_start
    who = np.concatenate(
        [np.repeat(np.arange(P), n_out), np.repeat(np.arange(P), n_chr), np.repeat(np.arange(P), n_in)]
    )
    kind = np.concatenate([np.zeros(n_out.sum(), int), np.ones(n_chr.sum(), int), np.full(n_in.sum(), 2)])
    n = len(who)
    if n == 0:
        return
    days = tl.random_days(rng, m, n)
    keep = days <= death[who]
    who, kind, days = who[keep], kind[keep], days[keep]
    n = len(who)
    seriously_ill = (m - ill_month[who] >= 0) & (m - ill_month[who] <= 11) & (kind == 2)
    workup = (kind == 0) & ill_pending[who] & (rng.random(n) < 0.6)  # tests and scans before the diagnosis
    total = np.select(
        [workup, kind == 0, kind == 1, seriously_ill],
        [
            rng.lognormal(np.log(900), 0.8, n),
            rng.lognormal(np.log(90), 0.9, n),
            rng.lognormal(np.log(450), 0.6, n),
            rng.lognormal(np.log(22000), 0.6, n),
        ],
        rng.lognormal(np.log(7000), 0.7, n),
    )
    total_c = _cents(np.clip(total, 5, 800_000))
    employee = np.isin(econ[who], (EMPLOYEE, RETIRED_EMPLOYEE))
    ratio = np.select([kind == 0, kind == 1], [np.where(employee, 0.6, 0.5), 0.65], np.where(employee, 0.72, 0.6))
    fund = np.round(total_c * ratio).astype(np.int64)
    remain = total_c - fund
    big = np.where(kind == 2, np.round(0.6 * np.maximum(remain - 1_500_000, 0)), 0).astype(np.int64)
    assisted = p_on[who] >= 0
    aid = np.where((kind == 2) & assisted, np.round(0.7 * (remain - big)), 0).astype(np.int64)
    oop = total_c - fund - big - aid
    # facilities: county hospitals for inpatients, the township's health centre otherwise
    fac = np.where(
        kind == 2,
        rng.integers(0, n_county, n),
        np.where(rng.random(n) < 0.7, n_county + pop.p_town[who], rng.integers(0, n_county, n)),
    )
    idx = rec.add(
        "settlements",
        _p=who,
        settlement_date=days,
        visit_type=kind,
        total_cost=total_c,
        fund_paid=fund,
        serious_illness_insurance_paid=big,
        medical_assistance_paid=aid,
        out_of_pocket=oop,
        facility=fac,
        reverses=np.full(n, -1, np.int64),
    )
    rev = rng.random(n) < rates.reversal
    r_day = days[rev] + rng.integers(0, 15, rev.sum())
    ok = r_day < tl.as_of_day
    sel = np.flatnonzero(rev)[ok]
    if len(sel):
        rec.add(
            "settlements",
            _p=who[sel],
            settlement_date=r_day[ok],
            visit_type=kind[sel],
            total_cost=-total_c[sel],
            fund_paid=-fund[sel],
            serious_illness_insurance_paid=-big[sel],
            medical_assistance_paid=-aid[sel],
            out_of_pocket=-oop[sel],
            facility=fac[sel],
            reverses=idx[sel],
        )


def _insurance(rec, rng, m, mo, alive_start, econ, base, income, pop, ub_left, ub_amount, age, unpaid, means):
    a = alive_start
    emp = np.flatnonzero(a & (econ == EMPLOYEE) & ~unpaid)  # a struggling employer falls behind on contributions
    ret = np.flatnonzero(a & (econ == RETIRED_EMPLOYEE))
    res_old = np.flatnonzero(a & (econ == RETIRED_RESIDENT))
    month_of_year = int(str(mo.yyyymm)[-2:]) - 1
    # 居民养老: residents pay once a year at a tier they choose; poorer households choose lower tiers or skip a year
    res_pay = np.flatnonzero(a & np.isin(econ, (FARMER, SELF_EMPLOYED, HOMEMAKER)) & (pop.p_pay_month == month_of_year))
    z = means[res_pay]
    res_pay = res_pay[rng.random(len(res_pay)) >= np.where(z < 1, 0.35, 0.05)]
    z = means[res_pay]
    ub = np.flatnonzero(a & (ub_left > 0))
    tiers = np.array([300, 500, 800, 1000, 1500, 2000])
    parts = [
        (emp, 0, base[emp], 0, 0.0),
        (emp, 2, base[emp], 0, 0.0),
        (ret, 0, 0.0, 1, pop.p_pension[ret]),
        (res_old, 1, 0.0, 1, pop.p_pension[res_old]),
        (
            res_pay,
            1,
            tiers[
                np.clip(np.floor(rng.normal(1.2 * np.log2(np.maximum(z, 0.1)) + 1.5, 1.2)), 0, len(tiers) - 1).astype(
                    int
                )
            ].astype(float),
            0,
            0.0,
        ),
        (ub, 2, 0.0, 2, float(ub_amount)),
    ]
    for p, t, b, bt, ba in parts:
        if len(p):
            rec.add(
                "insurance", _p=p, month=m, insurance_type=t, contribution_base=b, benefit_type=bt, benefit_amount=ba
            )


def _petitions(rec, rng, tl, m, pop, alive, roster, quiet_p, hh, troubled_h, poor_h, rates, rates_policy_categories):
    P = pop.n_persons
    heads = alive & ~quiet_p & ((pop.p_rel == 0) | ~roster)
    rate = np.where(
        roster,
        rates.petition_per_household_month * np.where(troubled_h[hh] | poor_h[hh], 6, 1),
        rates.petition_per_household_month / 2,
    )
    who = np.flatnonzero(heads & (rng.random(P) < rate))
    n = len(who)
    if n == 0:
        return
    hard = (troubled_h[hh[who]] | poor_h[hh[who]]) & roster[who]
    hard = np.where(hard, rng.random(n) < 0.7, rng.random(n) < 0.12)
    hardship_cats = np.array(values("xf_petitions", "petition_category", *rates_policy_categories))
    which_cat, u = rng.integers(0, len(hardship_cats), n), rng.random(n)
    # a share of hardship petitions has no hardship category (其他 or none): its words alone say it
    categorised = hard & (u >= rates.petition_hardship_uncategorised)
    cat = np.where(categorised, hardship_cats[which_cat], np.where(u < 0.8, "其他", ""))
    hardship_texts = np.array(vocab.PETITION_HARDSHIP + vocab.PETITION_HARDSHIP_PLAIN, dtype=object)
    text = np.where(
        hard,
        hardship_texts[rng.integers(0, len(hardship_texts), n)],
        np.array(vocab.PETITION_OTHER, dtype=object)[rng.integers(0, len(vocab.PETITION_OTHER), n)],
    )
    rec.add(
        "petitions",
        _p=who,
        registration_date=tl.random_days(rng, m, n),
        petition_form=rng.integers(0, 4, n),
        township=pop.p_town[who],
        petition_category=cat.astype(object),
        petition_text=text,
        handling_status=rng.integers(0, len(vocab.HANDLING_STATUS), n),
    )
