"""A case that makes cyclic garbage and records request latencies, for the timeline."""

from __future__ import annotations

import time

from perflab.measure import function_case, record_event


def cycles() -> None:
    """20k self-referencing lists, and ten timed 'requests'"""
    for _ in range(20_000):
        a: list[object] = []
        a.append(a)
    for _ in range(10):
        started = time.perf_counter()
        time.sleep(0.001)
        record_event("request", started, time.perf_counter() - started)


def few_cycles() -> None:
    """a thousand"""
    for _ in range(1_000):
        a: list[object] = []
        a.append(a)


CASE = function_case("gc", [cycles, few_cycles])
