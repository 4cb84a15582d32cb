"""Charts for the Dagster UI: a PNG rendered with matplotlib, embedded in Markdown metadata.

Labels are ASCII (feed names, codes): a county server may have no CJK font.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display on a server
import matplotlib.pyplot as plt  # noqa: E402


def bar_chart_markdown(labels: list[str], values: list[float], title: str, xlabel: str, limit: float | None = None) -> str:
    """A horizontal bar chart as a Markdown image (data URI), with an optional threshold line."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(labels), 3) + 1.2), dpi=100)
    ax.barh(labels, values, color=["#c0392b" if limit is not None and v < limit else "#2e86c1" for v in values])
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if limit is not None:
        ax.axvline(limit, color="#7f8c8d", linestyle="--", linewidth=1)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"


def calibration_chart_markdown(points: list[dict], title: str) -> str:
    """Predicted probability against the observed rate, per score bin, with the diagonal."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    predicted = [p["predicted"] for p in points]
    observed = [p["observed"] for p in points]
    top = max(predicted + observed + [0.01]) * 1.05
    ax.plot([0, top], [0, top], color="#7f8c8d", linestyle="--", linewidth=1)
    ax.plot(predicted, observed, marker="o", color="#2e86c1")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate (held-out months)")
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"
