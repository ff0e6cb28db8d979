"""Amdahl's law: what speeding up one part does to the whole.

The guide's worked numbers are not what the formula gives: making a part that
takes 40% of the time 10x faster gives 1/(0.6 + 0.04) = 1.56x, not 1.4x; at
10% it gives 1/(0.9 + 0.01) = 1.10x, not 1.01x; and removing a 40% part
entirely is worth 1/0.6 = 1.67x, not 2.5x (2.5x = 1/0.4 is the limit for a
part taking 60%).
"""

from __future__ import annotations

import math

from perflab.errors import UsageError

__all__ = ["overall_speedup", "speedup_limit"]


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise UsageError(f"--fraction must be between 0 and 1, got {fraction}")


def overall_speedup(fraction: float, speedup: float) -> float:
    """1 / ((1 - P) + P / S) for a part P of the time made S times faster."""
    _check_fraction(fraction)
    if speedup <= 0:
        raise UsageError(f"--speedup must be positive, got {speedup}")
    return 1.0 / ((1.0 - fraction) + fraction / speedup)


def speedup_limit(fraction: float) -> float:
    """1 / (1 - P): the part made infinitely fast. Infinite when P is 1."""
    _check_fraction(fraction)
    return math.inf if fraction == 1.0 else 1.0 / (1.0 - fraction)
