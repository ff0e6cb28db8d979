"""What a case study declares to the harness.

A case is plain data plus three hooks:

- `session(ctx)`: a context manager run once in the parent process; it makes
  the deterministic workload (cached by scale and seed) and starts the real
  services, and yields the parameters every measured child receives;
- `run(variant, ctx)`: one measured execution of one variant, in a fresh child
  process, through the system's public entry point; returns the case's own
  metrics (the harness adds wall time, CPU, RSS, GC and allocations);
- `categories`: how `perflab profile` groups cProfile's functions into the
  guide's "time breakdown"; a case whose `run` drives child processes also
  offers `profile(variant, ctx)`, the same work done in this process, since
  cProfile cannot see into a child.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

__all__ = [
    "KINDS",
    "SCALES",
    "Case",
    "Metric",
    "RunContext",
    "Variant",
    "ladder_variants",
    "no_session",
]

Kind = Literal["baseline", "step", "reference"]
KINDS: tuple[Kind, ...] = ("baseline", "step", "reference")
SCALES = ("quick", "full")


@dataclass(frozen=True)
class Variant:
    name: str
    kind: Kind
    description: str
    # The scales whose runs include it unless named: a reference that only full scale can
    # afford (the quick run's time is shared by every case).
    scales: tuple[str, ...] = SCALES


@dataclass(frozen=True)
class Metric:
    """A column of the guide-style table."""

    name: str  # key in the samples, e.g. "wall_s"
    label: str  # what the guide calls it, e.g. "Total Time"
    unit: str  # "s", "B", "1/s", "count", "%", ...
    better: Literal["lower", "higher"] = "lower"
    # The first metric always gets a ladder table; others when a step targets them
    # (e.g. start-up time, which a whole-run total hides).
    ladder: bool = False


@dataclass(frozen=True)
class RunContext:
    scale: str
    workdir: Path
    params: Mapping[str, str] = field(default_factory=dict)


class Case(Protocol):
    name: str
    title: str
    variants: Sequence[Variant]
    metrics: Sequence[Metric]
    # Repetition time budget in seconds at quick scale; full scale may exceed it.
    budget_s: float
    categories: Mapping[str, Sequence[str]]

    def session(self, ctx: RunContext) -> contextlib.AbstractContextManager[Mapping[str, str]]:
        ...

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        ...


class _Step(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...


def ladder_variants(steps: Sequence[_Step]) -> tuple[Variant, ...]:
    """A system's ladder of options as variants: the first is the baseline, the rest steps."""
    return tuple(Variant(s.name, "baseline" if i == 0 else "step", s.description)
                 for i, s in enumerate(steps))


@contextlib.contextmanager
def no_session(ctx: RunContext) -> Iterator[Mapping[str, str]]:
    """For cases that need no workload files and no services."""
    yield {}


SessionFactory = Callable[[RunContext], contextlib.AbstractContextManager[Mapping[str, str]]]
