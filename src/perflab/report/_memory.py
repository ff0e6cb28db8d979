"""Memory over time of a case's variants as inline SVG: usage, the limit, the OOM kills.

A case that watches a service's memory records it in the run's timeline (see
measure/_timeline.py) as events of three kinds, all `[start, duration, detail]`:

    memory        a sample: detail = bytes in use at `start`
    memory_limit  the limit in force from `start` for `duration`: detail = bytes
    oom_kill      the kernel killed the service at `start` (detail: its count so far)

One line per variant (its first measured run, as the timeline), the limit dashed,
each OOM kill a cross on its variant's line: where the service went, how close to
the limit, and when it died. The bounded case records them; `perflab bounded soak
--plot` draws the same picture for one soak.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from perflab.measure._records import CaseResult

__all__ = ["memory_chart"]

MIB = 2**20


def _events(timeline: Mapping[str, Any], kind: str) -> list[Sequence[float]]:
    # A long run's events are a uniform sample (the timeline's reservoir): in time order.
    return sorted(timeline.get("events", {}).get(kind, []), key=lambda e: e[0])


def memory_chart(case: CaseResult) -> str | None:
    """An SVG document, or None when no variant recorded memory samples."""
    lines = [(v.name, case.timelines[v.name]) for v in case.variants
             if _events(case.timelines.get(v.name, {}), "memory")]
    if not lines:
        return None
    import matplotlib  # heavy: only when a report is written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    limits: set[float] = set()
    killed = False
    for name, timeline in lines:
        samples = [e for e in _events(timeline, "memory") if e[2] == e[2]]
        (line,) = ax.plot([e[0] for e in samples], [e[2] / MIB for e in samples], lw=1.2,
                          label=name)
        limits.update(e[2] for e in _events(timeline, "memory_limit"))
        kills = _events(timeline, "oom_kill")
        if kills and samples:
            # at the usage sampled last before the kill: the line's height where it ended
            heights = [max((s[2] for s in samples if s[0] <= k[0]), default=samples[0][2])
                       for k in kills]
            ax.scatter([k[0] for k in kills], [h / MIB for h in heights], marker="x", s=50,
                       color=line.get_color(), zorder=3,
                       label="OOM kill" if not killed else None)
            killed = True
    for i, limit in enumerate(sorted(limits)):
        ax.axhline(limit / MIB, color="#444444", lw=1, ls="--",
                   label="limit" if i == 0 else None)
    ax.set_xlabel("seconds since the run started (first measured run)")
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    ax.set_title("Memory in use (the service's group), against its limit", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]
