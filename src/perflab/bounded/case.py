"""Case study 5 for the harness: each ladder step soaked under a hard 256 MiB limit.

The session starts every variant's service once, each in its own memory group
(see _confine: the kernel's OOM killer acts, and a killed service is restarted as
a container runtime would); a repetition is one load window against it, so the
repetitions of a variant together are one long soak. Memory figures are the
group's (the whole service), GC figures the service's own /metrics; a
repetition's OOM kills and restarts are those during its window. The window's
memory samples, the limit and the OOM kills go to the run's timeline as
`memory`, `memory_limit` and `oom_kill` events: the report's memory chart
(report/_memory.py) draws them.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

from perflab.bounded._impl import LADDER
from perflab.measure import Metric, RunContext, ladder_variants, record_event

__all__ = ["CASE", "BoundedCase"]

LIMIT = 256 * 2**20
# A window is short at quick scale: 6 variants x 5 rounds must fit in a minute.
WINDOW_S = {"quick": 0.5, "full": 20.0}
UPLOAD_BYTES = 30 * 10**6
SAMPLE_S = 0.05  # the window's own sampling of the group's usage (an rlimit has no peak)


class BoundedCase:
    name = "bounded"
    title = "Case study 5: a service in 256 MiB (perflab bounded)"
    budget_s = 60.0
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
        from perflab.bounded._confine import confine
        from perflab.bounded._soak import Service, builtin_command

        with contextlib.ExitStack() as stack:
            services = [Service(builtin_command(v.name), confine(LIMIT),
                                log=ctx.workdir / f"soak-{v.name}.log",
                                status=ctx.workdir / f"soak-{v.name}.json")
                        for v in self.variants]
            for service in services:
                stack.callback(service.stop)
            starters = [threading.Thread(target=s.start) for s in services]
            for t in starters:
                t.start()
            for t in starters:
                t.join()
            yield {v.name: str(s.status) for v, s in zip(self.variants, services, strict=True)}

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        from perflab.bounded._confine import meter_from_spec
        from perflab.bounded._load import LoadSpec
        from perflab.bounded._soak import gc_pauses, run_load, scrape

        status_path = Path(ctx.params[variant])
        before = json.loads(status_path.read_text())
        meter = meter_from_spec(before["meter"])
        oom_before = meter.oom_kills()
        gc_before = gc_pauses(scrape(before["port"], "/metrics"))[1] or 0.0
        meter.reset_peak()
        sampled: list[float] = []
        stop = threading.Event()
        window = WINDOW_S[ctx.scale]
        # The report's memory chart (report/_memory.py) is drawn from these events.
        record_event("memory_limit", time.perf_counter(), window, float(LIMIT))

        def sample() -> None:
            kills = oom_before
            while not stop.wait(SAMPLE_S):
                now, used = time.perf_counter(), meter.usage_bytes()
                sampled.append(used)
                record_event("memory", now, 0.0, used)
                if meter.oom_kills() > kills:
                    kills = meter.oom_kills()
                    record_event("oom_kill", now, 0.0, float(kills - oom_before))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        spec = LoadSpec(urls=[("/items/{key}", 1.0)], connections=16,
                        upload_bytes=UPLOAD_BYTES, uploaders=2)
        counts, hist = run_load(before["port"], spec, duration=window, requests=None)
        stop.set()
        sampler.join()
        after = json.loads(status_path.read_text())
        pause_max, pause_total = gc_pauses(scrape(after["port"], "/metrics"))
        restarted = after["restarts"] > before["restarts"]
        gc_window = (pause_total or 0.0) - (0.0 if restarted else gc_before)
        peak = max([meter.peak_bytes(), *(b for b in sampled if b == b)])
        nan = float("nan")
        return {
            "oom_kills": float(meter.oom_kills() - oom_before),
            "restarts": float(after["restarts"] - before["restarts"]),
            "idle_rss_bytes": float(before["idle_bytes"]),
            "peak_bytes": peak,
            "gc_pause_max_s": pause_max if pause_max is not None else nan,
            "gc_cpu_pct": 100 * max(gc_window, 0.0) / window,
            "p99_s": hist.percentile_s(99.0) if hist.count else nan,
            "served_per_s": counts.served / window,
            "shed": float(counts.shed),
        }


CASE = BoundedCase()
