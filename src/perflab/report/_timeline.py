"""The event timeline of a case as inline SVG: one lane per variant.

GC collections are bars at their start, as long as they took (drawn at least
`MIN_BAR_FRACTION` of the axis wide, or a 50 µs pause would vanish on a
5-second run), darker for older generations; per lane, how many, their total
and longest pause. A case's `request` events (a service's latencies) go in a
second panel, latency against when the request started, so a tail can be
lined up with the collections above it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from perflab.measure._format import format_value
from perflab.measure._records import CaseResult

__all__ = ["timeline_chart"]

GENERATION_COLOURS = ("#9ecae1", "#3182bd", "#08306b")
MIN_BAR_FRACTION = 0.002


def _events(timeline: Mapping[str, Any], kind: str) -> Sequence[Sequence[float]]:
    events: Mapping[str, Sequence[Sequence[float]]] = timeline.get("events", {})
    return events.get(kind, [])


def timeline_chart(case: CaseResult) -> str | None:
    """An SVG document, or None when no variant recorded a timeline with events."""
    lanes = [(v.name, case.timelines[v.name]) for v in case.variants
             if v.name in case.timelines
             and any(case.timelines[v.name].get("events", {}).values())]
    if not lanes:
        return None
    import matplotlib  # heavy: only when a report is written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    requests = any(_events(t, "request") for _, t in lanes)
    panels = 2 if requests else 1
    fig, axes = plt.subplots(panels, 1, sharex=True, squeeze=False,
                             figsize=(7.5, 0.5 * len(lanes) + 1.3 + (2.2 if requests else 0)))
    gc_ax = axes[0][0]
    end = max((e[0] + e[1] for _, t in lanes for kind in t.get("events", {})
               for e in _events(t, kind)), default=1.0) or 1.0
    for y, (_, timeline) in enumerate(reversed(lanes)):
        collections = _events(timeline, "gc")
        for generation, colour in enumerate(GENERATION_COLOURS):
            bars = [(e[0], max(e[1], end * MIN_BAR_FRACTION)) for e in collections
                    if int(e[2]) == generation]
            if bars:
                gc_ax.broken_barh(bars, (y - 0.35, 0.7), color=colour)
        total = sum(e[1] for e in collections)
        longest = max((e[1] for e in collections), default=0.0)
        dropped = timeline.get("dropped", {}).get("gc", 0)
        gc_ax.text(end * 1.01, y, f"{len(collections) + dropped} GCs, "
                   f"{format_value(total, 's')} total, longest {format_value(longest, 's')}",
                   va="center", fontsize=8)
    gc_ax.set_yticks(range(len(lanes)), [name for name, _ in reversed(lanes)])
    gc_ax.set_ylim(-0.6, len(lanes) - 0.4)
    gc_ax.set_title("GC collections in the first measured run (darker: older generation)",
                    fontsize=9)
    if requests:
        req_ax = axes[1][0]
        for name, timeline in lanes:
            points = _events(timeline, "request")
            if points:
                req_ax.scatter([p[0] for p in points], [p[1] for p in points], s=4, label=name)
        req_ax.set_yscale("log")
        req_ax.set_ylabel("request latency (s)")
        req_ax.legend(fontsize=8, markerscale=3)
    axes[-1][0].set_xlabel("seconds since the run started")
    axes[-1][0].set_xlim(0, end * 1.02)
    for row in axes:
        row[0].spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]
