"""The county's people: households, members, and the economic state they start in.

Everything is built as numpy arrays over all persons at once. Townships come
from config/townships.csv (never the fallback 370725000); region codes of
people born elsewhere are the neighbouring counties'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from jiuzhu.config import FALLBACK_TOWNSHIP, load_townships

from . import vocab
from .ids import build_ids
from .timeline import Timeline

HOME_REGION = FALLBACK_TOWNSHIP[:6]  # 370725, 昌乐县
NEIGHBOUR_REGIONS = np.array(["370702", "370703", "370704", "370781", "370786", "370783", "370784", "370724"])
FAR_REGIONS = np.array(["370102", "370211", "371302", "410102", "230103", "130104", "340104", "650102"])

RELATIONS = ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他")
ABILITY = ("完全", "部分", "无")
DISABILITY = ("", "一级", "二级", "三级", "四级")
RESIDENCE = ("城镇", "农村")

# economic roles; income and insurance follow from them
(
    CHILD,
    STUDENT,
    EMPLOYEE,
    FARMER,
    SELF_EMPLOYED,
    UNEMPLOYED,
    HOMEMAKER,
    RETIRED_EMPLOYEE,
    RETIRED_RESIDENT,
    NO_INCOME,
) = range(10)
ECON_NAMES = (
    "child",
    "student",
    "employee",
    "farmer",
    "self_employed",
    "unemployed",
    "homemaker",
    "retired_employee",
    "retired_resident",
    "no_income",
)
EARNERS = (EMPLOYEE, FARMER, SELF_EMPLOYED)

# household types: (name, weight)
HOUSEHOLD_TYPES = (
    ("single_elderly", 0.10),
    ("elderly_couple", 0.14),
    ("couple", 0.12),
    ("nuclear", 0.34),
    ("three_generation", 0.13),
    ("single_adult", 0.10),
    ("single_parent", 0.04),
    ("skip_generation", 0.03),
)


@dataclass
class Population:
    # households
    h_id: np.ndarray
    h_town: np.ndarray  # index into ``townships``
    h_village: np.ndarray
    h_address: np.ndarray
    h_phone: np.ndarray
    h_res: np.ndarray  # 0 城镇, 1 农村 (the head's)
    h_type: np.ndarray
    h_other_income: np.ndarray  # support from relatives elsewhere, rent: 元/month
    h_planted: np.ndarray  # reserved for a planted rule case: no random events
    # persons (outsiders have p_hh == -1)
    p_hh: np.ndarray
    p_id: np.ndarray
    p_name: np.ndarray
    p_male: np.ndarray
    p_birth: np.ndarray  # day number
    p_rel: np.ndarray  # index into RELATIONS
    p_res: np.ndarray
    p_econ: np.ndarray
    p_income: np.ndarray  # 元/month from work or pension
    p_pension: np.ndarray  # 待遇金额 of a pensioner (part of p_income)
    p_base: np.ndarray  # 缴费基数 while employed
    p_ability: np.ndarray  # index into ABILITY
    p_disab: np.ndarray  # 0 none, 1..4
    p_edu: np.ndarray  # propensity to stay in school, 0..1
    p_chronic: np.ndarray
    p_town: np.ndarray  # township index (outsiders: where they live)
    p_pay_month: np.ndarray  # month of year 居民养老 is paid
    p_school_override: np.ndarray  # '' or a fixed 在校情况 (planted cases)
    townships: list = field(default_factory=list)

    @property
    def n_households(self) -> int:
        return len(self.h_id)

    @property
    def n_persons(self) -> int:
        return len(self.p_id)

    @property
    def in_roster(self) -> np.ndarray:
        return self.p_hh >= 0


def county_townships():
    return [t for t in load_townships() if t.code != FALLBACK_TOWNSHIP]


def _given_names(rng, male: np.ndarray) -> np.ndarray:
    n = len(male)
    m_chars = np.array(list(vocab.GIVEN_MALE))
    f_chars = np.array(list(vocab.GIVEN_FEMALE))
    first = np.where(male, m_chars[rng.integers(0, len(m_chars), n)], f_chars[rng.integers(0, len(f_chars), n)])
    second = np.where(male, m_chars[rng.integers(0, len(m_chars), n)], f_chars[rng.integers(0, len(f_chars), n)])
    two = rng.random(n) < 0.72
    return np.where(two, np.char.add(first, second), first)


def _surnames(rng, n: int) -> np.ndarray:
    s = np.array(list(vocab.SURNAMES))
    w = np.array(vocab.SURNAME_WEIGHTS)
    return s[rng.choice(len(s), size=n, p=w / w.sum())]


def _villages(rng, townships, n_households: int) -> list[np.ndarray]:
    """A fixed list of village/社区 names per township."""
    stems = np.array(list(vocab.VILLAGE_STEMS))
    out = []
    per_town = int(np.clip(n_households / max(len(townships), 1) / 120, 8, 60))
    for t in townships:
        suffixes = vocab.URBAN_SUFFIX if t.kind == "街道" else vocab.RURAL_SUFFIX
        names: list[str] = []
        seen = set()
        while len(names) < per_town:
            a, b = stems[rng.integers(0, len(stems), 2)]
            name = f"{a}{b}{suffixes[rng.integers(0, len(suffixes))]}"
            if a != b and name not in seen:
                seen.add(name)
                names.append(name)
        out.append(np.array(names))
    return out


@dataclass
class MemberSpec:
    """One designed member (planted households): everything a rule may look at."""

    relation: str
    age: int
    male: bool
    econ: int
    ability: str = "完全"
    disability: int = 0
    school: str = ""
    income: float = 0.0


@dataclass
class HouseholdSpec:
    members: list[MemberSpec]
    rural: bool
    town: int | None = None


def build(
    n_households: int,
    timeline: Timeline,
    rng: np.random.Generator,
    designed: Sequence[HouseholdSpec] = (),
    outsiders_share: float = 0.025,
) -> Population:
    towns = county_townships()
    start = timeline.start_day
    as_of = timeline.as_of_day
    H = n_households
    nd = len(designed)

    # ---- households -------------------------------------------------------------
    names, weights = zip(*HOUSEHOLD_TYPES)
    h_type = np.array(names)[rng.choice(len(names), size=H, p=np.array(weights) / sum(weights))]
    kind_w = np.array([1.3 if t.kind == "街道" else 1.0 for t in towns])
    h_town = rng.choice(len(towns), size=H, p=kind_w / kind_w.sum())
    street = np.array([t.kind == "街道" for t in towns])[h_town]
    h_res = np.where(street, rng.random(H) < 0.2, rng.random(H) < 0.85).astype(np.int8)  # 街道 mostly 城镇

    # ages at the start of the history
    def U(lo, hi, n):
        return rng.integers(lo, hi + 1, size=n)

    head_age = np.select(
        [
            h_type == "single_elderly",
            h_type == "elderly_couple",
            h_type == "couple",
            h_type == "nuclear",
            h_type == "three_generation",
            h_type == "single_adult",
            h_type == "single_parent",
            h_type == "skip_generation",
        ],
        [
            U(65, 92, H),
            U(62, 88, H),
            U(23, 58, H),
            U(27, 52, H),
            U(30, 52, H),
            U(20, 60, H),
            U(28, 50, H),
            U(58, 76, H),
        ],
    )
    head_male = np.where(
        h_type == "single_elderly",
        rng.random(H) < 0.42,
        np.where(h_type == "single_parent", rng.random(H) < 0.3, rng.random(H) < 0.86),
    )
    has_spouse = np.isin(h_type, ["elderly_couple", "couple", "nuclear", "three_generation"]) | (
        (h_type == "skip_generation") & (rng.random(H) < 0.6)
    )
    n_child = np.where(
        np.isin(h_type, ["nuclear", "single_parent"]),
        rng.choice([1, 2, 3], size=H, p=[0.5, 0.42, 0.08]),
        np.where(h_type == "three_generation", rng.choice([1, 2], size=H, p=[0.55, 0.45]), 0),
    )
    n_parent = np.where(h_type == "three_generation", rng.choice([1, 2], size=H, p=[0.5, 0.5]), 0)
    n_grand = np.where(h_type == "skip_generation", rng.choice([1, 2], size=H, p=[0.7, 0.3]), 0)
    n_sibling = ((h_type == "single_adult") & (rng.random(H) < 0.06)).astype(int)

    # ---- persons, role by role --------------------------------------------------
    hh_idx = np.arange(H)
    parts = []  # (hh, relation, age, male)
    parts.append((hh_idx, np.zeros(H, int), head_age, head_male))
    sp = hh_idx[has_spouse]
    parts.append(
        (
            sp,
            np.full(len(sp), 1),
            np.clip(head_age[sp] + np.round(rng.normal(-2, 3, len(sp))).astype(int), 20, 95),
            ~head_male[sp],
        )
    )
    ch = np.repeat(hh_idx, n_child)
    order = np.arange(len(ch)) - np.repeat(np.cumsum(n_child) - n_child, n_child)
    ch_age = head_age[ch] - U(23, 32, len(ch)) - order * U(2, 6, len(ch))
    parts.append((ch, np.full(len(ch), 2), np.clip(ch_age, 0, None), rng.random(len(ch)) < 0.52))
    pa = np.repeat(hh_idx, n_parent)
    p_order = np.arange(len(pa)) - np.repeat(np.cumsum(n_parent) - n_parent, n_parent)
    parts.append(
        (
            pa,
            np.full(len(pa), 3),
            np.clip(head_age[pa] + U(24, 32, len(pa)), 50, 98),
            np.where(np.repeat(n_parent, n_parent) == 2, p_order == 0, rng.random(len(pa)) < 0.35),
        )
    )
    gr = np.repeat(hh_idx, n_grand)
    parts.append((gr, np.full(len(gr), 4), U(2, 15, len(gr)), rng.random(len(gr)) < 0.52))
    sb = np.repeat(hh_idx, n_sibling)
    parts.append(
        (sb, np.full(len(sb), 5), np.clip(head_age[sb] + U(-8, 8, len(sb)), 18, 70), rng.random(len(sb)) < 0.5)
    )

    p_hh = np.concatenate([p[0] for p in parts])
    p_rel = np.concatenate([p[1] for p in parts]).astype(np.int8)
    age0 = np.concatenate([p[2] for p in parts]).astype(int)
    p_male = np.concatenate([p[3] for p in parts]).astype(bool)
    # keep members of one household together, head first
    o = np.lexsort((p_rel, p_hh))
    p_hh, p_rel, age0, p_male = p_hh[o], p_rel[o], age0[o], p_male[o]
    p_birth = start - age0 * 365 - np.floor(age0 / 4).astype(int) - rng.integers(0, 365, len(p_hh))

    # ---- designed (planted) households, appended ---------------------------------
    d_h_town, d_h_res, d_members = [], [], []
    for k, spec in enumerate(designed):
        hh = H + k
        d_h_town.append(spec.town if spec.town is not None else int(rng.integers(0, len(towns))))
        d_h_res.append(1 if spec.rural else 0)
        for m in spec.members:
            d_members.append((hh, RELATIONS.index(m.relation), m))
    if nd:
        h_town = np.concatenate([h_town, np.array(d_h_town)])
        h_res = np.concatenate([h_res, np.array(d_h_res, dtype=np.int8)])
        h_type = np.concatenate([h_type, np.full(nd, "planted")])
        d_hh = np.array([x[0] for x in d_members])
        d_rel = np.array([x[1] for x in d_members], dtype=np.int8)
        d_male = np.array([x[2].male for x in d_members])
        # birth so that the age on as_of is exactly the designed one, well away from a birthday
        d_age = np.array([x[2].age for x in d_members])
        d_birth = as_of - d_age * 365 - np.floor(d_age / 4).astype(int) - rng.integers(60, 300, len(d_hh))
        p_hh = np.concatenate([p_hh, d_hh])
        p_rel = np.concatenate([p_rel, d_rel])
        p_male = np.concatenate([p_male, d_male])
        p_birth = np.concatenate([p_birth, d_birth])
    Hn = H + nd
    h_planted = np.arange(Hn) >= H

    # ---- outsiders: live and work here on a residence permit, not in the roster --------
    n_out = int(round(len(p_hh) * outsiders_share))
    out_age = U(20, 52, n_out)
    p_hh = np.concatenate([p_hh, np.full(n_out, -1)])
    p_rel = np.concatenate([p_rel, np.zeros(n_out, np.int8)])
    p_male = np.concatenate([p_male, rng.random(n_out) < 0.6])
    p_birth = np.concatenate([p_birth, start - out_age * 365 - rng.integers(0, 365, n_out)])
    P = len(p_hh)
    outsider = p_hh < 0
    hh_safe = np.where(outsider, 0, p_hh)

    # ---- identity -----------------------------------------------------------------
    p_res = np.where(outsider, rng.random(P) < 0.3, h_res[hh_safe]).astype(np.int8)
    # a married-in spouse, say; never the head, whose 户口性质 is the household's (h_res: its standard)
    p_res = np.where(~outsider & (p_rel != 0) & (rng.random(P) < 0.04), 1 - p_res, p_res).astype(np.int8)
    home = rng.random(P) < np.where(p_rel == 1, 0.8, 0.92)
    region = np.where(home, HOME_REGION, NEIGHBOUR_REGIONS[rng.integers(0, len(NEIGHBOUR_REGIONS), P)])
    region = np.where(
        outsider,
        np.where(
            rng.random(P) < 0.5,
            NEIGHBOUR_REGIONS[rng.integers(0, len(NEIGHBOUR_REGIONS), P)],
            FAR_REGIONS[rng.integers(0, len(FAR_REGIONS), P)],
        ),
        region,
    )
    p_id = build_ids(region, p_birth.astype("datetime64[D]"), p_male, rng)

    h_surname = _surnames(rng, Hn)
    own_surname = _surnames(rng, P)
    head_is_male = np.zeros(Hn, bool)
    heads = p_rel == 0
    head_is_male[p_hh[heads & ~outsider]] = p_male[heads & ~outsider]
    inherit = ~outsider & (
        (p_rel == 0)
        | np.isin(p_rel, [2, 4]) & (head_is_male[hh_safe] | (rng.random(P) < 0.4))
        | ((p_rel == 3) & p_male & head_is_male[hh_safe])
        | (p_rel == 5)
    )
    surname = np.where(inherit, h_surname[hh_safe], own_surname)
    p_name = np.char.add(surname, _given_names(rng, p_male)).astype(object)
    dotted = rng.random(P) < 0.0015
    p_name[dotted] = np.array(vocab.DOT_NAMES, dtype=object)[rng.integers(0, len(vocab.DOT_NAMES), dotted.sum())]

    # ---- places ---------------------------------------------------------------------
    villages = _villages(rng, towns, Hn)
    v_idx = rng.integers(0, 10**9, Hn)
    h_village = np.array([villages[t][v % len(villages[t])] for t, v in zip(h_town, v_idx)], dtype=object)
    town_names = np.array([t.official_name for t in towns], dtype=object)
    codes = np.array([t.code for t in towns])
    # 户编号: township code + 7-digit serial, unique per household
    serial = np.empty(Hn, dtype=np.int64)
    for t in range(len(towns)):
        sel = np.flatnonzero(h_town == t)
        serial[sel] = rng.choice(np.arange(1, 10**7 // 2), size=len(sel), replace=False)
    h_id = np.char.add(codes[h_town].astype("U9"), np.char.zfill(serial.astype("U7"), 7)).astype(object)
    urban_addr = np.char.add(
        np.char.add(
            np.char.add(
                np.array(vocab.ROADS)[rng.integers(0, len(vocab.ROADS), Hn)], rng.integers(1, 300, Hn).astype(str)
            ),
            "号",
        ),
        np.char.add(
            np.char.add(rng.integers(1, 30, Hn).astype(str), "号楼"),
            np.char.add(rng.integers(1, 6, Hn).astype(str), "单元"),
        ),
    )
    rural_addr = np.char.add(rng.integers(1, 400, Hn).astype(str), "号")
    street_h = np.array([t.kind == "街道" for t in towns])[h_town]
    h_address = np.char.add(
        np.char.add(town_names[h_town].astype(str), h_village.astype(str)), np.where(street_h, urban_addr, rural_addr)
    ).astype(object)
    prefixes = np.array(["13", "15", "18", "17", "19", "135", "136", "138", "158", "139"])
    ph = np.char.add(prefixes[rng.integers(0, len(prefixes), Hn)], rng.integers(10**8, 10**9, Hn).astype(str))
    h_phone = np.array([p[:11] for p in ph], dtype=object)
    h_phone[rng.random(Hn) < 0.05] = ""

    # ---- economic state at the start of the history ---------------------------------
    age = ((start - p_birth) / 365.25).astype(int)
    u = rng.random(P)
    p_edu = rng.random(P)
    urban = p_res == 0
    econ = np.full(P, CHILD, np.int8)
    student = (
        ((age >= 16) & (age <= 18) & (p_edu < 0.85))
        | ((age >= 19) & (age <= 22) & (p_edu < 0.5))
        | ((age >= 23) & (age <= 25) & (p_edu < 0.04))
    )
    working = (age >= 16) & (age < 60) & ~student
    elder = age >= 60
    urb_cut = np.cumsum([0.68, 0.15, 0.04, 0.05, 0.08])  # employee, self, unemployed, homemaker, farmer
    rur_cut = np.cumsum([0.35, 0.07, 0.03, 0.04, 0.51])
    cuts = np.where(urban[:, None], urb_cut[None, :], rur_cut[None, :])
    work_role = np.array([EMPLOYEE, SELF_EMPLOYED, UNEMPLOYED, HOMEMAKER, FARMER])[
        (u[:, None] > cuts).sum(1).clip(0, 4)
    ]
    econ = np.where(student, STUDENT, econ)
    econ = np.where(working, work_role, econ)
    econ = np.where(
        elder, np.where(rng.random(P) < np.where(urban, 0.65, 0.12), RETIRED_EMPLOYEE, RETIRED_RESIDENT), econ
    )
    econ = np.where(outsider, np.where(u < 0.85, EMPLOYEE, SELF_EMPLOYED), econ).astype(np.int8)

    disab = np.where(
        rng.random(P) < np.where(age >= 60, 0.06, 0.018), rng.choice([1, 2, 3, 4], size=P, p=[0.15, 0.2, 0.3, 0.35]), 0
    ).astype(np.int8)
    disab[outsider] = 0
    ability = np.where(
        age < 16,
        2,
        np.where(
            age < 60,
            np.where(rng.random(P) < 0.05, 1, 0),
            np.where(
                age < 70, rng.choice([0, 1, 2], size=P, p=[0.5, 0.4, 0.1]), rng.choice([1, 2], size=P, p=[0.5, 0.5])
            ),
        ),
    )
    ability = np.where(disab >= 3, np.maximum(ability, 1), ability)
    ability = np.where((disab >= 1) & (disab <= 2), 2, ability).astype(np.int8)
    econ = np.where(
        (disab >= 1) & (disab <= 2) & np.isin(econ, EARNERS + (UNEMPLOYED, HOMEMAKER)), NO_INCOME, econ
    ).astype(np.int8)

    prosperity = rng.lognormal(0.05, 0.3, Hn)[hh_safe]
    ln = rng.lognormal
    wage = np.clip(4200 * prosperity * ln(0, 0.3, P), 1900, 40000)
    income = np.select(
        [econ == EMPLOYEE, econ == FARMER, econ == SELF_EMPLOYED, econ == RETIRED_EMPLOYEE, econ == RETIRED_RESIDENT],
        [
            wage,
            2600 * prosperity * ln(0, 0.45, P),
            3000 * prosperity * ln(0, 0.45, P),
            2900 * ln(0, 0.25, P),
            # 居民养老 basic pension, plus what the younger old still earn from their land
            np.where((age < 75) & (rng.random(P) < 0.7), 1100 * prosperity * ln(0, 0.5, P), 0),
        ],
        0.0,
    )
    base = np.where(econ == EMPLOYEE, np.clip(np.round(wage, -2), 3300, 25000), 0.0)
    pension = np.where(
        econ == RETIRED_EMPLOYEE, income, np.where(econ == RETIRED_RESIDENT, rng.integers(150, 320, P), 0.0)
    )
    income = np.where(econ == RETIRED_RESIDENT, income + pension, income)
    # relatives' support: mostly for elderly-only households
    elderly_only = np.isin(h_type, ["single_elderly", "elderly_couple", "skip_generation"])
    h_other = np.where(elderly_only, rng.lognormal(np.log(900), 0.6, Hn) * (rng.random(Hn) < 0.88), 0.0)
    h_other = np.round(h_other, 0)

    p_town = np.where(outsider, rng.integers(0, len(towns), P), h_town[hh_safe])
    p_school = np.full(P, "", dtype=object)

    # designed members: exactly as specified
    if nd:
        for i, (_, _, m) in zip(np.flatnonzero(p_hh >= H), d_members):
            econ[i] = m.econ
            income[i] = m.income
            base[i] = np.clip(np.round(m.income, -2), 3300, 25000) if m.econ == EMPLOYEE else 0.0
            pension[i] = m.income if m.econ in (RETIRED_EMPLOYEE, RETIRED_RESIDENT) else 0.0
            ability[i] = ABILITY.index(m.ability)
            disab[i] = m.disability
            p_school[i] = m.school
            p_res[i] = h_res[p_hh[i]]
        h_other[H:] = 0.0

    chronic = (rng.random(P) < np.where(age >= 50, 0.12, 0.02)) & ~(h_planted[hh_safe] & ~outsider)
    return Population(
        h_id=h_id,
        h_town=h_town,
        h_village=h_village,
        h_address=h_address,
        h_phone=h_phone,
        h_res=h_res,
        h_type=h_type,
        h_other_income=h_other,
        h_planted=h_planted,
        p_hh=p_hh,
        p_id=p_id,
        p_name=p_name,
        p_male=p_male,
        p_birth=p_birth.astype(np.int64),
        p_rel=p_rel,
        p_res=p_res,
        p_econ=econ,
        p_income=np.round(income, 0),
        p_pension=np.round(pension, 0),
        p_base=base,
        p_ability=ability,
        p_disab=disab,
        p_edu=p_edu,
        p_chronic=chronic,
        p_town=p_town,
        p_pay_month=rng.integers(0, 12, P),
        p_school_override=p_school,
        townships=towns,
    )


def school_stage(age: np.ndarray, edu: np.ndarray) -> np.ndarray:
    """在校情况 from age and a person's propensity to stay in school."""
    return np.select(
        [
            age <= 2,
            age <= 5,
            age <= 11,
            age <= 14,
            (age <= 18) & (edu < 0.85),
            (age <= 22) & (edu < 0.5),
            (age <= 25) & (edu < 0.04),
        ],
        [
            "非在校",
            "学前",
            "小学",
            "初中",
            np.where(edu < 0.6, "高中", "中职"),
            np.where(edu < 0.25, "本科", "大专"),
            "研究生",
        ],
        "非在校",
    )


def persons_frame(pop: Population) -> pl.DataFrame:
    hh = np.where(pop.p_hh >= 0, pop.p_hh, 0)
    return pl.DataFrame(
        {
            "id_number": pop.p_id.astype(str),
            "household_id": np.where(pop.p_hh >= 0, pop.h_id[hh], "").astype(str),
            "name": pop.p_name.astype(str),
            "sex": np.where(pop.p_male, "男", "女"),
            "birth_date": pop.p_birth.astype("datetime64[D]"),
            "relation_to_head": np.array(RELATIONS)[pop.p_rel],
            "residence_type": np.array(RESIDENCE)[pop.p_res],
            "township_code": np.array([t.code for t in pop.townships])[pop.p_town],
            "in_roster": pop.p_hh >= 0,
            "planted": pop.h_planted[hh] & (pop.p_hh >= 0),
        }
    )
