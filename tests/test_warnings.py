"""The warning list: rules with their edge cases, episodes over nights, escalation,
township feedback, and the exports read back."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from python_calamine import CalamineWorkbook

from jiuzhu.config import load_policy
from jiuzhu.idnumber import make_id
from transform.monitoring.warnings import build_warnings
from warehouse.resource import connect

MEMBERS = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居,劳动能力,在校情况,家庭住址,联系电话\n"
VERIFY = "核对编号,户编号,核对日期,家庭人口,家庭年收入,核对结论\n"
SETTLE = (
    "结算编号,身份证号,姓名,结算日期,就诊类别,医疗总费用,统筹基金支付,大病保险支付,医疗救助支付,个人自付,原结算编号\n"
)
ASSIST = "户编号,身份证号,姓名,救助类别,开始日期,终止日期,月保障金额,状态\n"
FEEDBACK = "预警编号,户编号,核查日期,核查结果,帮扶措施,核查人\n"
PETITION = "信访件编号,身份证号,姓名,登记日期,问题属地,问题类别,诉求内容\n"

P = {
    k: make_id("370725", b, n)
    for k, b, n in [
        ("a", "19700101", 11),
        ("b", "19710101", 12),
        ("c", "19720101", 13),
        ("d", "19730101", 14),
        ("e", "19740101", 15),
        ("f", "20000101", 16),
        ("g", "19750101", 17),
        ("h", "19760101", 18),
        ("i", "19770101", 19),
    ]
}


def roster(extra: str = "") -> str:
    return MEMBERS + (
        f"H1,{P['a']},张一,户主,农业,红河,甲村,完全,非在校,红河镇甲村1号,13800000001\n"  # R01 (income low)
        f"H2,{P['b']},张二,户主,农业,红河,甲村,完全,非在校,红河镇甲村2号,13800000002\n"  # verification too old
        f'H3,{P["c"]},张三,户主,非农业,宝城,乙社区,完全,非在校,宝城街道乙社区3号,=HYPERLINK("x")\n'  # 不符合
        f"H4,{P['d']},张四,户主,农业,营丘,丙村,完全,非在校,营丘镇丙村4号,13800000004\n"  # R03 (spending)
        f"H5,{P['e']},张五,户主,农业,营丘,丙村,完全,非在校,营丘镇丙村5号,13800000005\n"  # reversal brings it under
        f"H6,{P['f']},张六,户主,非农业,宝都,丁社区,部分,研究生,宝都街道6号,13800000006\n"  # tekun ended, 研究生
        f"H7,{P['g']},张七,户主,农业,乔官,戊村,完全,非在校,乔官镇7号,13800000007\n" + extra  # R08 petition
    )


def load(landing, as_of: dt.date):
    return landing.night(as_of, warnings=True)


def hits(landing, as_of: dt.date) -> set[tuple[str, str]]:
    return set(
        landing.query(
            "SELECT subject_id, rule_code FROM monitoring.rule_hits WHERE as_of_date = ? AND NOT suppressed", [as_of]
        )
    )


def warnings(landing, as_of: dt.date) -> dict[str, tuple]:
    rows = landing.query(
        "SELECT subject_id, warning_id, level, rule_codes, status, first_flagged_on FROM monitoring.warnings WHERE as_of_date = ?",
        [as_of],
    )
    return {r[0]: r[1:] for r in rows}


def base(landing):
    landing.write("mz_members", "m_20261101.csv", roster())
    landing.write(
        "mz_verification",
        "v_20261101.csv",
        VERIFY
        + (
            "K1,H1,2026-10-01,1,4800,符合\n"  # 400/month < 680: R01
            "K2,H2,2025-09-01,1,4800,符合\n"  # older than 12 months: nothing
            "K3,H3,2026-10-01,1,4800,不符合\n"  # 不符合: no R01
        ),
    )
    landing.write(
        "yb_settlements",
        "yb_20261101.csv",
        SETTLE
        + (
            f"S1,{P['d']},张四,2026-09-01,住院,40000,15000,0,0,25000,\n"  # 25,000 ≥ 20,000: R03
            f"S2,{P['e']},张五,2026-09-01,住院,40000,15000,0,0,25000,\n"
            f"S3,{P['e']},张五,2026-09-05,住院,-30000,-20000,0,0,-10000,S2\n"  # nets to 15,000: no R03
        ),
    )
    landing.write(
        "mz_assistance",
        "a_20261101.csv",
        ASSIST
        + (
            f"H6,{P['f']},张六,特困供养,2010-01-01,2026-06-30,900,终止\n"  # ended; 26 and 研究生: no R06
        ),
    )
    landing.write("xf_petitions", "x_20261101.csv", PETITION + f"X1,{P['g']},张七,2026-10-20,乔官,生活困难,家里困难\n")
    # nothing to report, but delivered: the rules that need these feeds are evaluated (R09, R10)
    landing.write("wj_deaths", "d_20261101.csv", "身份证号,姓名,死亡日期\n")
    landing.write("rs_employment", "e_20261101.csv", "登记编号,身份证号,姓名,登记类别,登记日期\n")
    landing.write("rs_insurance", "i_20261101.csv", "身份证号,姓名,险种,费款所属期\n")


def test_rules_fire_on_their_cases_and_not_on_the_near_misses(landing):
    base(landing)
    d = dt.date(2026, 11, 1)
    load(landing, d)
    got = hits(landing, d)
    assert ("H1", "R01") in got and ("H4", "R03") in got and ("H7", "R08") in got
    assert not {("H2", "R01"), ("H3", "R01"), ("H5", "R03"), ("H6", "R06")} & got
    reason = landing.query("SELECT reason, figures FROM monitoring.rule_hits WHERE subject_id = 'H4'")[0]
    assert "近12个月医疗自付 25,000 元" in reason[0] and "超过预警线 20,000 元" in reason[0]
    sources = landing.query("SELECT feed, source_file, source_row FROM monitoring.rule_sources WHERE subject_id = 'H4'")
    assert sources == [("yb_settlements", "yb_20261101.csv", 2)]
    w = warnings(landing, d)
    assert w["H1"][1] == "红" and w["H4"][1] == "橙" and w["H7"][1] == "橙"
    assert all(v[3] == "new" for v in w.values())


def test_a_reason_names_its_members_in_a_fixed_order_and_counts_the_rest(landing):
    """Five severely disabled members, none on assistance, low income (R05): the reason names three by name
    and masked ID, in the order of their ID numbers whatever the roster's order (never of their keyed
    person_keys: another county key would list them otherwise), and says how many in all.
    A person on 低保 whom two households' rosters list (R10): both households' reasons say who, what is paid,
    and which 户编号."""
    from jiuzhu.idnumber import mask

    base(landing)
    family = [
        (f"孙{n}", make_id("370725", f"19{70 - i}0101", 30 + i)) for i, n in enumerate("一二三四五")
    ]  # listed by ID: last first
    landing.write(
        "mz_members",
        "m_20261101_补录.csv",
        "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居,劳动能力,残疾等级\n"
        + "".join(
            f"H8,{pid},{name},{'户主' if i == 0 else '子女'},农业,红河,甲村,无,{'一级' if i % 2 else '二级'}\n"
            for i, (name, pid) in enumerate(family)
        )
        + f"H9,{P['h']},张八,户主,农业,红河,甲村,完全,\nH10,{P['h']},张八,户主,农业,红河,甲村,完全,\n",
    )
    landing.write("mz_assistance", "a_20261101_补录.csv", ASSIST + f"H9,{P['h']},张八,农村低保,2026-01-01,,300,在保\n")
    landing.write("mz_verification", "v_20261101_补录.csv", VERIFY + "K8,H8,2026-10-01,5,24000,符合\n")  # 400/month
    landing.write("wj_diagnoses", "dx_20261101.csv", "登记编号,身份证号,诊断日期,病种类别\n")  # R05 reads it: delivered
    d = dt.date(2026, 11, 1)
    load(landing, d)
    grade = {pid: "一级" if i % 2 else "二级" for i, (_, pid) in enumerate(family)}
    named = [f"{name}（{mask(pid)}）{grade[pid]}残疾" for name, pid in sorted(family, key=lambda m: m[1])]
    [(reason,)] = landing.query("SELECT reason FROM monitoring.rule_hits WHERE subject_id = 'H8' AND rule_code = 'R05'")
    assert reason.endswith("未享受低保特困的成员：" + "；".join(named[:3]) + "；等 5 人")
    assert "核对人均月收入 400 元（2026-10-01 核对）" in reason
    double = dict(landing.query("SELECT subject_id, reason FROM monitoring.rule_hits WHERE rule_code = 'R10'"))
    said = f"张八（{mask(P['h'])}）农村低保 300 元/月，名册中同在户编号 H10、H9"
    assert set(double) == {"H9", "H10"} and all(r.endswith(said) for r in double.values())


@pytest.mark.slow  # four nights
def test_episodes_continue_escalate_and_resolve(landing):
    base(landing)
    d1, d2, d3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 12)
    load(landing, d1)
    first = warnings(landing, d1)
    load(landing, d2)
    second = warnings(landing, d2)
    assert second["H4"][0] == first["H4"][0] and second["H4"][3] == "continuing"  # same episode, same id
    # H4 gets a first serious illness too: still one warning; and after 10 days without feedback
    # the 橙 warnings (response window 7 days) escalate
    landing.write(
        "wj_diagnoses", "dx_20261110.csv", f"登记编号,身份证号,诊断日期,病种类别\nD1,{P['d']},2026-11-08,大病\n"
    )
    landing.write("xf_petitions", "x_20261111.csv", PETITION)  # nothing new
    load(landing, d3)
    third = warnings(landing, d3)
    assert third["H4"][0] == first["H4"][0] and set(third["H4"][2]) == {"R03", "R09"}
    assert third["H4"][3] == "escalated" and third["H4"][4] == d1
    # a petition older than 90 days no longer counts: H7's warning ends and is listed once
    load(landing, dt.date(2027, 1, 25))
    assert "H7" not in warnings(landing, dt.date(2027, 1, 25))
    resolved = landing.query("SELECT as_of_date, warning_id FROM monitoring.resolved_warnings")
    assert resolved == [(dt.date(2027, 1, 25), first["H7"][0])]
    # 乔官镇 has no open warning left, and still gets the workbook that tells it why H7's ended
    from exports.township import listed_warnings

    [book] = (landing.warehouse.parent / "exports" / "2027-01-25").glob("*_乔官镇.xlsx")
    ended = CalamineWorkbook.from_path(str(book)).get_sheet_by_name("本期解除").to_python()
    assert listed_warnings(ended) == [first["H7"][0]]


@pytest.mark.slow  # three nights
def test_feedback_not_true_suppresses_until_worse_and_already_covered_is_checked(landing):
    base(landing)
    d1, d2 = dt.date(2026, 11, 1), dt.date(2026, 11, 3)
    load(landing, d1)
    w = warnings(landing, d1)
    landing.write(
        "zj_feedback",
        "fb_20261102.csv",
        FEEDBACK + (f"{w['H4'][0]},H4,2026-11-02,情况不属实,无,李干部\n{w['H1'][0]},H1,2026-11-02,已在保,无,李干部\n"),
    )
    load(landing, d2)
    assert ("H4", "R03") not in hits(landing, d2)  # held back by 情况不属实
    assert "H4" not in warnings(landing, d2)
    lag = landing.query("SELECT household_id, note FROM monitoring.data_lag_cases WHERE as_of_date = ?", [d2])
    assert lag and lag[0][0] == "H1" and "滞后" in lag[0][1]  # 已在保, but the rolls show nobody
    # spending grows by far more than 20 %: the warning comes back
    landing.write(
        "yb_settlements", "yb_20261104.csv", SETTLE + f"S9,{P['d']},张四,2026-11-03,住院,20000,5000,0,0,15000,\n"
    )
    load(landing, dt.date(2026, 11, 4))
    assert ("H4", "R03") in hits(landing, dt.date(2026, 11, 4))


def test_exports_are_scoped_masked_and_safe(landing):
    base(landing)
    d = dt.date(2026, 11, 1)
    load(landing, d)
    out = landing.warehouse.parent / "exports" / d.isoformat()
    names = sorted(p.name for p in out.glob("*_*.xlsx"))
    assert names == [
        "370725107_乔官镇.xlsx",
        "370725110_红河镇.xlsx",
        "370725116_营丘镇.xlsx",
        "社会救助综合服务中心_督办汇总.xlsx",
    ]
    assert (out / "反馈表模板.xlsx").exists()  # the blank answer form goes out with the night
    wb = CalamineWorkbook.from_path(str(out / "370725110_红河镇.xlsx"))
    assert wb.sheet_names == ["新增预警", "持续预警", "本期解除", "反馈", "规则说明"]
    rows = wb.get_sheet_by_name("新增预警").to_python()
    rows = rows[next(i for i, r in enumerate(rows) if r[0] == "预警编号") :]  # under the title lines
    head = rows[0]
    assert head[:4] == ["预警编号", "等级", "状态", "应反馈日期"] and "风险分" not in head
    listed = [dict(zip(head, r)) for r in rows[1:]]
    assert [r["户编号"] for r in listed] == ["H1"]  # only this township's households
    assert listed[0]["姓名"] == "张一" and listed[0]["身份证号"] == P["a"][:6] + "********" + P["a"][-4:]
    text = str([wb.get_sheet_by_name(s).to_python() for s in wb.sheet_names])
    assert P["a"] not in text
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert "sha256" in manifest and "县医保局" in manifest  # the R03 list for 医保局


def test_text_that_looks_like_a_formula_is_neutralised():
    from exports.excel import neutralise

    assert neutralise('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert neutralise("-1") == "'-1" and neutralise("13800000001") == "13800000001"


def test_a_policy_file_that_breaks_items_1_and_2_is_refused():
    from models.compliance import compliance_problems

    policy = load_policy(dt.date(2026, 11, 28))
    assert compliance_problems(policy) == []
    bad = replace(policy, standards=replace(policy.standards, dibao_standard_urban=1200))
    problems = compliance_problems(bad)
    assert any("城市低保标准 1200" in p and "第1条" in p for p in problems)  # 48 % of consumption
    assert any("城乡低保标准之比" in p for p in problems)  # 1200 : 680 > 1.3


def test_a_blocked_feed_leaves_its_rules_unevaluated_and_says_so(landing):
    base(landing)
    d = dt.date(2026, 11, 1)
    load(landing, d)
    with connect(landing.warehouse) as con:  # the gate closes the settlements, as for a broken extract
        con.execute(
            "UPDATE audit.feed_gate SET usable = false, problems = '今晚 12.0% 的数据行被隔离' "
            "WHERE as_of_date = ? AND feed = 'yb_settlements'",
            [d],
        )
        build_warnings(con, d, load_policy(d))
    status = dict(landing.query("SELECT rule_code, evaluated FROM monitoring.rule_status WHERE as_of_date = ?", [d]))
    assert status["R03"] is False and status["R01"] is True
    assert ("H4", "R03") not in hits(landing, d) and ("H1", "R01") in hits(landing, d)
    reason = landing.query("SELECT reason FROM monitoring.rule_status WHERE rule_code = 'R03'")[0][0]
    assert "yb_settlements" in reason and "12.0%" in reason


def test_m01_fires_only_where_no_rule_does_and_orders_by_score(landing):
    base(landing)
    d = dt.date(2026, 11, 1)
    load(landing, d)
    with connect(landing.warehouse) as con:
        con.execute(
            """INSERT INTO monitoring.household_scores
                   (as_of_date, household_id, risk_score, model_version, top_factors, estimated_income_per_capita)
               VALUES
               (?, 'H2', 0.6, 'test', '近6个月无社保缴费记录', 420),  -- no rule fires: M01, 橙 (≥ 0.5)
               (?, 'H3', 0.25, 'test', NULL, NULL),                   -- no rule fires: M01, 黄
               (?, 'H5', 0.1, 'test', NULL, 2000),                    -- below the threshold
               (?, 'H1', 0.9, 'test', NULL, 300)""",  # R01 fires: no M01
            [d, d, d, d],
        )
        build_warnings(con, d, load_policy(d))
    w = warnings(landing, d)
    assert w["H2"][1:3] == ("橙", ["M01"]) and w["H3"][1:3] == ("黄", ["M01"])
    assert "H5" not in w and w["H1"][2] == ["R01"]
    reason = landing.query("SELECT reasons, risk_score FROM monitoring.warnings WHERE subject_id = 'H2'")[0]
    assert "60%" in reason[0] and "近6个月无社保缴费记录" in reason[0] and reason[1] == 0.6
    # the proxy-means estimate is shown, as an estimate that decides nothing
    assert "估算人均月收入约 420 元（估算，未经核对，不作为低保认定依据）" in reason[0]


def test_a_townships_list_follows_its_visit_order_within_a_level_and_deadline(landing):
    # three households of 红河 with no rule firing, all M01 黄 with the same deadline; the visit order
    # (transform/model/visit_order.py) puts H8 before the higher-scored H9, and the workbook follows it
    import exports.township as township

    base(landing)
    extra = (
        f"H8,{P['h']},张八,户主,农业,红河,甲村,完全,非在校,红河镇甲村8号,13800000008\n"
        f"H9,{P['i']},张九,户主,农业,红河,甲村,完全,非在校,红河镇甲村9号,13800000009\n"
    )
    landing.write("mz_members", "m_20261101.csv", roster(extra))
    d = dt.date(2026, 11, 1)
    load(landing, d)
    with connect(landing.warehouse) as con:
        con.execute("DELETE FROM monitoring.household_scores WHERE as_of_date = ?", [d])
        con.execute(
            """INSERT INTO monitoring.household_scores (as_of_date, household_id, risk_score, model_version, visit_order)
               VALUES (?, 'H2', 0.3, 'test', 3), (?, 'H8', 0.25, 'test', 1), (?, 'H9', 0.4, 'test', 2)""",
            [d, d, d],
        )
        build_warnings(con, d, load_policy(d))
        township.write_exports(con, d, landing.warehouse.parent / "exports" / d.isoformat(), load_policy(d), "order")
    wb = CalamineWorkbook.from_path(str(landing.warehouse.parent / "exports" / d.isoformat() / "370725110_红河镇.xlsx"))
    rows = wb.get_sheet_by_name("新增预警").to_python()
    rows = rows[next(i for i, r in enumerate(rows) if r[0] == "预警编号") :]
    listed = [dict(zip(rows[0], r)) for r in rows[1:]]
    m01 = [r["户编号"] for r in listed if r["等级"] == "黄"]
    assert m01 == ["H8", "H9", "H2"]
    # the bureau's county-wide list keeps the score's order: a visit order ranks within one township
    book = CalamineWorkbook.from_path(
        str(landing.warehouse.parent / "exports" / d.isoformat() / "departments" / "县民政局.xlsx")
    )
    rows = book.get_sheet_by_name("预警清单").to_python()
    rows = rows[next(i for i, r in enumerate(rows) if r[0] == "预警编号") :]
    listed = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert [r["户编号"] for r in listed if r["等级"] == "黄"] == ["H9", "H2", "H8"]


@pytest.mark.slow  # trains both candidate models
def test_the_risk_model_learns_from_history_and_explains_itself():
    import numpy as np
    import pandas as pd

    from models.income import PROXIES
    from models.risk import FEATURES, factor_sentences, train

    rng = np.random.default_rng(3)
    rows = []
    for month in range(8):
        n = 800
        f = {name: rng.integers(0, 3, n).astype(float) for name in {*FEATURES, *PROXIES}}
        f["oop_3m"] = rng.exponential(500, n)
        f["oop_prev_3m"] = rng.exponential(500, n)
        f["contributors_6m"] = rng.integers(0, 2, n).astype(float)
        f["income_to_standard"] = rng.uniform(0.5, 3, n)
        f["verification_date"] = pd.Timestamp(2026, month + 1, 1)
        f["residence_type"] = np.where(rng.random(n) < 0.5, "农村", "城镇")
        f["dibao_standard"] = np.where(f["residence_type"] == "城镇", 900.0, 750.0)
        # the verified income follows the declared wages: what the proxy-means estimate must learn
        f["wage_base_monthly"] = rng.choice([0.0, 3500.0, 6000.0], n)
        f["per_capita_monthly_income"] = (300 + f["wage_base_monthly"] / (1 + f["members"])) * rng.lognormal(0, 0.1, n)
        f["household_id"] = [f"H{month}-{i}" for i in range(n)]
        risk = 0.02 + 0.3 * (f["oop_3m"] > 1500) + 0.3 * (f["contributors_6m"] == 0) * (f["income_to_standard"] < 1.2)
        f["label"] = rng.random(n) < risk
        f["as_of_date"] = pd.Timestamp(2026, month + 1, 28)
        rows.append(pd.DataFrame(f))
    model = train(pd.concat(rows, ignore_index=True))
    assert model.metrics[model.kind]["roc_auc"] > 0.75
    assert set(model.metrics) == {"logistic_regression", "gradient_boosting"}
    assert model.income.metrics["spearman"] > 0.8  # the estimate ranks held-out verified incomes
    # the model in use and a new one are compared on the same held-out rows
    from models.risk import held_out_auc

    everything = pd.concat(rows, ignore_index=True)
    held_out = everything[everything["as_of_date"].dt.date.astype(str).isin(model.test_dates)]
    assert held_out_auc(model, held_out) == model.metrics[model.kind]["roc_auc"]
    frame = pd.concat(rows[-1:], ignore_index=True)
    x = model.inputs(frame)
    top = np.argsort(-model.predict(x))[:20]
    sentences = [factor_sentences(e) for e in model.explain(x.iloc[top])]
    # the facts that drive the risk here: medical costs, no contributions, verified income below 1.2 × the standard
    assert sum(any(k in s for k in ("医疗自付", "社保缴费", "核对人均收入")) for s in sentences) >= 18

    from models.model_card import card_figures, card_markdown

    holdout = model.holdout.assign(
        township_name=np.where(rng.random(len(model.holdout)) < 0.5, "红河镇", "宝城街道"),
        head_sex="男",
        head_age=45,
        severe_disability=0,
    )
    figures = card_figures(holdout, k=20)
    assert figures["overall"]["roc_auc"] > 0.75 and 0 <= figures["overall"]["recall_at_k"] <= 1
    assert set(figures["recall_at_k_by_township"]) == {"红河镇", "宝城街道"}
    assert figures["largest_gap"] is not None and len(figures["calibration"]) >= 2
    text = card_markdown("v1", model.kind, figures, model.train_dates, model.test_dates)
    assert "ROC-AUC" in text and "recall@K" in text and "最大差距" in text


def night_rows(landing, d: dt.date) -> dict[str, list[str]]:
    from transform.monitoring.warnings import NIGHT_TABLES

    return {
        t: sorted(map(repr, landing.query(f"SELECT * FROM monitoring.{t} WHERE as_of_date = ?", [d])))
        for t in NIGHT_TABLES
    }


def test_a_failure_while_building_the_list_leaves_the_nights_tables_as_they_were(landing, monkeypatch):
    import pytest

    import transform.monitoring.warnings as w

    base(landing)
    d = dt.date(2026, 11, 1)
    load(landing, d)
    before = night_rows(landing, d)
    assert before["warnings"] and before["rule_hits"] and before["rule_sources"] and before["rule_status"]

    def disk_gone(con, params):  # the hits are written again, the warnings deleted but not yet rebuilt
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w, "_episodes", disk_gone)
    with connect(landing.warehouse) as con:
        with pytest.raises(OSError):
            build_warnings(con, d, load_policy(d))
        assert con.execute("SELECT count(*) FROM monitoring.warnings").fetchall()[0][0] == len(before["warnings"])
    assert night_rows(landing, d) == before


def test_the_nights_export_log_is_written_whole_or_not_at_all(landing, monkeypatch):
    import pytest

    import exports.township as township

    base(landing)
    d = dt.date(2026, 11, 1)
    load(landing, d)
    logged = landing.query("SELECT kind, file FROM audit.export_log WHERE as_of_date = ? ORDER BY ALL", [d])
    assert {k for k, _ in logged} == {"township", "department", "feedback_template", "manifest", "supervision"}
    real = township.log_export

    def manifest_fails(con, as_of, path, kind, *args):
        if kind == "manifest":
            raise OSError(28, "No space left on device")
        return real(con, as_of, path, kind, *args)

    monkeypatch.setattr(township, "log_export", manifest_fails)
    with connect(landing.warehouse) as con, pytest.raises(OSError):
        township.write_exports(con, d, landing.warehouse.parent / "exports" / d.isoformat(), load_policy(d), "again")
    # the workbooks written before the failure are not logged a second time
    assert landing.query("SELECT kind, file FROM audit.export_log WHERE as_of_date = ? ORDER BY ALL", [d]) == logged


def test_workbooks_written_in_a_second_process_are_the_same_and_the_owners_only(landing, monkeypatch):
    """A large night writes its workbooks in two processes (exports.township.write_books): the same
    cells as written in one, owner-only files."""
    import os

    import exports.township as township

    base(landing)
    d = dt.date(2026, 11, 1)
    load(landing, d)
    here = landing.warehouse.parent / "exports" / d.isoformat()
    two = landing.warehouse.parent / "two-processes"
    monkeypatch.setattr(township, "PARALLEL_FROM_ROWS", 0)
    monkeypatch.setattr(township.os, "cpu_count", lambda: 2)
    previous = os.umask(0o077)  # as `jiuzhu run` sets it (pipelines/cli.py), before any process starts
    try:
        with connect(landing.warehouse) as con:
            township.write_exports(con, d, two, load_policy(d), "two processes")
    finally:
        os.umask(previous)

    def cells(folder):
        out = {}
        for path in sorted(folder.rglob("*.xlsx")):
            wb = CalamineWorkbook.from_path(str(path))
            out[str(path.relative_to(folder))] = [wb.get_sheet_by_name(s).to_python() for s in wb.sheet_names]
        return out

    written = cells(two)
    assert len(written) >= 4 and written == {k: v for k, v in cells(here).items() if k in written}
    assert set(written) == {k for k in cells(here) if not k.startswith("quality/") and "督办" not in k}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in two.rglob("*.xlsx"))


def test_training_reads_every_positive_and_a_weighted_sample_of_the_negatives():
    """At county scale training reads about MAX_FIT_ROWS sampled rows and four whole months, not the
    whole history; the weights stand for the rows left out, and the sample is the same every time."""
    import duckdb
    import numpy as np

    from models.risk import WEIGHT
    from transform.model.frames import model_frame
    from transform.model.training import SAMPLE, sample_training_rows

    con = duckdb.connect()
    con.execute("CREATE SCHEMA model")
    # 12 month ends of 2,000 households; 1 in 20 positive; 1 in 50 verified (fresh) that month
    con.execute(
        """CREATE TABLE model.training_rows AS
        SELECT printf('H%05d', h) AS household_id, last_day(DATE '2025-01-01' + INTERVAL (m) MONTH) AS as_of_date,
               hash(h, m) % 20 = 0 AS label, (hash(h, m, 'x') % 1000)::DOUBLE AS oop_3m,
               CASE WHEN hash(h, m, 'v') % 50 = 0 THEN last_day(DATE '2025-01-01' + INTERVAL (m) MONTH) - 30 END
                   AS verification_date,
               500.0 AS per_capita_monthly_income
        FROM range(2000) a(h), range(12) b(m) ORDER BY random()"""
    )
    total = sample_training_rows(con, max_rows=3000)
    assert total == 24_000
    frame = model_frame(con, SAMPLE, order_by="as_of_date, household_id")
    dates = sorted(frame["as_of_date"].unique())
    calibration, held_out = dates[-4], dates[-3:]
    whole = frame["as_of_date"].isin([calibration, *held_out])
    # the calibration month and the held-out months whole, every positive, every fresh verification
    assert (frame[whole].groupby("as_of_date").size() == 2000).all()
    assert frame["label"].sum() == con.execute("SELECT count(*) FILTER (label) FROM model.training_rows").fetchone()[0]
    fresh = con.execute("SELECT count(*) FROM model.training_rows WHERE verification_date IS NOT NULL").fetchone()[0]
    assert frame["verification_date"].notna().sum() == fresh
    # the other months: a sample of their negatives, weighted by what they stand for
    others = frame[~frame["as_of_date"].isin(held_out)]
    negatives = others[~others["label"]]
    weighed = negatives[negatives[WEIGHT] > 0]
    assert 0.05 < len(weighed) / (9 * 2000 * 0.95) < 0.2 and len(frame) < 12_000
    stood_for = others[WEIGHT].sum()
    assert abs(stood_for - 18_000) / 18_000 < 0.05
    assert (frame.loc[frame["as_of_date"].isin(held_out), WEIGHT] == 0).all()
    # the same rows and weights whatever order the table was written in
    con.execute("CREATE OR REPLACE TABLE model.training_rows AS SELECT * FROM model.training_rows ORDER BY random()")
    sample_training_rows(con, max_rows=3000)
    again = model_frame(con, SAMPLE, order_by="as_of_date, household_id")
    assert again.equals(frame)
    # the fit sees the county's base rate, not the sample's
    assert abs(np.average(others["label"], weights=others[WEIGHT]) - 0.05) < 0.01
    assert others["label"].mean() > 0.1
