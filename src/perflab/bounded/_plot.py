"""A soak's memory over time as inline SVG: the sampled usage, the limit, the deaths."""

from __future__ import annotations

import io
from collections.abc import Sequence

__all__ = ["memory_chart"]

MIB = 2**20


def memory_chart(series: Sequence[tuple[float, float]], limit_bytes: int,
                 title: str = "memory under the limit",
                 deaths: Sequence[float] = ()) -> str | None:
    """An SVG document of (seconds, bytes) samples against the limit, deaths marked at their
    times (seconds); None without samples."""
    points = [(t, b) for t, b in series if b == b]
    if not points:
        return None
    import matplotlib  # heavy: only when a chart is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    ax.plot([t for t, _ in points], [b / MIB for _, b in points], color="#3b6ea8", lw=1.2,
            label="usage")
    ax.axhline(limit_bytes / MIB, color="#b0413e", lw=1, ls="--", label="limit")
    for i, t in enumerate(deaths):
        ax.axvline(t, color="#b0413e", lw=0.8, alpha=0.6, label="death" if i == 0 else None)
    ax.set_xlabel("seconds")
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]
