"""Charts for the Dagster UI: a PNG rendered with matplotlib, embedded in Markdown metadata.

Every label is Chinese, drawn with Noto Sans CJK SC from the pinned package ``mplfonts``
(SIL Open Font License), registered with matplotlib when this module is imported: no system
font is needed, and no font cache can hide it (``addfont`` registers the file itself).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # no display on a server
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from models.compliance import within  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FONT_FILE = "NotoSansCJKsc-Regular.otf"
COLOURS = {"primary": "#2e86c1", "alarm": "#c0392b", "reference": "#7f8c8d"}


@functools.cache
def cjk_font() -> str:
    """The family name of the bundled Chinese font, registered with matplotlib on first use."""
    path = Path(str(resources.files("mplfonts") / "fonts" / FONT_FILE))
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


@contextlib.contextmanager
def _figure(figsize: tuple[float, float]):
    # DejaVu Sans draws what the CJK font lacks; the minus sign as a hyphen, which every font has
    style: dict[RcKeyType, Any] = {
        "font.family": "sans-serif",
        "font.sans-serif": [cjk_font(), "DejaVu Sans"],
        "axes.unicode_minus": False,
    }
    with plt.rc_context(style):
        fig, ax = plt.subplots(figsize=figsize, dpi=100)
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def _png(fig) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")  # legends placed outside the axes included
    return buffer.getvalue()


def png_markdown(png: bytes, title: str) -> str:
    """A PNG as a Markdown image (data URI) for the UI's metadata."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


def _markdown(fig, title: str) -> str:
    return png_markdown(_png(fig), title)


def paired_bar_chart_png(labels: list[str], pairs: Mapping[str, Sequence[float]], title: str, xlabel: str) -> bytes:
    """Horizontal bars, two or more per label side by side (one per series, in the order given),
    each with its value at its end: e.g. a programme's demand under the policy in force and a proposal."""
    names = list(pairs)
    height = 0.8 / max(len(names), 1)
    with _figure((7.5, 0.55 * max(len(labels), 3) + 1.4)) as (fig, ax):
        for k, name in enumerate(names):
            ys = [i + (k - (len(names) - 1) / 2) * height for i in range(len(labels))]
            values = list(pairs[name])
            ax.barh(ys, values, height=height, label=name, color=list(COLOURS.values())[k % len(COLOURS)])
            for y, v in zip(ys, values):
                ax.annotate(f"{v:,.1f}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlim(0, max([v for name in names for v in pairs[name]] + [1]) * 1.18)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.legend(loc="lower right", fontsize=8)
        return _png(fig)


def share_range_chart_png(rows: Sequence[tuple[str, float, float, Mapping[str, float]]], title: str) -> bytes:
    """Item 1's check: per row (label, allowed low, allowed high, {what: share}) the allowed range of
    the standard as a share of consumption (a band) and each standard's share (a marker), in %."""
    with _figure((7, 0.9 * max(len(rows), 2) + 1.3)) as (fig, ax):
        markers = ("o", "D", "s")
        for i, (_, low, high, shares) in enumerate(rows):
            ax.barh(i, 100 * (high - low), left=100 * low, height=0.5, color="#d5e8d4", edgecolor="#82b366")
            for k, (name, share) in enumerate(shares.items()):
                inside = within(share, low, high)
                ax.plot(
                    100 * share, i, marker=markers[k % len(markers)], markersize=9, linestyle="none",
                    color=COLOURS["primary"] if inside else COLOURS["alarm"], label=name if i == 0 else None,
                )  # fmt: skip
                ax.annotate(f"{100 * share:.1f}%", (100 * share, i), xytext=(0, 9 + 9 * k), textcoords="offset points",
                            ha="center", fontsize=8)  # fmt: skip
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.set_ylim(-0.7, len(rows) - 0.1)
        ends = [100 * v for _, low, high, shares in rows for v in (low, high, *shares.values())]
        ax.set_xlim(min(ends) - 3, max(ends) + 3)
        ax.invert_yaxis()
        ax.set_xlabel("低保标准×12 占上年度人均消费支出的比例（%；绿色：第1条允许的范围）")
        ax.set_title(title)
        ax.legend(loc="lower right", fontsize=8)
        return _png(fig)


def bar_chart_markdown(
    labels: list[str], values: list[float], title: str, xlabel: str, limit: float | None = None
) -> str:
    """A horizontal bar chart as a Markdown image (data URI), with an optional threshold line
    (bars below it in red)."""
    with _figure((7, 0.35 * max(len(labels), 3) + 1.2)) as (fig, ax):
        ax.barh(
            labels,
            values,
            color=[COLOURS["alarm"] if limit is not None and v < limit else COLOURS["primary"] for v in values],
        )
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        if limit is not None:
            ax.axvline(limit, color=COLOURS["reference"], linestyle="--", linewidth=1)
        return _markdown(fig, title)


def stacked_bar_chart_markdown(
    labels: list[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    xlabel: str,
    colours: dict[str, str] | None = None,
) -> str:
    """Horizontal bars, one per label, each split into the series (in the order given), with a
    legend and the total at the end of each bar."""
    colours = colours or {}
    with _figure((7.5, 0.35 * max(len(labels), 3) + 1.6)) as (fig, ax):
        left = [0.0] * len(labels)
        for name, values in series.items():
            ax.barh(labels, values, left=left, label=name, color=colours.get(name))
            left = [a + b for a, b in zip(left, values)]
        for y, total in enumerate(left):
            ax.annotate(f"{total:g}", (total, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        ax.set_xlim(0, max(left + [1]) * 1.1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
        return _markdown(fig, title)


def histogram_markdown(
    values,
    title: str,
    xlabel: str,
    lines: Sequence[tuple[float, str, str]] = (),
    bins: int = 100,
    value_range: tuple[float, float] = (0.0, 1.0),
    log: bool = True,
) -> str:
    """A histogram (log-scale counts by default) with vertical lines (value, label, colour) and
    a legend naming them."""
    with _figure((7, 3.6)) as (fig, ax):
        ax.hist(values, bins=bins, range=value_range, color=COLOURS["primary"], log=log)
        for value, label, colour in lines:
            ax.axvline(value, color=colour, linestyle="--", linewidth=1.5, label=label)
        ax.set_xlim(*value_range)
        if log:  # counts as 1, 2, 5, 10, …, not 10^0
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("户数（对数刻度）" if log else "户数")
        if lines:
            ax.legend(loc="upper right", fontsize=8)
        return _markdown(fig, title)


def calibration_chart_markdown(points: list[dict], title: str) -> str:
    """Predicted probability against the observed rate, per score bin, with the diagonal."""
    with _figure((4.5, 4.5)) as (fig, ax):
        predicted = [p["predicted"] for p in points]
        observed = [p["observed"] for p in points]
        top = max(predicted + observed + [0.01]) * 1.05
        ax.plot([0, top], [0, top], color=COLOURS["reference"], linestyle="--", linewidth=1)
        ax.plot(predicted, observed, marker="o", color=COLOURS["primary"])
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("预测概率")
        ax.set_ylabel("实际比例（检验月份）")
        ax.set_title(title)
        return _markdown(fig, title)


def markdown_table(header: list[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; None shows as —, and a | inside a cell cannot break the table."""

    def cell(v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "—"
        return str(v).replace("|", "/").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
