"""A case whose measured run forks workers, for `perflab profile --subprocesses`.

`spin` burns CPU in two forked workers; `spin_less` spends it in `rest`
instead, so a profile diff between the two has known movers.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping
from typing import ClassVar

from perflab.measure import Metric, RunContext, Variant, no_session

# Long enough that py-spy, which looks for new child processes as it samples, finds
# the forked workers while they still run.
LOOPS = 6_000_000


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def rest(n: int) -> int:
    return sum(x * x for x in range(n))


def spin_less(n: int) -> int:
    return rest(n // 2)


class ForkCase:
    name = "fork"
    title = "Forked workers"
    budget_s = 30.0
    variants = (
        Variant("spin", "baseline", "two forked workers spin"),
        Variant("spin-less", "step", "resting instead of spinning"),
    )
    metrics = (Metric("wall_s", "Total Time", "s"),)
    categories: ClassVar = {"spinning": ("forkcase.py:",)}
    session = staticmethod(no_session)

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        work = spin if variant == "spin" else spin_less
        with multiprocessing.get_context("fork").Pool(2) as pool:
            pool.map(work, [LOOPS] * 2)
        return {}

    def profile(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        (spin if variant == "spin" else spin_less)(LOOPS // 10)
        return {}


CASE = ForkCase()
