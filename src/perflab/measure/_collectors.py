"""Collectors for one measured execution of a variant.

`Collector` wraps the execution and reports, under fixed metric names:

    wall_s              wall-clock time
    cpu_s               user + system CPU of this process and its waited-for children
    peak_rss_bytes      peak resident set size (the child is fresh, so this is the run's peak)
    gc_collections      cyclic-GC collections, all generations
    gc_pause_total_s    time spent inside the collector (from `gc.callbacks`)
    gc_pause_max_s      the longest single collection
    allocated_blocks    net change in live pymalloc blocks (`sys.getallocatedblocks`)
    traced_peak_bytes   peak traced Python allocations, only when tracemalloc is asked
                        for (it slows the run several-fold, so never with timings)

`machine_busy_s` is the CPU time all processes have used since boot (Linux's
/proc/stat): the difference of two readings is what a run cost the machine,
services such as a broker included.

CPython has no cheap cumulative allocation counter, so `allocated_blocks` is
the net retained count; per-request allocation figures come from tracemalloc.

`LatencyHistogram` keeps per-operation latencies in an HDR histogram (bounded
memory whatever the run length, 3 significant digits).
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
import tracemalloc
from types import TracebackType
from typing import Any

from perflab.measure._timeline import record_event

__all__ = ["PERCENTILES", "Collector", "GcWatch", "LatencyHistogram", "machine_busy_s"]

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def _peak_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024


def machine_busy_s() -> float:
    """CPU seconds all processes used since boot: user, nice, system, irq and softirq
    (not idle, I/O wait or steal); NaN where there is no /proc/stat."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = stat.readline().split()
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class GcWatch:
    """Cyclic-GC collections and their pauses, counted from `gc.callbacks` while installed.

    Used by the harness around a measured run, and by the services for their /metrics.
    """

    def __init__(self) -> None:
        self.collections = 0
        self.pause_total = 0.0
        self.pause_max = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
            return
        pause = now - self._started
        self.collections += 1
        self.pause_total += pause
        self.pause_max = max(self.pause_max, pause)

    def install(self) -> GcWatch:
        gc.callbacks.append(self)
        return self

    def remove(self) -> None:
        gc.callbacks.remove(self)


class Collector:
    """Context manager measuring one execution; `metrics` holds the result."""

    def __init__(self, *, trace_allocations: bool = False) -> None:
        self.trace_allocations = trace_allocations
        self.metrics: dict[str, float] = {}
        self.gc = GcWatch()

    def __enter__(self) -> Collector:
        if self.trace_allocations:
            tracemalloc.start()
        self.gc.install()
        self._blocks = sys.getallocatedblocks()
        self._cpu = _cpu_seconds()
        self._wall = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        wall = time.perf_counter() - self._wall
        cpu = _cpu_seconds() - self._cpu
        self.gc.remove()
        self.metrics = {
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_rss_bytes": float(_peak_rss_bytes()),
            "gc_collections": float(self.gc.collections),
            "gc_pause_total_s": self.gc.pause_total,
            "gc_pause_max_s": self.gc.pause_max,
            "allocated_blocks": float(sys.getallocatedblocks() - self._blocks),
        }
        if self.trace_allocations:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            self.metrics["traced_peak_bytes"] = float(peak)


class LatencyHistogram:
    """Latencies in nanoseconds, from 1 µs to 60 s, at 3 significant digits."""

    LOWEST_NS = 1_000
    HIGHEST_NS = 60_000_000_000

    def __init__(self) -> None:
        from hdrh.histogram import HdrHistogram  # only cases with latencies need it

        self._hist = HdrHistogram(self.LOWEST_NS, self.HIGHEST_NS, 3)

    def record_ns(self, latency_ns: int) -> None:
        # Clamp rather than drop: a lost sample would flatter the tail.
        clamped = min(max(latency_ns, self.LOWEST_NS), self.HIGHEST_NS)
        self._hist.record_value(clamped)
        # The measured run's timeline (a no-op outside one): latencies over time.
        record_event("request", time.perf_counter() - latency_ns / 1e9, latency_ns / 1e9)

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def percentile_s(self, percentile: float) -> float:
        return float(self._hist.get_value_at_percentile(percentile)) / 1e9

    def metrics(self, prefix: str = "latency") -> dict[str, float]:
        """p50/p90/p99/p99.9/max in seconds, keyed like `latency_p99_9_s`."""
        out = {
            f"{prefix}_p{str(p).rstrip('0').rstrip('.').replace('.', '_')}_s": self.percentile_s(p)
            for p in PERCENTILES
        }
        out[f"{prefix}_max_s"] = float(self._hist.get_max_value()) / 1e9
        return out
