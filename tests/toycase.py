"""A small case for the harness tests: real child processes, known outcomes.

`ops` is deterministic per variant, so the tables' verdicts on it are exact:
`faster` improves on `baseline`, `noop` changes nothing (must be `~`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar

from perflab.errors import ToolUnavailable
from perflab.measure import Metric, RunContext, Variant, no_session

WORK = {"baseline": 400_000, "faster": 100_000, "noop": 100_000}


class ToyCase:
    name = "toy"
    title = "Toy case"
    budget_s = 60.0
    variants = (
        Variant("baseline", "baseline", "a loop of 400k"),
        Variant("faster", "step", "a loop of 100k"),
        Variant("noop", "step", "the same loop again"),
        Variant("missing-tool", "reference", "a peer tool that is not installed"),
    )
    metrics = (
        Metric("ops", "Operations", "count"),
        Metric("wall_s", "Total Time", "s"),
    )
    categories: ClassVar = {"loop": ("toycase.py",)}
    session = staticmethod(no_session)

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        if variant == "missing-tool":
            raise ToolUnavailable("toytool is not installed")
        total = 0
        for i in range(WORK[variant]):
            total += i
        return {"ops": float(WORK[variant]), "pid": float(os.getpid())}


CASE = ToyCase()


class BrokenCase(ToyCase):
    name = "broken"

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        raise RuntimeError("the system under test crashed")


BROKEN = BrokenCase()


class ScaledCase(ToyCase):
    name = "scaled"
    variants = (*ToyCase.variants[:2],
                Variant("noop", "step", "the same loop again, at full scale only", ("full",)))


SCALED = ScaledCase()
