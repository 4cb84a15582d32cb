"""What an analyst finds in the Dagster UI on a night's materialisations: row counts, masked
previews and charts rendered as images — and never a person's name, ID number, address or
phone; and every asset described in Chinese and English, with an owner and tags."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from conftest import Landing

from assets.common import NightSettings, Warehouse
from assets.core import core_as_of
from assets.model import household_scores, risk_model
from assets.monitoring import policy_in_force, warning_list
from assets.petitions import petition_classifier
from assets.quality import feed_gate, scorecards, township_feedback
from assets.raw import raw_assets
from assets.staging import staging_assets
from jiuzhu.idnumber import make_id, mask
from models.model_card import card_figures
from warehouse import risk_store
from warehouse.resource import connect

AS_OF = "2026-11-28"
MEMBERS = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居,劳动能力,在校情况,家庭住址,联系电话\n"
P = {
    k: make_id("370725", b, n)
    for k, b, n in [
        ("a", "19700101", 11),
        ("b", "19710101", 12),
        ("c", "19720101", 13),
        ("d", "19730101", 14),
        ("e", "19740101", 15),
        ("x", "19800101", 21),
        ("y", "19810101", 22),
    ]
}
NAMES = ["张一", "张二", "张三", "张四", "张五", "王外", "李死"]
ADDRESSES = ["红河镇甲村1号", "红河镇甲村2号", "宝城街道乙社区3号", "营丘镇丙村4号", "营丘镇丙村5号"]
PHONES = ["13800000001", "13800000002", "13800000003", "13800000004", "13800000005"]
# hardship told without any of the policy's words: only the petition classifier reads it
PETITION = "俺家那口子瘫在炕上好几年了，俺一个人伺候还得种地，实在顶不住了"
SCORES = {"H2": 0.6, "H3": 0.25}  # M01: 橙 (≥ 0.5) and 黄 (≥ 0.2); every other household 0.02


class StubModel:
    """Stands in for a trained risk model (transform/model/scoring.py calls these four)."""

    kind = "stub"
    income = None
    train_dates, test_dates = ["2026-05-31"], ["2026-08-31"]

    def inputs(self, features):
        return features

    def predict(self, x, threads=1):
        return np.array([SCORES.get(h, 0.02) for h in x["household_id"]])

    def explain(self, x, scores=None):
        return [[] for _ in range(len(x))]


def _county(landing: Landing) -> None:
    landing.write(
        "mz_members",
        "m_20261128.csv",
        MEMBERS
        + "".join(
            f"H{i + 1},{P[k]},{NAMES[i]},户主,{'农业' if k != 'c' else '非农业'},{town},{village},完全,非在校,"
            f"{ADDRESSES[i]},{PHONES[i]}\n"
            for i, (k, town, village) in enumerate(
                [
                    ("a", "红河", "甲村"),
                    ("b", "红河", "甲村"),
                    ("c", "宝城", "乙社区"),
                    ("d", "营丘", "丙村"),
                    ("e", "营丘", "丙村"),
                ]
            )
        ),
    )
    landing.write(
        "mz_verification",
        "v_20261128.csv",
        "核对编号,户编号,核对日期,家庭人口,家庭年收入,核对结论\nK1,H1,2026-10-01,1,4800,符合\n",
    )  # 400 元 a month: R01 (红)
    landing.write(
        "mz_assistance",
        "a_20261128.csv",
        "户编号,身份证号,姓名,救助类别,开始日期,终止日期,月保障金额,状态\n"
        f"H5,{P['e']},张五,临时救助,2025-01-01,2025-02-01,500,终止\n",
    )  # the rolls: nobody on assistance
    landing.write(
        "yb_settlements",
        "yb_20261128.csv",
        "结算编号,身份证号,姓名,结算日期,就诊类别,医疗总费用,统筹基金支付,大病保险支付,医疗救助支付,个人自付,原结算编号\n"
        f"S1,{P['d']},张四,2026-09-01,住院,40000,15000,0,0,25000,\n",
    )  # R03 (橙)
    landing.write(
        "xf_petitions",
        "x_20261128.csv",
        "信访件编号,身份证号,姓名,登记日期,问题属地,问题类别,诉求内容\n"
        f"X1,{P['x']},王外,2026-11-20,乔官,生活困难,家里困难\n"
        f"X2,{P['a']},张一,2026-11-21,红河,其他,{PETITION}\n",
    )  # outside the roster: R08, a masked ID; 张一: hardship in other words than the policy's (R08 by the classifier)
    bad = P["y"][:17] + ("0" if P["y"][17] != "0" else "1")
    landing.write(
        "wj_deaths", "d_20261128.csv", f"身份证号,姓名,死亡日期\n{bad},李死,2026-11-01\n{P['y']},李死,2026-99-99\n"
    )  # ID_CHECKSUM, DATE_INVALID


def _stub_card() -> dict:
    """The card of the stub model: the figures of a small seeded hold-out."""
    rng = np.random.default_rng(3)
    n = 200
    holdout = pd.DataFrame(
        {
            "as_of_date": "2026-08-31",
            "township_name": rng.choice(["宝城街道", "乔官镇"], n),
            "residence_type": rng.choice(["城镇", "农村"], n),
            "head_sex": rng.choice(["男", "女"], n),
            "head_age": rng.integers(20, 90, n),
            "severe_disability": rng.integers(0, 2, n),
            "label": rng.integers(0, 2, n),
            "score": rng.random(n),
        }
    )
    return card_figures(holdout, k=10)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Landing:
    landing = Landing(tmp_path_factory.mktemp("metadata"))
    _county(landing)
    return landing


@pytest.fixture(scope="module")
def instance():
    return dg.DagsterInstance.ephemeral()


@pytest.fixture(scope="module")
def night(landing, instance):
    home = landing.warehouse.parent
    as_of = dt.date.fromisoformat(AS_OF)
    version = risk_store.save(
        home,
        StubModel(),
        as_of,
        {
            "trained_on": AS_OF,
            "kind": "stub",
            "metrics": {"stub": {"roc_auc": 0.8}},
            "card": _stub_card(),
            "income_estimate": None,
        },
    )
    risk_store.promote(home, version, as_of)
    result = dg.materialize(
        [
            *raw_assets,
            *staging_assets,
            township_feedback,
            feed_gate,
            scorecards,
            petition_classifier,
            core_as_of,
            policy_in_force,
            risk_model,
            household_scores,
            warning_list,
        ],  # risk_model: the stub is in force and not due for retraining
        resources={"warehouse": Warehouse(home=str(home)), "night": NightSettings(landing=str(landing.root))},
        instance=instance,
        partition_key=AS_OF,
    )
    assert result.success
    return result


def _metadata(result, asset: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return event.materialization.metadata


def _png(markdown: str) -> bytes:
    """The PNG of the one Markdown image in the text."""
    [data] = re.findall(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    png = base64.b64decode(data)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
    return png


def test_warnings_show_a_chart_by_township_and_level_and_a_masked_preview(night):
    meta = _metadata(night, "monitoring/warnings")
    assert meta["dagster/row_count"].value == 5  # H1 R01, H2/H3 M01, H4 R03, the petitioner R08
    chart = meta["warnings_by_township_and_level"].value
    _png(chart)
    # the townships are named in the chart itself (tests/test_charts.py): no T1…Tn legend under it
    assert chart.startswith("![各镇街预警数") and "\n" not in chart.strip()
    preview = meta["preview"].value
    rows = [line for line in preview.splitlines() if line.startswith("| YJ-")]
    assert len(rows) == 5
    assert rows[0].split(" | ")[3] == "红"  # most urgent first
    assert {"R01", "R03", "R08", "M01"} <= set(re.findall(r"\b[RM]\d\d\b", preview))
    # the person outside the roster: first 6 and last 4 characters of the ID number, the rest *
    assert re.findall(r"\d{6}\*+[\dX]{4}", preview) == [P["x"][:6] + "*" * 8 + P["x"][-4:]] == [mask(P["x"])]
    assert "| 0.600 |" in preview and "乔官镇" in preview
    assert "核对人均月收入" not in preview and "医疗自付" not in preview  # no reasons text


def test_household_scores_show_a_histogram_with_the_m01_lines(night):
    meta = _metadata(night, "monitoring/household_scores")
    assert meta["dagster/row_count"].value == 5
    assert meta["m01_threshold"].value == 0.2 and meta["m01_high_band"].value == 0.5  # the policy in force
    assert meta["at_or_above_threshold"].value == 2 and meta["at_or_above_high_band"].value == 1
    _png(meta["score_distribution"].value)


def test_scorecards_chart_tonights_quarantine_by_reason(night):
    meta = _metadata(night, "audit/scorecards")
    assert meta["quarantined_rows_tonight"].value == 2
    chart = meta["quarantine_reasons_chart"].value
    _png(chart)
    assert "| ID_CHECKSUM |" in chart and "| DATE_INVALID |" in chart and "wj_deaths ×1" in chart


def test_household_features_show_row_counts_and_a_preview_without_personal_data(night):
    meta = _metadata(night, "core/household_features")
    assert meta["dagster/row_count"].value == 5
    preview = meta["preview"].value
    assert preview.startswith("| household_id |") and "| H1 | 370725110 |" in preview
    assert "oop_12m" not in preview and "severe_disability" not in preview  # no health details
    distribution = meta["feature_distribution"].value
    assert "| members |" in distribution and "| township_code |" not in distribution  # numeric features only


def test_no_personal_data_or_petition_text_in_any_metadata_or_log(night, instance):
    blob = "\n".join(
        f"{key} {value.value}"
        for e in night.get_asset_materialization_events()
        for key, value in e.materialization.metadata.items()
    )
    log = "\n".join(e.user_message for e in instance.all_logs(night.run_id))  # and the run's log
    assert 'step "model__petition_classifier"' in log
    blob += log
    texts = ["家里困难", PETITION, *(c for c in PETITION.split("，") if len(c) > 4)]  # petition text, whole or quoted
    leaked = [s for s in [*P.values(), *NAMES, *ADDRESSES, *PHONES, *texts] if s in blob]
    leaked += [i for i in P.values() if i[:6] + i[8:17] in blob]  # an ID number with its year cut off
    assert leaked == []


def test_hardship_in_other_words_is_warned_with_the_phrase_quoted(night, landing):
    meta = _metadata(night, "model/petition_classifier")
    assert meta["trained"].value is True and meta["version_in_force"].value == AS_OF.replace("-", "")
    assert "| 用语表 + 分类器 words or classifier |" in meta["held_out"].value
    with connect(landing.warehouse, read_only=True) as con:
        [(reason,)] = con.execute(
            "SELECT reason FROM monitoring.rule_hits WHERE rule_code = 'R08' AND subject_id = 'H1'"
        ).fetchall()
    assert reason.startswith("近90天有 1 件反映生活困难的信访（其他）：“") and reason.endswith("”")
    phrase = reason.split("“")[1].rstrip("”")
    assert 0 < len(phrase) <= 30 and phrase in PETITION


def test_every_asset_is_described_in_chinese_and_english_with_owner_and_tags():
    from pipelines.definitions import defs

    missing = []
    for spec in defs.resolve_all_asset_specs():
        text = spec.description or ""
        english = re.findall(r"\b[A-Za-z]{3,}\b", text)
        tags = {k for k in spec.tags if not k.startswith("dagster/")}
        if not re.search(r"[\u4e00-\u9fff]", text) or len(english) < 5 or not spec.owners or not tags:
            missing.append(spec.key.to_user_string())
    assert missing == []


def test_the_model_in_force_and_its_card_are_shown_on_a_night_without_retraining(night):
    meta = _metadata(night, "model/risk_model")
    assert meta["trained"].value is False and meta["model_in_force"].value.endswith("-stub")
    assert "风险模型说明" in meta["model_card"].value
    card_file = Path(_metadata(night, "monitoring/household_scores")["model_card_file"].value)
    assert card_file.name == "model_card.md" and card_file.parent.name == AS_OF
    assert card_file.read_text(encoding="utf-8").strip() == meta["model_card"].value.strip()
