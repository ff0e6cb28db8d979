"""Ladder charts as inline SVG: one bar per variant, the CI of its median as the error bar."""

from __future__ import annotations

import io

from perflab.measure._case import Metric
from perflab.measure._format import format_value
from perflab.measure._records import CaseResult

__all__ = ["ladder_chart"]

COLORS = {"baseline": "#b0413e", "step": "#3b6ea8", "reference": "#8a8a8a"}


def ladder_chart(case: CaseResult, metric: Metric) -> str | None:
    """An SVG document, or None when no variant has the metric."""
    bars = [
        (v.name, v.kind, v.metrics[metric.name].summary)
        for v in case.variants
        if not v.error and metric.name in v.metrics
    ]
    if not bars:
        return None
    import matplotlib  # heavy: only when a report is written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # keep labels as text: searchable, small
    names = [name for name, _, _ in bars][::-1]
    medians = [s.median for _, _, s in bars][::-1]
    errors = [
        [s.median - s.ci_low for _, _, s in bars][::-1],
        [s.ci_high - s.median for _, _, s in bars][::-1],
    ]
    colors = [COLORS[kind] for _, kind, _ in bars][::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(bars) + 1.2))
    ax.barh(names, medians, xerr=errors, color=colors, capsize=3)
    positive = [m for m in medians if m > 0]
    wide = bool(positive) and max(positive) / min(positive) > 20
    if wide:  # a 100x ladder on a linear axis hides every step after the first big one
        ax.set_xscale("log")
    for y, value in enumerate(medians):
        ax.text(value, y, "  " + format_value(value, metric.unit), va="center", fontsize=8)
    better = "lower" if metric.better == "lower" else "higher"
    scale = ", log scale" if wide else ""
    ax.set_xlabel(f"{metric.label} ({better} is better; bars: median, whiskers: CI{scale})")
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.25)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog: it is inlined in HTML
