"""The CI gate: which metrics got significantly worse than a threshold allows.

pytest-benchmark's `--benchmark-compare-fail` is the anchor; unlike it, a
change only counts when Mann-Whitney calls it significant, so noise larger
than the threshold does not fail a build, and a real regression smaller than
the noise cannot be told from it (more repetitions can).

A metric is gated when its direction is known: the case's table says it, or
it is one of the harness's own lower-is-better measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from perflab.errors import UsageError
from perflab.measure._format import format_p, format_value
from perflab.measure._records import Results, matched_cases, matched_metrics
from perflab.measure._stats import is_significant, mann_whitney_p

__all__ = ["Regression", "parse_threshold", "regressions"]

# The collector's measurements whose direction needs no table to know.
LOWER_IS_BETTER = ("wall_s", "cpu_s", "peak_rss_bytes", "gc_pause_total_s", "gc_pause_max_s",
                   "traced_peak_bytes")


@dataclass(frozen=True)
class Regression:
    where: str  # case/variant
    metric: str
    unit: str
    old: float
    new: float
    change: float  # how much worse, as a fraction (0.1 = 10% worse)
    p: float

    def text(self) -> str:
        return (f"{self.where} {self.metric}: {format_value(self.old, self.unit)} -> "
                f"{format_value(self.new, self.unit)}, {self.change * 100:.1f}% worse "
                f"({format_p(self.p)})")


def parse_threshold(text: str) -> float:
    """`5%`, `5` or `0.05%`: a percentage, returned as a fraction."""
    number = text.strip().removesuffix("%")
    try:
        value = float(number) / 100
    except ValueError:
        raise UsageError(f"--fail-on-regression: expected a percentage such as 5%, got {text!r}"
                         ) from None
    if not 0 <= value < 100:
        raise UsageError(f"--fail-on-regression: {text!r} is out of range")
    return value


def regressions(old: Results, new: Results, threshold: float,
                metrics: Sequence[str] = ()) -> list[Regression]:
    found = []
    for c_old, c_new in matched_cases(old, new):
        better = {m: "lower" for m in LOWER_IS_BETTER}
        better.update({m.name: m.better for m in (*c_old.table, *c_new.table)})
        for v_old, name, m_old, m_new in matched_metrics(c_old, c_new):
            if name not in better or (metrics and name not in metrics):
                continue
            a, b = m_old.summary.median, m_new.summary.median
            if not a:
                continue
            change = (b - a) / a if better[name] == "lower" else (a - b) / a
            p = mann_whitney_p(m_old.samples, m_new.samples)
            if change > threshold and is_significant(p):
                found.append(Regression(f"{c_old.name}/{v_old.name}", name, m_old.unit,
                                        a, b, change, p))
    return found
