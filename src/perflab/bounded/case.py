"""Case study 5 for the harness: each ladder step soaked under a hard 256 MiB limit.

A repetition is one `soak` of the variant (the real service, its own process,
in a memory cgroup with the kernel's OOM killer): the guide's "before" is
expected to be killed, and the table shows it. Memory figures are the
cgroup's (the whole service), GC figures the service's own /metrics.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import ClassVar

from perflab.bounded._impl import LADDER
from perflab.measure import Metric, RunContext, ladder_variants

__all__ = ["CASE", "BoundedCase"]

LIMIT = 256 * 2**20
DURATION = {"quick": 5.0, "full": 60.0}


class BoundedCase:
    name = "bounded"
    title = "Case study 5: a service in 256 MiB (perflab bounded)"
    budget_s = 120.0
    variants = ladder_variants(LADDER)
    metrics = (
        Metric("oom_kills", "OOM Events", "count"),
        Metric("idle_rss_bytes", "Heap Usage (Idle RSS)", "B"),
        Metric("peak_bytes", "Peak memory (cgroup)", "B", ladder=True),
        Metric("gc_pause_max_s", "GC Pause Time (max)", "s", ladder=True),
        Metric("gc_cpu_pct", "CPU Usage (from GC)", "%"),
        Metric("p99_s", "GET p99 latency", "s"),
        Metric("served_per_s", "Requests served/s", "1/s", "higher"),
    )
    categories: ClassVar = {"json": ("json", "ijson"), "cache": ("_cache.py",),
                            "service": ("_app.py",)}

    @contextlib.contextmanager
    def session(self, ctx: RunContext) -> Iterator[Mapping[str, str]]:
        yield {}

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        from perflab.bounded._soak import soak

        r = soak(variant, LIMIT, duration=DURATION[ctx.scale],
                 log=ctx.workdir / f"soak-{variant}.log")
        gc_total = r.gc_pause_total_s if not math.isnan(r.gc_pause_total_s) else float("nan")
        return {
            "oom_kills": float(r.oom_kills),
            "crashed": float(r.crashed),
            "idle_rss_bytes": r.idle_rss_bytes,
            "peak_bytes": r.peak_bytes,
            "gc_pause_max_s": r.gc_pause_max_s,
            "gc_cpu_pct": 100 * gc_total / r.seconds,
            "p99_s": r.p99_s,
            "served_per_s": r.served / r.seconds,
            "shed": float(r.shed),
        }


CASE = BoundedCase()
