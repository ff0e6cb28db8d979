"""A ladder of one's own in a few lines: functions or commands as variants.

`function_case("name", [baseline, step1, ...], workload=make_data)` and
`command_case("name", {"baseline": "cmd", ...})` build a `Case` that
`perflab run --case mymodule:CASE` measures like the built-in ones: every
repetition in a fresh process, rounds interleaved, the first variant the
baseline. The workload is made in the child before the clock starts, and a
function is called `number` times per repetition so a fast one still takes
long enough to time (the table shows the time of one call).
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perflab.errors import UsageError
from perflab.measure._case import Case, Metric, RunContext, Variant, no_session

__all__ = ["command_case", "function_case"]

# Time is one call's; the harness's cpu_s would be the whole child's, workload included.
OWN_METRICS = (
    Metric("time_s", "Time", "s"),
    Metric("peak_rss_bytes", "Peak RSS", "B"),
)
# A user's case has no quick/full sizes of its own; a minute bounds a default run.
DEFAULT_BUDGET_S = 60.0


def _describe(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn)
    return doc.splitlines()[0] if doc else fn.__name__


def _source(fn: Callable[..., Any]) -> str:
    try:
        return inspect.getsourcefile(fn) or ""
    except TypeError:  # a builtin: no file of its own
        return ""


def _variants(names: Sequence[str], descriptions: Sequence[str]) -> tuple[Variant, ...]:
    if not names:
        raise UsageError("a case needs at least one variant")
    if len(set(names)) != len(names):
        raise UsageError(f"two variants share a name: {', '.join(names)}")
    return tuple(Variant(n, "baseline" if i == 0 else "step", d)
                 for i, (n, d) in enumerate(zip(names, descriptions, strict=True)))


@dataclass
class _OwnCase:
    # Plain (not frozen) attributes: the `Case` protocol declares them as variables.
    name: str
    title: str
    variants: Sequence[Variant]
    budget_s: float
    categories: Mapping[str, Sequence[str]]
    measure: Callable[[str], float]
    metrics: Sequence[Metric] = OWN_METRICS

    def session(self, ctx: RunContext) -> contextlib.AbstractContextManager[Mapping[str, str]]:
        return no_session(ctx)

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        return {"time_s": self.measure(variant)}


def function_case(
    name: str,
    variants: Sequence[Callable[..., Any]] | Mapping[str, Callable[..., Any]],
    *,
    workload: Callable[[], Any] | None = None,
    number: int = 1,
    title: str | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
) -> Case:
    """Each variant is called `number` times with `workload()`'s result (or no argument)."""
    if number < 1:
        raise UsageError("number must be at least 1")
    pairs = list(variants.items()) if isinstance(variants, Mapping) else [
        (f.__name__, f) for f in variants]
    described = _variants([n for n, _ in pairs], [_describe(f) for _, f in pairs])
    table = dict(pairs)
    files = sorted({_source(f) for f in table.values()} - {""})

    def measure(variant: str) -> float:
        fn = table[variant]
        args: tuple[Any, ...] = (workload(),) if workload is not None else ()
        start = time.perf_counter()
        for _ in range(number):
            fn(*args)
        return (time.perf_counter() - start) / number

    return _OwnCase(name, title or name, described, budget_s, {"the case's own code": files},
                    measure)


def command_case(
    name: str,
    variants: Mapping[str, str],
    *,
    title: str | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
) -> Case:
    """Each variant is a command line, run as `perflab bench` runs one."""
    from perflab.errors import MeasurementError
    from perflab.measure._bench import run_once

    described = _variants(list(variants), list(variants.values()))

    def measure(variant: str) -> float:
        sample = run_once(variants[variant])
        if sample.status != 0:
            raise MeasurementError(f"{variants[variant]!r} exited {sample.status}")
        return sample.wall_s

    return _OwnCase(name, title or name, described, budget_s, {}, measure)

