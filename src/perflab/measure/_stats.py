"""Benchstat-style statistics on repeated measurements.

- the median, with a distribution-free confidence interval from order
  statistics (a binomial argument: no normality assumed, which timings lack);
- the two-sided Mann-Whitney U test between two variants (scipy's, exact for
  small samples without ties), alpha 0.05: a change is only called a change
  when the test says so, otherwise it is printed as `~`;
- the geometric mean of ratios across cases.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "Summary",
    "geometric_mean",
    "is_significant",
    "mann_whitney_p",
    "median_ci",
    "summarize",
]

# Benchstat's defaults: a 95% interval and a 5% significance level.
CONFIDENCE = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class Summary:
    median: float
    ci_low: float
    ci_high: float
    # The interval's actual coverage: with fewer than 6 samples no pair of
    # order statistics reaches 95%, and the table should not pretend it does.
    confidence: float
    n: int

    @property
    def spread(self) -> float:
        """Largest distance from the median to an interval end, as a fraction."""
        if self.median == 0:
            return 0.0
        return max(self.median - self.ci_low, self.ci_high - self.median) / abs(self.median)


def _binomial_tail(n: int, k: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / float(2**n)


def median_ci(samples: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Median and the narrowest symmetric order-statistic interval covering it.

    For sorted x(1..n), P(x(r) <= true median <= x(n+1-r)) = 1 - 2 P(B <= r-1).
    The largest r whose coverage is still >= `confidence` is used; when even
    (min, max) falls short, that interval is returned with its real coverage.
    """
    if not samples:
        raise ValueError("no samples")
    xs = sorted(samples)
    n = len(xs)
    median = float(statistics.median(xs))
    best_r, best_cov = 1, 1 - 2 * _binomial_tail(n, 0)
    for r in range(2, n // 2 + 1):
        coverage = 1 - 2 * _binomial_tail(n, r - 1)
        if coverage < confidence:
            break
        best_r, best_cov = r, coverage
    if n == 1:
        best_cov = 0.0
    return Summary(median, xs[best_r - 1], xs[n - best_r], best_cov, n)


summarize = median_ci


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value; 1.0 when either side is too small to test."""
    if len(a) < 2 or len(b) < 2:
        return 1.0
    if len(set(a)) == 1 and set(a) == set(b):
        return 1.0  # identical constants: scipy warns and returns nan
    from scipy.stats import mannwhitneyu  # heavy: only when comparing

    result = mannwhitneyu(a, b, alternative="two-sided")
    p = float(result.pvalue)
    return 1.0 if math.isnan(p) else p


def is_significant(p: float, alpha: float = ALPHA) -> bool:
    return p < alpha


def geometric_mean(ratios: Sequence[float]) -> float:
    positive = [r for r in ratios if r > 0]
    if not positive:
        raise ValueError("no positive ratios")
    return math.exp(sum(math.log(r) for r in positive) / len(positive))
