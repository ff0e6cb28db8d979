"""When a case may stop its rounds early: every verdict it prints is settled.

The runner looks at its samples after every round from `MIN_REPETITIONS` on
(the fewest with which Mann-Whitney can reach p < 0.05) and stops when every
comparison the case's tables print (each step against the one before and
against the baseline, the guide table's baseline against the final step, each
reference against the final step) is settled:

- `~` is settled when no outcome of the rounds still to come can bring the
  comparison's p below alpha at the last round: the most favourable completion
  (every new sample of one side below every sample of the other) is tested.
  This is curtailment: it cannot change a verdict, it only skips rounds whose
  result is already fixed.
- significant is settled when p < alpha at this look, but only when stopping
  on it keeps the false-verdict rate of the whole rule at most alpha: a null
  comparison looked at twice (at this look, and at the last round if the run
  goes on) is called significant with probability P(p_look < a or p_last < a).
  `two_look_size` computes that probability exactly, by enumerating every
  equally likely ranking under the null hypothesis; an interim significance
  stop is allowed only where it is <= alpha. Mann-Whitney's coarse p-values
  at these sample sizes leave room for one look at 4 rounds out of 5 (the
  quick default), not for more; where the enumeration would be too large the
  rule allows none, so only the exact `~` stops apply.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

from perflab.measure._stats import ALPHA, mann_whitney_p

__all__ = ["MIN_REPETITIONS", "interim_significance_allowed", "settled", "two_look_size"]

# With 3 samples a side, Mann-Whitney's smallest two-sided p is 0.1: never
# significant. 4 a side can reach 0.029, so no rule stops below that.
MIN_REPETITIONS = 4
# Rankings enumerated at most by `two_look_size` (6300 for a look at 4 of 5).
MAX_ENUMERATION = 20_000


def _exact_p(u: float, m: int, n: int) -> float:
    """Two-sided exact Mann-Whitney p for statistic U with sizes m, n (no ties)."""
    counts = _u_counts(m, n)
    total = math.comb(m + n, m)
    low = min(u, m * n - u)
    tail = sum(c for value, c in enumerate(counts) if value <= low)
    return min(1.0, 2 * tail / total)


@functools.cache
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many rankings give each U = 0..m*n (the null distribution, by recursion)."""
    if m == 0 or n == 0:
        return (1,)
    # The largest value belongs to the first sample (adds n to U) or to the second.
    with_a = _u_counts(m - 1, n)
    with_b = _u_counts(m, n - 1)
    out = [0] * (m * n + 1)
    for u, c in enumerate(with_a):
        out[u + n] += c
    for u, c in enumerate(with_b):
        out[u] += c
    return tuple(out)


def _u(labels: Sequence[int]) -> int:
    """U of sample 0 (pairs where a sample-0 value is above a sample-1 value), by rank order."""
    below = 0
    u = 0
    for label in labels:
        if label == 1:
            below += 1
        else:
            u += below
    return u


@functools.cache
def two_look_size(look: int, last: int, alpha: float = ALPHA) -> float | None:
    """P(p < alpha at `look` rounds or at `last` rounds) for a comparison with no effect.

    None when the enumeration would pass MAX_ENUMERATION. Every sample is a
    continuous draw from one distribution, so all orderings of the 2*last
    values are equally likely; what matters is which ranks fall to each of the
    four groups (side a or b, early or late).
    """
    late = last - look
    count = math.factorial(2 * last) // (
        math.factorial(look) ** 2 * math.factorial(late) ** 2)
    if count > MAX_ENUMERATION:
        return None
    hits = 0
    ranks = range(2 * last)
    # group 0: a early, 1: b early, 2: a late, 3: b late
    for late_ranks in itertools.combinations(ranks, 2 * late):
        early_ranks = [r for r in ranks if r not in late_ranks]
        for a_late in itertools.combinations(late_ranks, late):
            for a_early in itertools.combinations(early_ranks, look):
                a_all = set(a_late) | set(a_early)
                early = [0 if r in a_early else 1 for r in early_ranks]
                every = [0 if r in a_all else 1 for r in ranks]
                if (_exact_p(_u(early), look, look) < alpha
                        or _exact_p(_u(every), last, last) < alpha):
                    hits += 1
    return hits / count


def interim_significance_allowed(look: int, last: int, alpha: float = ALPHA) -> bool:
    if last <= look:
        return False
    size = two_look_size(look, last, alpha)
    return size is not None and size <= alpha


def _futile(a: Sequence[float], b: Sequence[float], remaining: int, alpha: float) -> bool:
    """No completion of `remaining` rounds can make a against b significant."""
    if remaining <= 0:
        return True
    low = min(*a, *b) - 1.0
    high = max(*a, *b) + 1.0
    return all(
        mann_whitney_p([*a, *[x] * remaining], [*b, *[y] * remaining]) >= alpha
        for x, y in ((low, high), (high, low))
    )


def settled(a: Sequence[float], b: Sequence[float], remaining: int, *,
            interim_ok: bool, alpha: float = ALPHA) -> bool:
    """Whether the verdict on a against b is fixed with `remaining` rounds still to run."""
    if remaining <= 0:
        return True
    if mann_whitney_p(a, b) < alpha:
        return interim_ok
    return _futile(a, b, remaining, alpha)
