"""cProfile one variant and group its time into the case's categories.

A category is a list of substrings matched against `file:function` of each
profiled function; its time is the sum of the matching functions' own time
(tottime), so nothing is counted twice. What matches no category is "other".
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Breakdown", "breakdown", "profile_call", "top_functions"]


@dataclass(frozen=True)
class Breakdown:
    total_s: float
    by_category: Mapping[str, float]


def profile_call(func: Any, *args: Any) -> pstats.Stats:
    profiler = cProfile.Profile()
    profiler.runcall(func, *args)
    return pstats.Stats(profiler, stream=io.StringIO())


def _entries(stats: pstats.Stats) -> list[tuple[str, float, float, int]]:
    """(file:function, own seconds, cumulative seconds, calls) per function."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    out = []
    for (filename, line, func), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        out.append((f"{filename}:{line}:{func}", tottime, cumtime, calls))
    return out


def breakdown(stats: pstats.Stats, categories: Mapping[str, Sequence[str]]) -> Breakdown:
    totals = dict.fromkeys(categories, 0.0)
    totals["other"] = 0.0
    grand = 0.0
    for name, own, _cum, _calls in _entries(stats):
        grand += own
        for category, needles in categories.items():
            if any(needle in name for needle in needles):
                totals[category] += own
                break
        else:
            totals["other"] += own
    return Breakdown(grand, totals)


def top_functions(stats: pstats.Stats, limit: int = 15) -> list[tuple[str, float, float, int]]:
    return sorted(_entries(stats), key=lambda e: e[1], reverse=True)[:limit]
