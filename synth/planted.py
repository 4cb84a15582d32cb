"""Planted rule cases: households (and a few outsiders) built so that one rule of
RULES.md fires on as_of, with the policy file's own numbers.

Each case is designed (members, ages, work ability, disability, school) before
the population is built, takes no part in the random history, and gets its
decisive records injected afterwards. Delivery keeps every row of a planted
household or person clean: no cell mess, never late, never corrected, never in
a bad file. Other households may fire rules too (that is the point of a
monitoring system); rule_cases.csv lists only the planted ones.

Near misses are built the same way, each to come just short of one rule (a
verification 13 months old, a reversal that brings spending under the line, a
petition 100 days old, a 特困 allowance exactly at 1.3 × standard ...): that rule
must not fire for them, and they are designed to fire no other rule either.
near_misses.csv lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from jiuzhu.policy import Policy

from . import vocab
from .history import EDGE, N_SERIOUS, NEVER, ORPHAN, RURAL_DIBAO, TEKUN, URBAN_DIBAO, History
from .population import (
    CHILD,
    EMPLOYEE,
    FARMER,
    HOMEMAKER,
    NO_INCOME,
    RETIRED_RESIDENT,
    STUDENT,
    UNEMPLOYED,
    HouseholdSpec,
    Population,
)
from .population import MemberSpec as M
from .timeline import Timeline, date_of

RULES = ("R01", "R02", "R03", "R04", "R05", "R06", "R08", "R09", "R10", "R11")


@dataclass
class Case:
    rule: str
    variant: str
    note: str
    spec: HouseholdSpec | None  # None: an outsider (not in the roster)
    subject: str = "household"  # or "person"
    subject_member: int = 0  # which member is the subject of a person-level case
    h: int = -1  # household index once built
    p: int = -1  # outsider's person index
    extra: dict = field(default_factory=dict)
    # what the warning's reason must name besides the person (rule_cases.csv named_dates, named_amounts)
    named_dates: list[int] = field(default_factory=list)  # days
    named_amounts: list[float] = field(default_factory=list)  # 元
    near_miss: bool = False  # built to come just short of the rule: it must NOT fire


def _variants():
    """rule -> list of (variant, note, spec factory or None for an outsider, subject, subject member)."""

    def hh(members, rural=True):
        return HouseholdSpec(members=members, rural=rural)

    return {
        "R01": [
            (
                "low_income",
                "核对人均收入约0.55倍低保标准, 结论符合, 未纳入低保",
                lambda: hh(
                    [
                        M("户主", 46, True, FARMER, income=900),
                        M("配偶", 44, False, HOMEMAKER),
                        M("子女", 12, True, CHILD, "无"),
                    ]
                ),
                "household",
                0,
            ),
            (
                "pending",
                "核对人均收入约0.7倍城市低保标准, 结论待定",
                lambda: hh([M("户主", 38, False, HOMEMAKER), M("子女", 9, False, CHILD, "无")], rural=False),
                "household",
                0,
            ),
            (
                "just_below_edge_member",
                "核对人均收入比低保标准低1元, 结论符合, 家庭在低保边缘 (低保边缘不排除R01)",
                lambda: hh([M("户主", 55, True, FARMER, income=800), M("配偶", 53, False, FARMER, income=500)]),
                "household",
                0,
            ),
        ],
        "R02": [
            (
                "edge",
                "核对人均收入约1.25倍低保标准, 无低保/特困/低保边缘",
                lambda: hh([M("户主", 51, True, FARMER, income=1100), M("配偶", 49, False, FARMER, income=600)]),
                "household",
                0,
            ),
            (
                "edge_urban",
                "核对人均收入约1.4倍城市低保标准",
                lambda: hh(
                    [
                        M("户主", 41, True, EMPLOYEE, income=3400),
                        M("配偶", 40, False, HOMEMAKER),
                        M("子女", 14, True, CHILD, "无"),
                    ],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "at_standard",
                "核对人均收入恰好等于低保标准 (≥ 标准: R02, 不是R01)",
                lambda: hh([M("户主", 48, True, FARMER, income=900), M("配偶", 47, False, FARMER, income=500)]),
                "household",
                0,
            ),
        ],
        "R03": [
            (
                "oop_12m",
                "家庭12个月个人自付合计≥医疗自付预警线 (含一笔冲销)",
                lambda: hh(
                    [
                        M("户主", 56, True, EMPLOYEE, income=4200),
                        M("配偶", 54, False, HOMEMAKER),
                        M("子女", 26, True, EMPLOYEE, income=3800),
                    ],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "oop_vs_income",
                "自付低于预警线, 但 (年收入−自付) 人均月 < 低保标准 而收入本身 ≥ 标准",
                lambda: hh(
                    [
                        M("户主", 47, True, FARMER, income=1500),
                        M("配偶", 45, False, FARMER, income=900),
                        M("子女", 17, False, STUDENT, "无", school="高中"),
                    ]
                ),
                "household",
                0,
            ),
            ("outsider_oop", "非本县户籍 (居住证) 人员, 12个月个人自付≥预警线", None, "person", 0),
        ],
        "R04": [
            (
                "all_unemployed",
                "全部劳动年龄有劳动能力成员均为有效失业登记, 无就业登记",
                lambda: hh(
                    [
                        M("户主", 48, True, UNEMPLOYED),
                        M("配偶", 46, False, UNEMPLOYED, "部分"),
                        M("父母", 76, False, RETIRED_RESIDENT, "无", income=200),
                        M("子女", 10, True, CHILD, "无"),
                    ]
                ),
                "household",
                0,
            ),
            (
                "single_unemployed",
                "单人户, 唯一劳动年龄成员失业登记",
                lambda: hh([M("户主", 35, True, UNEMPLOYED)], rural=False),
                "household",
                0,
            ),
            (
                "age59_unemployed",
                "唯一劳动年龄成员59岁, 失业登记; 配偶62岁不在劳动年龄",
                lambda: hh(
                    [M("户主", 59, True, UNEMPLOYED), M("配偶", 62, False, RETIRED_RESIDENT, "部分", income=230)]
                ),
                "household",
                0,
            ),
        ],
        "R05": [
            (
                "disabled_edge",
                "成员一级残疾, 未纳入低保/特困 (在低保边缘), 核对人均收入<1.5倍标准",
                lambda: hh(
                    [M("户主", 52, True, NO_INCOME, "无", disability=1), M("配偶", 50, False, EMPLOYEE, income=2300)],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "serious_illness",
                "成员24个月内大病诊断, 核对人均收入<1.5倍标准",
                lambda: hh(
                    [
                        M("户主", 44, True, FARMER, income=1000),
                        M("配偶", 42, False, FARMER, income=700),
                        M("子女", 7, False, CHILD, "无"),
                    ]
                ),
                "household",
                0,
            ),
            (
                "illness_23m",
                "成员23个月前大病诊断 (24个月内), 在低保边缘, 核对人均收入<1.5倍标准",
                lambda: hh([M("户主", 57, True, NO_INCOME, "部分"), M("配偶", 56, False, FARMER, income=1500)]),
                "household",
                0,
            ),
        ],
        "R06": [
            (
                "orphan_minor",
                "孤儿保障已终止, 本人未满18周岁",
                lambda: hh(
                    [M("户主", 68, True, RETIRED_RESIDENT, "部分", income=250), M("孙子女", 13, False, CHILD, "无")]
                ),
                "person",
                1,
            ),
            (
                "tekun_student",
                "特困供养满18周岁终止, 本人在读本科",
                lambda: hh([M("户主", 19, True, STUDENT, "完全", school="本科")]),
                "person",
                0,
            ),
            (
                "orphan_vocational",
                "孤儿保障满18周岁终止, 本人19岁在读中职",
                lambda: hh(
                    [
                        M("户主", 71, False, RETIRED_RESIDENT, "部分", income=240),
                        M("孙子女", 19, True, STUDENT, "完全", school="中职"),
                    ]
                ),
                "person",
                1,
            ),
        ],
        "R08": [
            (
                "hardship_category",
                "90天内信访, 问题类别生活困难",
                lambda: hh([M("户主", 57, True, FARMER, income=1200), M("配偶", 55, False, FARMER, income=800)]),
                "household",
                0,
            ),
            (
                "hardship_text",
                "90天内信访, 类别其他但诉求内容述家庭困难",
                lambda: hh([M("户主", 63, False, RETIRED_RESIDENT, "部分", income=300)]),
                "household",
                0,
            ),
            ("outsider_petition", "非本县户籍 (居住证) 人员信访, 问题类别医疗救助, 有问题属地", None, "person", 0),
        ],
        "R09": [
            (
                "earner_death",
                "16-59岁成员死亡, 死亡前6个月缴纳职工养老",
                lambda: hh(
                    [
                        M("户主", 45, True, EMPLOYEE, income=4600),
                        M("配偶", 43, False, NO_INCOME),
                        M("子女", 15, True, CHILD, "无", school="初中"),
                    ],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "first_serious_illness",
                "90天内首次大病诊断",
                lambda: hh([M("户主", 50, True, FARMER, income=1800), M("配偶", 49, False, FARMER, income=1200)]),
                "household",
                0,
            ),
            (
                "only_contributor_unemployed",
                "近6个月唯一缴费成员90天内失业登记",
                lambda: hh(
                    [
                        M("户主", 40, True, EMPLOYEE, income=3900),
                        M("配偶", 38, False, NO_INCOME),
                        M("子女", 8, False, CHILD, "无"),
                    ],
                    rural=False,
                ),
                "household",
                0,
            ),
        ],
        "R10": [
            (
                "dead_recipient",
                "在保低保对象已有死亡登记",
                lambda: hh(
                    [
                        M("户主", 74, True, RETIRED_RESIDENT, "部分", income=220),
                        M("配偶", 72, False, RETIRED_RESIDENT, "部分", income=200),
                    ]
                ),
                "person",
                0,
            ),
            (
                "income_recovered",
                "低保家庭核对人均收入≥1.5倍标准",
                lambda: hh(
                    [M("户主", 43, True, EMPLOYEE, income=4200), M("配偶", 41, False, EMPLOYEE, income=3000)],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "two_households",
                "同一人在两个户编号下均为在保低保",
                lambda: hh(
                    [
                        M("户主", 61, True, RETIRED_RESIDENT, "部分", income=260),
                        M("配偶", 59, False, FARMER, income=300),
                    ]
                ),
                "person",
                1,
            ),
            (
                "dibao_and_tekun",
                "同一人同时在保低保和特困",
                lambda: hh([M("户主", 79, False, RETIRED_RESIDENT, "无", income=180)]),
                "person",
                0,
            ),
        ],
        "R11": [
            (
                "basic_below",
                "特困基本生活费低于1.3倍低保标准",
                lambda: hh([M("户主", 81, True, RETIRED_RESIDENT, "无", income=170)]),
                "person",
                0,
            ),
            (
                "care_below",
                "全护理照料护理费低于最低工资的1/3",
                lambda: hh([M("户主", 66, False, NO_INCOME, "无", disability=1)]),
                "person",
                0,
            ),
            (
                "care_below_half",
                "半护理照料护理费比最低工资的1/6少约2元",
                lambda: hh([M("户主", 84, True, RETIRED_RESIDENT, "部分", income=190)], rural=False),
                "person",
                0,
            ),
        ],
    }


def _near_miss_variants():
    """rule -> list of (variant, note, spec factory or None for an outsider, subject, subject member): cases built to
    come just short of the rule, so that it must not fire. Each is meant to fire no other rule either."""

    def hh(members, rural=True):
        return HouseholdSpec(members=members, rural=rural)

    return {
        "R01": [
            (
                "stale_verification",
                "核对人均收入约0.5倍低保标准, 结论符合, 但核对日期已超过12个月 (无有效核对)",
                lambda: hh([M("户主", 49, True, FARMER, income=700), M("配偶", 47, False, HOMEMAKER)]),
                "household",
                0,
            ),
            (
                "verified_not_eligible",
                "核对人均收入约0.6倍低保标准, 但核对结论不符合 (金融资产超标)",
                lambda: hh([M("户主", 44, True, FARMER, income=900), M("配偶", 43, False, HOMEMAKER)], rural=False),
                "household",
                0,
            ),
            (
                "income_at_standard_edge",
                "核对人均收入恰好等于低保标准 (不低于标准), 家庭已在低保边缘",
                lambda: hh([M("户主", 52, True, FARMER, income=900), M("配偶", 50, False, FARMER, income=400)]),
                "household",
                0,
            ),
            (
                "member_on_dibao",
                "核对人均收入约0.5倍低保标准, 但家庭成员已享受低保",
                lambda: hh(
                    [M("户主", 60, True, RETIRED_RESIDENT, "部分", income=300), M("配偶", 58, False, HOMEMAKER, "部分")]
                ),
                "household",
                0,
            ),
        ],
        "R02": [
            (
                "already_edge",
                "核对人均收入约1.2倍低保标准, 但家庭已在低保边缘",
                lambda: hh([M("户主", 50, True, FARMER, income=1000), M("配偶", 48, False, FARMER, income=600)]),
                "household",
                0,
            ),
            (
                "income_at_edge_line",
                "核对人均收入恰好等于1.5倍低保标准 (不低于边缘线), 结论不符合",
                lambda: hh([M("户主", 39, True, EMPLOYEE, income=2600), M("配偶", 37, False, HOMEMAKER)], rural=False),
                "household",
                0,
            ),
            (
                "on_dibao",
                "核对人均收入约1.3倍低保标准, 但家庭仍在保低保 (低于1.5倍, 也不复核)",
                lambda: hh(
                    [
                        M("户主", 46, True, FARMER, income=1100),
                        M("配偶", 45, False, HOMEMAKER),
                        M("子女", 11, False, CHILD, "无"),
                    ]
                ),
                "household",
                0,
            ),
        ],
        "R03": [
            (
                "reversal_under_line",
                "12个月个人自付合计约1.85万元, 另有一笔0.3万元住院被冲销: 冲销前超过预警线, 冲销后低于",
                lambda: hh([M("户主", 53, True, EMPLOYEE, income=4500), M("配偶", 51, False, HOMEMAKER)], rural=False),
                "household",
                0,
            ),
            (
                "just_under_line",
                "12个月个人自付合计19,900元 (低于预警线)",
                lambda: hh(
                    [M("户主", 58, True, EMPLOYEE, income=4800), M("配偶", 57, False, EMPLOYEE, income=3600)],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "older_than_12m",
                "个人自付合计约2.5万元, 但都在12个月之前",
                lambda: hh(
                    [M("户主", 61, True, RETIRED_RESIDENT, income=1300), M("配偶", 59, False, FARMER, income=900)]
                ),
                "household",
                0,
            ),
            (
                "income_after_oop_above",
                "核对人均收入约1.6倍标准, 自付后人均月收入仍不低于低保标准",
                lambda: hh(
                    [
                        M("户主", 45, True, FARMER, income=1600),
                        M("配偶", 44, False, FARMER, income=900),
                        M("子女", 16, False, STUDENT, "无", school="高中"),
                    ]
                ),
                "household",
                0,
            ),
            ("outsider_under_line", "非本县户籍 (居住证) 人员, 12个月个人自付19,500元 (低于预警线)", None, "person", 0),
        ],
        "R04": [
            (
                "one_reemployed",
                "两名劳动年龄成员都有失业登记, 但其中一人已有有效就业登记 (失业登记未注销)",
                lambda: hh([M("户主", 45, True, UNEMPLOYED), M("配偶", 43, False, EMPLOYEE, income=3000)], rural=False),
                "household",
                0,
            ),
            (
                "deregistered",
                "一名劳动年龄成员失业登记有效, 另一人的失业登记已注销",
                lambda: hh([M("户主", 50, True, UNEMPLOYED), M("配偶", 48, False, UNEMPLOYED)]),
                "household",
                0,
            ),
            (
                "only_member_unable",
                "唯一劳动年龄成员失业登记, 但劳动能力为无; 配偶61岁",
                lambda: hh(
                    [M("户主", 52, True, UNEMPLOYED, "无"), M("配偶", 61, False, RETIRED_RESIDENT, "部分", income=260)]
                ),
                "household",
                0,
            ),
            (
                "aged_60",
                "失业登记的成员60岁 (超出16-59岁), 户内无其他劳动年龄成员",
                lambda: hh([M("户主", 60, True, UNEMPLOYED)], rural=False),
                "household",
                0,
            ),
        ],
        "R05": [
            (
                "ill_on_tekun",
                "单人户成员大病诊断 (24个月内), 但已享受特困供养",
                lambda: hh([M("户主", 63, True, RETIRED_RESIDENT, "无", income=200)]),
                "household",
                0,
            ),
            (
                "income_at_edge_line",
                "成员一级残疾, 未享受低保特困, 但核对人均收入恰好等于1.5倍标准",
                lambda: hh(
                    [M("户主", 55, True, NO_INCOME, "无", disability=1), M("配偶", 53, False, EMPLOYEE, income=2700)],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "illness_25m",
                "成员大病诊断在25个月前 (超出24个月), 在低保边缘, 核对人均收入约1.2倍标准",
                lambda: hh([M("户主", 54, True, NO_INCOME, "部分"), M("配偶", 52, False, FARMER, income=1600)]),
                "household",
                0,
            ),
            (
                "disability_grade3",
                "成员三级残疾 (不是一级/二级), 在低保边缘, 核对人均收入约1.2倍标准",
                lambda: hh(
                    [M("户主", 47, True, NO_INCOME, "部分", disability=3), M("配偶", 46, False, FARMER, income=1600)]
                ),
                "household",
                0,
            ),
        ],
        "R06": [
            (
                "tekun_postgraduate",
                "特困供养满18周岁终止, 本人在读研究生 (不在延长范围)",
                lambda: hh([M("户主", 23, True, STUDENT, "完全", school="研究生")]),
                "person",
                0,
            ),
            (
                "orphan_adult_not_in_school",
                "孤儿保障满18周岁终止, 本人19岁, 不在校",
                lambda: hh(
                    [
                        M("户主", 70, False, RETIRED_RESIDENT, "部分", income=250),
                        M("孙子女", 19, True, EMPLOYEE, "完全", school="非在校", income=2600),
                    ]
                ),
                "person",
                1,
            ),
            (
                "dibao_ended_minor",
                "未满18周岁成员的低保 (不是特困/孤儿) 已终止",
                lambda: hh([M("户主", 41, True, FARMER, income=1500), M("子女", 12, False, CHILD, "无")]),
                "person",
                1,
            ),
            (
                "orphan_now_tekun",
                "孤儿保障已终止, 本人未满18周岁, 但已转为特困供养",
                lambda: hh(
                    [M("户主", 69, True, RETIRED_RESIDENT, "部分", income=260), M("孙子女", 14, True, CHILD, "无")]
                ),
                "person",
                1,
            ),
        ],
        "R08": [
            (
                "petition_100d",
                "信访问题类别生活困难, 但登记在100天前 (超出90天)",
                lambda: hh([M("户主", 56, True, FARMER, income=1300), M("配偶", 54, False, FARMER, income=800)]),
                "household",
                0,
            ),
            (
                "other_neutral",
                "90天内信访, 类别其他, 诉求内容与困难无关",
                lambda: hh(
                    [M("户主", 42, True, EMPLOYEE, income=3800), M("配偶", 40, False, EMPLOYEE, income=3100)],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "outsider_other_neutral",
                "非本县户籍 (居住证) 人员90天内信访, 类别其他, 诉求内容与困难无关",
                None,
                "person",
                0,
            ),
            (
                "outsider_petition_100d",
                "非本县户籍 (居住证) 人员信访, 类别医疗救助, 但登记在100天前",
                None,
                "person",
                0,
            ),
        ],
        "R09": [
            (
                "death_aged_65",
                "成员死亡 (近90天, 死亡前6个月仍缴纳职工养老), 但死亡时65岁",
                lambda: hh(
                    [
                        M("户主", 65, True, EMPLOYEE, income=3500),
                        M("配偶", 63, False, RETIRED_RESIDENT, "部分", income=900),
                    ],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "illness_not_first",
                "近90天有大病诊断, 但该成员首次大病诊断在200天前",
                lambda: hh([M("户主", 51, True, FARMER, income=1700), M("配偶", 50, False, FARMER, income=1300)]),
                "household",
                0,
            ),
            (
                "not_only_contributor",
                "近90天失业登记的成员不是近6个月唯一缴费成员 (配偶仍在缴费)",
                lambda: hh(
                    [M("户主", 41, True, EMPLOYEE, income=4100), M("配偶", 39, False, EMPLOYEE, income=3300)],
                    rural=False,
                ),
                "household",
                0,
            ),
            (
                "death_resident_pension",
                "劳动年龄成员近90天死亡, 死亡前只缴纳居民养老 (非职工养老)",
                lambda: hh([M("户主", 50, True, FARMER, income=1800), M("配偶", 49, False, FARMER, income=1200)]),
                "household",
                0,
            ),
        ],
        "R10": [
            (
                "income_1_4",
                "低保家庭核对人均收入约1.4倍标准 (低于1.5倍)",
                lambda: hh([M("户主", 44, True, EMPLOYEE, income=3000), M("配偶", 42, False, HOMEMAKER)], rural=False),
                "household",
                0,
            ),
            (
                "death_after_as_of",
                "在保低保对象死亡日期在预警日之后 (文件中尚无死亡登记)",
                lambda: hh(
                    [
                        M("户主", 76, True, RETIRED_RESIDENT, "部分", income=210),
                        M("配偶", 74, False, RETIRED_RESIDENT, "部分", income=190),
                    ]
                ),
                "person",
                0,
            ),
            (
                "ended_after_death",
                "低保对象死亡, 其低保已于死亡后终止 (配偶仍在保)",
                lambda: hh(
                    [
                        M("户主", 78, True, RETIRED_RESIDENT, "部分", income=200),
                        M("配偶", 75, False, RETIRED_RESIDENT, "部分", income=190),
                    ]
                ),
                "person",
                0,
            ),
            (
                "dibao_then_tekun",
                "低保终止后次日转为特困供养 (不同时在保)",
                lambda: hh([M("户主", 72, False, RETIRED_RESIDENT, "无", income=180)]),
                "person",
                0,
            ),
        ],
        "R11": [
            (
                "basic_exact",
                "特困基本生活费恰好等于1.3倍低保标准, 全自理照料护理费恰好等于最低工资的1/10",
                lambda: hh([M("户主", 77, True, RETIRED_RESIDENT, "部分", income=180)]),
                "person",
                0,
            ),
            (
                "care_exact_half",
                "半护理照料护理费为最低工资1/6向上取整到分, 基本生活费恰好1.3倍城市低保标准",
                lambda: hh([M("户主", 83, False, RETIRED_RESIDENT, "部分", income=200)], rural=False),
                "person",
                0,
            ),
            (
                "care_exact_full",
                "全护理照料护理费为最低工资1/3向上取整到分",
                lambda: hh([M("户主", 68, True, NO_INCOME, "无", disability=2)]),
                "person",
                0,
            ),
            (
                "old_record_below",
                "低于标准的旧特困记录已终止, 新记录达标",
                lambda: hh([M("户主", 80, False, RETIRED_RESIDENT, "无", income=170)]),
                "person",
                0,
            ),
        ],
    }


def design(households: int) -> list[Case]:
    """The cases to plant, scaled with the county: from 300 households at least 3 per rule and every variant, and
    every near miss (at least 3 per rule); a smaller county gets the first variant of each."""
    per_rule = 1 if households < 300 else max(3, households // 3000)
    cases = []
    for rule, variants in _variants().items():
        for k in range(max(per_rule, len(variants) if households >= 300 else 1)):
            v, note, factory, subject, member = variants[k % len(variants)]
            cases.append(Case(rule, v, note, factory() if factory else None, subject, member))
            if rule == "R10" and v == "two_households":  # the second household the person is also registered in
                cases.append(
                    Case(
                        rule,
                        "two_households_other",
                        "第二个户编号 (同一人的另一在保记录)",
                        HouseholdSpec([M("户主", 67, True, RETIRED_RESIDENT, "部分", income=240)], rural=True),
                        "none",
                    )
                )
    for rule, variants in _near_miss_variants().items():
        for k in range(max(per_rule, len(variants)) if households >= 300 else 1):
            v, note, factory, subject, member = variants[k % len(variants)]
            cases.append(Case(rule, v, note, factory() if factory else None, subject, member, near_miss=True))
    return cases


def specs(cases: list[Case]) -> list[HouseholdSpec]:
    return [c.spec for c in cases if c.spec is not None]


def bind(cases: list[Case], pop: Population, n_random_households: int) -> np.ndarray:
    """Attach household / outsider indices; returns the persons to keep quiet (planted outsiders)."""
    k = n_random_households
    for c in cases:
        if c.spec is not None:
            c.h = k
            k += 1
    outsiders = np.flatnonzero(pop.p_hh < 0)
    need = [c for c in cases if c.spec is None]
    if len(outsiders) < len(need):
        raise ValueError("county too small for its outsider cases")
    quiet = np.zeros(pop.n_persons, bool)
    for c, p in zip(need, outsiders[: len(need)]):
        c.p = int(p)
        quiet[p] = True
    return quiet


def inject(
    cases: list[Case], pop: Population, tl: Timeline, hist: History, policy: Policy, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Add every planted case's (and near miss's) decisive records to the history; returns (rule_cases, near_misses, events)."""
    st, rules = policy.standards, policy.rules
    std_u, std_r = float(st.dibao_standard_urban), float(st.dibao_standard_rural)
    min_wage = float(st.minimum_wage)
    tekun_mult = float(policy.compliance.tekun_basic_multiple)
    care_share = policy.compliance.care_share_of_minimum_wage
    edge = float(rules.dibao_edge_multiple)
    oop_line = float(rules.medical_out_of_pocket_threshold)
    D = tl.as_of_day
    T: dict[str, list[dict[str, Any]]] = {name: [] for name in hist.tables}  # records added, per table
    rows: list[dict[str, Any]] = []  # the planted cases
    near: list[dict[str, Any]] = []  # the near misses
    events = []
    members = {h: np.flatnonzero(pop.p_hh == h) for h in {c.h for c in cases if c.h >= 0}}
    std_of = lambda h: std_u if pop.h_res[h] == 0 else std_r  # noqa: E731
    drop_after: dict[int, int] = {}  # person -> day after which routine rows must not exist (death, job loss)
    drop_settlements: set[int] = set()
    drop_contributions: set[int] = set()
    settle_base = hist.tables["settlements"].height

    def verification(h, day, pc, result):
        n = len(members[h])
        T["verifications"].append(
            dict(
                _h=h,
                verification_date=day,
                household_size=n,
                annual_income=round(pc * n * 12, 2),
                financial_assets=round(float(rng.uniform(500, 6000)), 2),
                vehicles=0,
                properties=1,
                verification_result=result,
            )
        )

    def assistance(h, p, cat, start, end=NEVER, amount=math.nan, basic=math.nan, care=math.nan, level=-1, mode=-1):
        T["assistance"].append(
            dict(
                _h=h,
                _p=p,
                category=cat,
                start_date=start,
                end_date=end,
                monthly_amount=amount,
                basic_living=basic,
                care_allowance=care,
                care_level=level,
                support_mode=mode,
            )
        )

    def settlement(p, day, total, oop, reverses=-1):
        fund = total - oop
        T["settlements"].append(
            dict(
                _p=p,
                settlement_date=day,
                visit_type=2,
                total_cost=int(total),
                fund_paid=int(fund),
                serious_illness_insurance_paid=0,
                medical_assistance_paid=0,
                out_of_pocket=int(oop),
                facility=int(rng.integers(0, len(vocab.FACILITIES_COUNTY))),
                reverses=reverses,
            )
        )
        return settle_base + len(T["settlements"]) - 1  # its row index once appended

    def inpatient_series(p, target_oop, first_day, n_stays, with_reversal):
        """n inpatient stays whose out-of-pocket adds up to target_oop (元), plus an optional reversed extra stay."""
        share = rng.dirichlet(np.ones(n_stays))
        oops = np.round(share * target_oop * 100).astype(int)
        oops[-1] = int(round(target_oop * 100)) - oops[:-1].sum()
        days = np.sort(rng.choice(np.arange(first_day, D - 3), size=n_stays, replace=False))
        for d, o in zip(days, oops):
            settlement(p, int(d), int(o * 2.5), int(o))
        if with_reversal:  # a stay settled and then cancelled: nets to zero
            d = int(days[0]) + 2
            i = settlement(p, d, 400_000, 150_000)
            T["settlements"].append(
                {
                    **T["settlements"][-1],
                    "settlement_date": d + 3,
                    "total_cost": -400_000,
                    "fund_paid": -250_000,
                    "out_of_pocket": -150_000,
                    "reverses": i,
                }
            )

    def contributions(p, months_back_from_day, n_months, base):
        """职工养老 rows for the n months up to and including the month of the given day."""
        m_idx = [mo.index for mo in tl.months if mo.start <= months_back_from_day]
        for m in m_idx[-n_months:]:
            T["insurance"].append(
                dict(_p=p, month=m, insurance_type=0, contribution_base=float(base), benefit_type=0, benefit_amount=0.0)
            )

    def row(c, person=-1, note=None):
        hid = pop.h_id[c.h] if c.h >= 0 else ""
        pid = pop.p_id[person] if person >= 0 else ""
        (near if c.near_miss else rows).append(
            dict(
                subject_type=c.subject,
                household_id=hid,
                id_number=pid if c.subject == "person" else "",
                subject_id_number=pid,
                rule_code=c.rule,
                variant=c.variant,
                as_of=tl.as_of.isoformat(),
                note=note or c.note,
                named_dates="|".join(date_of(d).isoformat() for d in c.named_dates),
                named_amounts="|".join(f"{a:.2f}" for a in c.named_amounts),
            )
        )

    def tekun(h, p, start, end=NEVER, basic=None, care=None, level=0):
        """A 特困 record; by default exactly compliant with item 2 (rounded up to the cent)."""
        std = std_of(h)
        basic = math.ceil(round(tekun_mult * std * 100, 6)) / 100 if basic is None else basic
        share = care_share[("全自理", "半护理", "全护理")[level]]
        care = math.ceil(round(share * min_wage * 100, 6)) / 100 if care is None else care
        assistance(h, p, TEKUN, start, end, amount=round(basic + care, 2), basic=basic, care=care, level=level, mode=1)

    def stays(p, oops_yuan, days):
        """Inpatient settlements with the given out-of-pocket amounts (元) on the given days."""
        for d, o in zip(days, oops_yuan):
            c = int(round(o * 100))
            settlement(p, int(d), int(c * 2.5), c)

    def _near_miss(c, h, mem, subj, std, dibao):
        v = c.variant
        if v == "stale_verification":
            verification(h, D - int(rng.integers(380, 420)), 0.5 * std, 0)
        elif v == "verified_not_eligible":
            verification(h, D - int(rng.integers(30, 90)), 0.6 * std, 1)
            T["verifications"][-1]["financial_assets"] = round(float(rng.uniform(180_000, 260_000)), 2)
        elif v == "income_at_standard_edge":
            verification(h, D - int(rng.integers(30, 120)), std, 0)
            for p in mem:
                assistance(h, int(p), EDGE, D - 300)
        elif v == "member_on_dibao":
            verification(h, D - int(rng.integers(30, 120)), 0.5 * std, 0)
            for p in mem:
                assistance(h, int(p), dibao, D - 700, amount=float(round(0.5 * std)))
        elif v == "already_edge":
            verification(h, D - int(rng.integers(30, 120)), 1.2 * std, 0)
            for p in mem:
                assistance(h, int(p), EDGE, D - 250)
        elif v == "income_at_edge_line":
            verification(h, D - int(rng.integers(30, 120)), edge * std, 1)
        elif v == "on_dibao":
            verification(h, D - int(rng.integers(30, 120)), 1.3 * std, 0)
            for p in mem:
                assistance(h, int(p), dibao, D - 800, amount=30.0)
        elif v == "reversal_under_line":
            drop_settlements.update(mem.tolist())
            days = np.sort(rng.choice(np.arange(D - 320, D - 20), size=3, replace=False))
            stays(int(mem[0]), [6200.0, 5800.0, 6500.0], days)  # 18,500 net
            d = int(days[1]) + 10
            i = settlement(int(mem[0]), d, 800_000, 300_000)  # 3,000 元 more, then cancelled
            T["settlements"].append(
                {
                    **T["settlements"][-1],
                    "settlement_date": d + 4,
                    "total_cost": -800_000,
                    "fund_paid": -500_000,
                    "out_of_pocket": -300_000,
                    "reverses": i,
                }
            )
        elif v == "just_under_line":
            drop_settlements.update(mem.tolist())
            days = np.sort(rng.choice(np.arange(D - 330, D - 10), size=3, replace=False))
            stays(int(mem[0]), [8000.0, 4400.0], days[:2])
            stays(int(mem[1]), [7500.0], days[2:])  # 19,900 in all
        elif v == "older_than_12m":
            drop_settlements.update(mem.tolist())
            days = np.sort(rng.choice(np.arange(D - 450, D - 380), size=3, replace=False))
            stays(int(mem[0]), [9000.0, 8500.0, 7500.0], days)
        elif v == "income_after_oop_above":
            drop_settlements.update(mem.tolist())
            n = len(mem)
            verification(h, D - int(rng.integers(40, 100)), 1.6 * std, 1)
            need = 0.6 * std * n * 12  # oop above this would cross the line
            stays(
                int(mem[0]),
                [round(0.45 * need, 2), round(0.35 * need, 2)],
                np.sort(rng.choice(np.arange(D - 300, D - 10), size=2, replace=False)),
            )
        elif v == "outsider_under_line":
            drop_settlements.add(subj)
            stays(subj, [7000.0, 6500.0, 6000.0], np.sort(rng.choice(np.arange(D - 300, D - 5), size=3, replace=False)))
        elif v == "one_reemployed":
            T["registrations"].append(
                dict(
                    _p=int(mem[0]),
                    registration_type=0,
                    registration_date=D - 300,
                    deregistration_date=NEVER,
                    employer=-1,
                )
            )
            T["registrations"].append(
                dict(
                    _p=int(mem[1]),
                    registration_type=0,
                    registration_date=D - 250,
                    deregistration_date=NEVER,
                    employer=-1,
                )
            )
            T["registrations"].append(
                dict(
                    _p=int(mem[1]),
                    registration_type=1,
                    registration_date=D - 120,
                    deregistration_date=NEVER,
                    employer=int(rng.integers(0, len(vocab.EMPLOYERS))),
                )
            )
        elif v == "deregistered":
            T["registrations"].append(
                dict(
                    _p=int(mem[0]),
                    registration_type=0,
                    registration_date=D - 280,
                    deregistration_date=NEVER,
                    employer=-1,
                )
            )
            T["registrations"].append(
                dict(
                    _p=int(mem[1]),
                    registration_type=0,
                    registration_date=D - 260,
                    deregistration_date=D - 45,
                    employer=-1,
                )
            )
        elif v in ("only_member_unable", "aged_60"):
            T["registrations"].append(
                dict(
                    _p=int(mem[0]),
                    registration_type=0,
                    registration_date=D - 200,
                    deregistration_date=NEVER,
                    employer=-1,
                )
            )
        elif v == "ill_on_tekun":
            T["diagnoses"].append(
                dict(_p=subj, diagnosis_date=D - 200, illness=int(rng.integers(0, N_SERIOUS)), facility=0)
            )
            events.append((h, subj, "illness", D - 200))
            verification(h, D - int(rng.integers(20, 90)), 0.8 * std, 0)
            tekun(h, subj, D - 150)
        elif v == "illness_25m":
            T["diagnoses"].append(
                dict(_p=int(mem[0]), diagnosis_date=D - 760, illness=int(rng.integers(0, N_SERIOUS)), facility=0)
            )
            events.append((h, int(mem[0]), "illness", D - 760))
            verification(h, D - int(rng.integers(20, 90)), 1.2 * std, 0)
            for p in mem:
                assistance(h, int(p), EDGE, D - 500)
        elif v == "disability_grade3":
            verification(h, D - int(rng.integers(20, 90)), 1.2 * std, 0)
            for p in mem:
                assistance(h, int(p), EDGE, D - 500)
        elif v == "tekun_postgraduate":
            tekun(h, subj, D - 3000, int(pop.p_birth[subj] + 18 * 365 + 5))
        elif v == "orphan_adult_not_in_school":
            assistance(h, subj, ORPHAN, D - 3000, int(pop.p_birth[subj] + 18 * 365 + 5), amount=1500.0)
        elif v == "dibao_ended_minor":
            for p in mem:
                assistance(h, int(p), dibao, D - 900, D - 100, amount=float(round(0.4 * std)))
        elif v == "orphan_now_tekun":
            assistance(h, subj, ORPHAN, D - 2000, D - 200, amount=1500.0)
            tekun(h, subj, D - 200)
        elif v in ("petition_100d", "other_neutral", "outsider_other_neutral", "outsider_petition_100d"):
            cat, text, day = {
                "petition_100d": ("生活困难", vocab.PETITION_HARDSHIP[0], D - 100),
                "other_neutral": ("其他", vocab.PETITION_OTHER[0], D - int(rng.integers(10, 60))),
                "outsider_other_neutral": ("其他", vocab.PETITION_OTHER[2], D - int(rng.integers(10, 60))),
                "outsider_petition_100d": ("医疗救助", vocab.PETITION_HARDSHIP[6], D - 100),
            }[v]
            T["petitions"].append(
                dict(
                    _p=subj,
                    registration_date=day,
                    petition_form=int(rng.integers(0, 4)),
                    township=int(pop.p_town[subj]),
                    petition_category=cat,
                    petition_text=text,
                    handling_status=1,
                )
            )
        elif v in ("death_aged_65", "death_resident_pension"):
            d = D - int(rng.integers(25, 50))
            T["deaths"].append(dict(_p=subj, death_date=d))
            hist.p_death[subj] = d
            drop_after[subj] = d
            drop_contributions.add(subj)
            if v == "death_aged_65":  # still paying 职工养老: only the age keeps the rule quiet
                contributions(subj, d, 6, pop.p_base[subj])
            else:  # a farmer: 居民养老 once a year, which says nothing of a job
                m = [mo.index for mo in tl.months if mo.start <= d][-2]
                T["insurance"].append(
                    dict(
                        _p=subj, month=m, insurance_type=1, contribution_base=500.0, benefit_type=0, benefit_amount=0.0
                    )
                )
            events.append((h, subj, "death", d))
        elif v == "illness_not_first":
            for d in (D - 200, D - int(rng.integers(20, 60))):
                T["diagnoses"].append(
                    dict(_p=subj, diagnosis_date=d, illness=int(rng.integers(0, N_SERIOUS)), facility=0)
                )
            events.append((h, subj, "illness", D - 200))
        elif v == "not_only_contributor":
            p = int(mem[1])
            d = D - int(rng.integers(40, 70))
            drop_after[p] = d
            drop_contributions.add(p)
            contributions(p, d, 6, pop.p_base[p])
            T["registrations"].append(
                dict(_p=p, registration_type=0, registration_date=d + 5, deregistration_date=NEVER, employer=-1)
            )
            events.append((h, p, "job_loss", d))
        elif v == "income_1_4":
            for p in mem:
                assistance(h, int(p), dibao, D - 600, amount=float(round(0.3 * std)))
            verification(h, D - int(rng.integers(20, 60)), 1.4 * std, 0)
        elif v == "death_after_as_of":
            for p in mem:
                assistance(h, int(p), RURAL_DIBAO, D - 500, amount=float(round(std - 300)))
            d = D + 3  # not yet known: no file carries it
            T["deaths"].append(dict(_p=subj, death_date=d))
            hist.p_death[subj] = d
        elif v == "ended_after_death":
            d = D - 200
            for p in mem:
                assistance(
                    h, int(p), RURAL_DIBAO, D - 600, d + 50 if p == subj else NEVER, amount=float(round(std - 280))
                )
            T["deaths"].append(dict(_p=subj, death_date=d))
            hist.p_death[subj] = d
            drop_after[subj] = d
            events.append((h, subj, "death", d))
        elif v == "dibao_then_tekun":
            assistance(h, subj, dibao, D - 800, D - 100, amount=float(round(std - 200)))
            tekun(h, subj, D - 99, level=0)
        elif v == "basic_exact":
            tekun(h, subj, D - 500, level=0)
        elif v == "care_exact_half":
            tekun(h, subj, D - 500, level=1)
        elif v == "care_exact_full":
            tekun(h, subj, D - 500, basic=math.ceil(tekun_mult * std) + 10, level=2)
        elif v == "old_record_below":
            tekun(h, subj, D - 900, D - 300, basic=math.floor((tekun_mult - 0.1) * std), level=0)
            tekun(h, subj, D - 300, basic=math.ceil(tekun_mult * std) + 20, level=0)
        else:
            raise ValueError(f"no injection for near miss {v}")

    other_of_two = [c for c in cases if c.variant == "two_households_other"]
    for c in cases:
        h = c.h
        mem = members.get(h, np.array([], int))
        subj = int(mem[c.subject_member]) if h >= 0 and c.subject != "none" else c.p
        std = std_of(h) if h >= 0 else std_u
        rural = h >= 0 and pop.h_res[h] == 1
        dibao = RURAL_DIBAO if rural else URBAN_DIBAO
        v = c.variant
        if c.near_miss:
            # no routine medical spending: with verified income at or just above the standard, any 个人自付 would
            # fire R03's income clause; a near miss's spending is only what it designs
            drop_settlements.update(mem.tolist() if h >= 0 else [subj])
            _near_miss(c, h, mem, subj, std, dibao)
        elif v == "low_income":
            verification(h, D - int(rng.integers(30, 90)), 0.55 * std, 0)
        elif v == "pending":
            verification(h, D - int(rng.integers(60, 150)), 0.7 * std, 2)
        elif v == "edge":
            verification(h, D - int(rng.integers(30, 120)), 1.25 * std, 1)
        elif v == "edge_urban":
            verification(h, D - int(rng.integers(30, 120)), 1.4 * std, 0)
        elif v == "oop_12m":
            drop_settlements.update(mem.tolist())
            inpatient_series(int(mem[1]), oop_line * 1.2, D - 330, 3, True)
        elif v == "oop_vs_income":
            drop_settlements.update(mem.tolist())
            verification(h, D - int(rng.integers(40, 100)), 1.6 * std, 1)
            n = len(mem)
            annual = 1.6 * std * n * 12
            need = annual - std * n * 12  # above this, (income - oop) per capita falls below the standard
            target = min(need + 0.35 * (oop_line - need), oop_line * 0.9) if need < oop_line else oop_line * 0.9
            inpatient_series(int(mem[0]), round(target, 2), D - 300, 2, False)
            c.extra["oop"] = target
        elif v == "outsider_oop":
            drop_settlements.add(subj)
            inpatient_series(subj, oop_line * 1.3, D - 300, 3, False)
        elif v == "just_below_edge_member":
            verification(h, D - int(rng.integers(30, 120)), std - 1, 0)
            for p in mem:
                assistance(h, int(p), EDGE, D - 400)
        elif v == "at_standard":
            verification(h, D - int(rng.integers(30, 120)), std, 0)
        elif v in ("all_unemployed", "single_unemployed", "age59_unemployed"):
            for k, p in enumerate(mem):
                age = (D - pop.p_birth[p]) // 365
                if 16 <= age <= 59 and pop.p_ability[p] in (0, 1):
                    T["registrations"].append(
                        dict(
                            _p=int(p),
                            registration_type=0,
                            registration_date=D - 200 + 40 * k,
                            deregistration_date=NEVER,
                            employer=-1,
                        )
                    )
        elif v == "disabled_edge":
            verification(h, D - int(rng.integers(30, 120)), 1.3 * std, 1)
            for p in mem:
                assistance(h, int(p), EDGE, D - 300)
        elif v == "serious_illness":
            T["diagnoses"].append(
                dict(_p=int(mem[0]), diagnosis_date=D - 240, illness=int(rng.integers(0, N_SERIOUS)), facility=0)
            )
            c.named_dates = [D - 240]
            verification(h, D - int(rng.integers(20, 60)), 1.2 * std, 1)
            events.append((h, int(mem[0]), "illness", D - 240))
        elif v == "illness_23m":
            T["diagnoses"].append(
                dict(_p=int(mem[0]), diagnosis_date=D - 700, illness=int(rng.integers(0, N_SERIOUS)), facility=0)
            )
            c.named_dates = [D - 700]
            verification(h, D - int(rng.integers(20, 90)), 1.3 * std, 0)
            for p in mem:
                assistance(h, int(p), EDGE, D - 500)
            events.append((h, int(mem[0]), "illness", D - 700))
        elif v == "orphan_vocational":
            assistance(h, subj, ORPHAN, D - 3000, int(pop.p_birth[subj] + 18 * 365 + 5), amount=1500.0)
        elif v == "care_below_half":
            basic = math.ceil(tekun_mult * std) + 10
            care = math.floor(care_share["半护理"] * min_wage) - 2
            assistance(h, subj, TEKUN, D - 500, amount=basic + care, basic=basic, care=care, level=1, mode=1)
            c.named_dates, c.named_amounts = [D - 500], [float(care)]  # since when, and the allowance paid
        elif v == "orphan_minor":
            assistance(h, subj, ORPHAN, D - 2000, D - 60, amount=1500.0)
        elif v == "tekun_student":
            y18 = int(pop.p_birth[subj] + 18 * 365 + 5)
            basic = math.ceil(tekun_mult * std)
            assistance(
                h,
                subj,
                TEKUN,
                D - 3000,
                y18,
                amount=basic + math.ceil(care_share["全自理"] * min_wage),
                basic=basic,
                care=math.ceil(care_share["全自理"] * min_wage),
                level=0,
                mode=1,
            )
        elif v in ("hardship_category", "hardship_text", "outsider_petition"):
            cat, text = {
                "hardship_category": ("生活困难", vocab.PETITION_HARDSHIP[0]),
                "hardship_text": ("其他", vocab.PETITION_HIDDEN_HARDSHIP[0]),
                "outsider_petition": ("医疗救助", vocab.PETITION_HARDSHIP[6]),
            }[v]
            town = pop.p_town[subj]
            T["petitions"].append(
                dict(
                    _p=subj,
                    registration_date=D - int(rng.integers(15, 60)),
                    petition_form=int(rng.integers(0, 4)),
                    township=int(town),
                    petition_category=cat,
                    petition_text=text,
                    handling_status=1,
                )
            )
        elif v == "earner_death":
            d = D - int(rng.integers(20, 60))
            T["deaths"].append(dict(_p=subj, death_date=d))
            hist.p_death[subj] = d
            drop_after[subj] = d
            contributions(subj, d, 6, pop.p_base[subj])  # the decisive contributions, also if routine rows are dropped
            drop_contributions.add(subj)
            events.append((h, subj, "earner_death", d))
            c.named_dates = [d]  # paid until the month of the death
        elif v == "first_serious_illness":
            d = D - int(rng.integers(20, 70))
            T["diagnoses"].append(dict(_p=subj, diagnosis_date=d, illness=int(rng.integers(0, N_SERIOUS)), facility=0))
            events.append((h, subj, "illness", d))
            c.named_dates = [d]
        elif v == "only_contributor_unemployed":
            d = D - int(rng.integers(40, 70))
            drop_after[subj] = d
            drop_contributions.add(subj)
            contributions(subj, d, 6, pop.p_base[subj])
            T["registrations"].append(
                dict(_p=subj, registration_type=0, registration_date=d + 5, deregistration_date=NEVER, employer=-1)
            )
            events.append((h, subj, "job_loss", d))
            c.named_dates, c.named_amounts = [d + 5], [float(pop.p_base[subj])]  # registered; the last base paid
        elif v == "dead_recipient":
            for p in mem:
                assistance(h, int(p), RURAL_DIBAO, D - 400, amount=float(round(std - 300)))
            d = D - int(rng.integers(40, 80))
            T["deaths"].append(dict(_p=subj, death_date=d))
            hist.p_death[subj] = d
            drop_after[subj] = d
            events.append((h, subj, "death", d))
            c.named_dates, c.named_amounts = [d], [float(round(std - 300))]  # died; still paid
        elif v == "income_recovered":
            for p in mem:
                assistance(h, int(p), dibao, D - 500, amount=float(round(0.3 * std)))
            verification(h, D - int(rng.integers(20, 60)), 1.8 * std, 1)
        elif v == "two_households":
            other = other_of_two.pop(0)
            for p in mem:
                assistance(h, int(p), RURAL_DIBAO, D - 300, amount=float(round(std - 250)))
            for p in members[other.h]:
                assistance(other.h, int(p), RURAL_DIBAO, D - 420, amount=float(round(std - 240)))
            assistance(other.h, subj, RURAL_DIBAO, D - 200, amount=float(round(std - 240)))
            c.note = f"{c.note}; 另一户编号 {pop.h_id[other.h]}"
            c.named_amounts = [float(round(std - 250)), float(round(std - 240))]  # paid here, and there
        elif v == "dibao_and_tekun":
            basic = math.ceil(tekun_mult * std)
            care = math.ceil(care_share["全自理"] * min_wage)
            assistance(h, subj, TEKUN, D - 700, amount=basic + care, basic=basic, care=care, level=0, mode=1)
            assistance(h, subj, dibao, D - 150, amount=float(round(std - 180)))
            c.named_amounts = [float(basic + care), float(round(std - 180))]
        elif v == "basic_below":
            basic = math.floor((tekun_mult - 0.1) * std)
            care = math.ceil(care_share["半护理"] * min_wage)
            assistance(h, subj, TEKUN, D - 600, amount=basic + care, basic=basic, care=care, level=1, mode=1)
            c.named_dates, c.named_amounts = [D - 600], [float(basic)]
        elif v == "care_below":
            basic = math.ceil(tekun_mult * std) + 20
            care = math.floor(care_share["全护理"] * min_wage) - 120
            assistance(h, subj, TEKUN, D - 600, amount=basic + care, basic=basic, care=care, level=2, mode=0)
            c.named_dates, c.named_amounts = [D - 600], [float(care)]
        if c.subject != "none":
            row(c, subj if c.subject == "person" else (int(mem[0]) if h >= 0 else subj))

    # routine rows that would contradict a design: after a death or job loss, and replaced settlements
    t = hist.tables
    if drop_settlements or drop_after:
        s = t["settlements"]
        pa = np.array(list(drop_after), dtype=np.int64)
        cut = np.full(pop.n_persons, NEVER, np.int64)
        cut[pa] = [drop_after[p] for p in pa]
        pp, dd = s["_p"].to_numpy(), s["settlement_date"].to_numpy()
        bad = np.isin(pp, list(drop_settlements)) | (dd > cut[pp])
        t["settlements"] = _drop_rows(s, ~bad) if bad.any() else s
        settle_base_after = t["settlements"].height
        shift = settle_base_after - settle_base
        for r in T["settlements"]:
            if r["reverses"] >= 0:
                r["reverses"] += shift
    if drop_contributions or drop_after:
        ins = t["insurance"]
        pp, mm = ins["_p"].to_numpy(), ins["month"].to_numpy()
        month_start = np.array([mo.start for mo in tl.months])
        cut = np.full(pop.n_persons, NEVER, np.int64)
        for p, d in drop_after.items():
            cut[p] = d
        bad = (month_start[mm] > cut[pp]) | np.isin(pp, list(drop_contributions)) & (
            ins["contribution_base"].to_numpy() > 0
        )
        t["insurance"] = ins.filter(pl.Series(~bad))
    for name, recs in T.items():
        if recs:
            add = pl.DataFrame(recs).select(t[name].columns) if t[name].height else pl.DataFrame(recs)
            t[name] = pl.concat([t[name], add.cast(t[name].schema)], how="vertical") if t[name].height else add
    ev = (
        pl.DataFrame(
            {
                "_h": [e[0] for e in events],
                "_p": [e[1] for e in events],
                "event": [e[2] for e in events],
                "date": [e[3] for e in events],
            },
            schema=hist.events.schema,
        )
        if events
        else None
    )
    if ev is not None:
        hist.events = pl.concat([hist.events, ev])
    schema = {
        k: pl.String
        for k in (
            "subject_type",
            "household_id",
            "id_number",
            "subject_id_number",
            "rule_code",
            "variant",
            "as_of",
            "note",
            "named_dates",
            "named_amounts",
        )
    }
    return pl.DataFrame(rows, schema=schema), pl.DataFrame(near, schema=schema), hist.events


def _drop_rows(s: pl.DataFrame, keep: np.ndarray) -> pl.DataFrame:
    """Drop settlement rows and re-point reversals (原结算编号 is a row index until delivery names it)."""
    rev = s["reverses"].to_numpy()
    ok = (rev < 0) | keep[np.maximum(rev, 0)]
    keep = keep & ok
    new_index = np.cumsum(keep) - 1
    rev2 = np.where(rev >= 0, new_index[np.maximum(rev, 0)], -1)
    return s.with_columns(reverses=pl.Series(rev2)).filter(pl.Series(keep))
