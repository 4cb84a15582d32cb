"""The UI's charts speak Chinese: titles, axes, bars and legends are drawn with the bundled CJK
font, which has a glyph for every character (nothing shows as empty boxes, no T1…Tn legend)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from matplotlib import font_manager

from exports import charts
from exports.ui_metadata import (
    quarantine_chart,
    reasons_in_chinese,
    score_histogram,
    township_level_chart,
    validity_chart,
)

AS_OF = dt.date(2026, 11, 28)


@pytest.fixture
def figures(monkeypatch):
    """The figures the charts draw, before they become PNGs."""
    drawn = []
    real = charts._markdown

    def keep(fig, title):
        fig.canvas.draw()  # lay out the texts as they are rendered
        # the font each text is drawn with, resolved while the chart's style is in force
        drawn.append((fig, [(t.get_text(), t.get_fontname()) for t in texts(fig)]))
        return real(fig, title)

    monkeypatch.setattr(charts, "_markdown", keep)
    return drawn


def texts(fig) -> list:
    """Every visible text of a figure: title, axis labels, tick labels, legend entries."""
    ax = fig.axes[0]
    found = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]
    if ax.get_legend():
        found += ax.get_legend().get_texts()
    return [t for t in found if t.get_text()]


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_every_chart_is_labelled_in_chinese_with_a_font_that_draws_it(figures):
    township_level_chart([("宝城街道", "红", 2), ("乔官镇", "黄", 3), ("乔官镇", "复核", 1)], AS_OF)
    validity_chart([{"feed": "mz_members", "validity": 0.98}, {"feed": "yb_settlements", "validity": 0.9}], AS_OF, 0.05)
    quarantine_chart([("ID_CHECKSUM", "mz_members", 4), ("DATE_INVALID", "yb_settlements", 2)], AS_OF, {})
    score_histogram(np.array([0.01, 0.2, 0.5, 0.9]), 0.3, 0.6, AS_OF, "v1")
    charts.calibration_chart_markdown(
        [{"predicted": 0.1, "observed": 0.12}, {"predicted": 0.5, "observed": 0.4}], "校准：预测概率与实际比例"
    )
    assert len(figures) == 5
    glyphs = font_manager.get_font(font_manager.findfont(charts.cjk_font(), fallback_to_default=False)).get_charmap()
    for fig, shown in figures:
        assert has_chinese(fig.axes[0].get_title()), fig.axes[0].get_title()
        assert has_chinese(fig.axes[0].xaxis.label.get_text()) or has_chinese(fig.axes[0].yaxis.label.get_text())
        for text, font in shown:
            if has_chinese(text):
                assert font == charts.cjk_font(), (text, font)
                assert not {ch for ch in text if ord(ch) not in glyphs}, text
    figures = [fig for fig, _ in figures]
    towns = [t.get_text() for t in figures[0].axes[0].get_yticklabels()]
    assert "宝城街道" in towns and not any(t.startswith("T1") for t in towns)  # names, not T1…Tn
    assert {t.get_text() for t in figures[0].axes[0].get_legend().get_texts()} == {"红", "橙", "黄", "复核"}
    assert "民政·家庭成员信息" in [t.get_text() for t in figures[1].axes[0].get_yticklabels()]


def test_scorecard_reasons_are_in_chinese_beside_their_codes():
    shown = reasons_in_chinese("ID_CHECKSUM ×3, NEW_CODE ×1", {"ID_CHECKSUM": "身份证号校验位错误"})
    assert shown == "ID_CHECKSUM（身份证号校验位错误）×3, NEW_CODE ×1"
