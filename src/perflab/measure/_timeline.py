"""An event timeline of one measured run (go tool trace's job, the little Python needs).

While a `Timeline` is installed, every cyclic-GC collection of this process
(for a case that drives a server in another one, the load generator's) is recorded from
`gc.callbacks` as (start, duration, generation), times in seconds since the
run started; a case adds its own events with `record_event` (a service its
request latencies: `record_event("request", started, latency)`), a no-op when
no timeline is running, so a case may call it unconditionally.

The report draws one lane per variant, so a tail caused by collections can be
seen where it happens. Each kind keeps at most `MAX_EVENTS` events, a uniform
sample of the run beyond that: enough to draw, bounded whatever the run's
length; how many were left out is kept. `LatencyHistogram.record_ns` records
each latency here too, so the services' load generators need no code of their
own for it.
"""

from __future__ import annotations

import gc
import math
import random
import time
from typing import Any

__all__ = ["MAX_EVENTS", "Timeline", "record_event"]

# A lane of the report's chart is under a thousand pixels wide: 2,000 events draw it
# as densely as it can be seen, and keep results.json (kept in results/) small.
MAX_EVENTS = 2_000
# Event times kept to a tenth of a microsecond: finer is below perf_counter's use here.
DIGITS = 7

_current: Timeline | None = None


class Timeline:
    def __init__(self) -> None:
        self.origin = time.perf_counter()
        self.events: dict[str, list[list[float]]] = {}
        self._seen: dict[str, int] = {}
        self._next: dict[str, int] = {}
        self._w: dict[str, float] = {}
        self._gc_started = 0.0
        self._random = random.Random(0)  # seeded: the same run keeps the same sample

    def add(self, kind: str, start: float, duration: float, detail: float = 0.0) -> None:
        seen = self._seen[kind] = self._seen.get(kind, 0) + 1
        if seen <= MAX_EVENTS:
            self.events.setdefault(kind, []).append([start, duration, detail])
            if seen == MAX_EVENTS:
                self._skip(kind, seen)
        elif seen == self._next[kind]:
            events = self.events[kind]
            # Beyond the bound, a reservoir (Li's algorithm L): the kept events stay a
            # uniform sample of the whole run, and only the events that enter it draw
            # random numbers (a load generator calls this per request; see
            # benchmarks/timeline_cost.py).
            events[self._random.randrange(MAX_EVENTS)] = [start, duration, detail]
            self._skip(kind, seen)

    def _skip(self, kind: str, seen: int) -> None:
        """The next event to enter the reservoir of `kind`, after event number `seen`."""
        u = min(1.0 - self._random.random(), 1.0 - 1e-12)
        self._w[kind] = self._w.get(kind, 1.0) * math.exp(math.log(u) / MAX_EVENTS)
        v = min(1.0 - self._random.random(), 1.0 - 1e-12)
        self._next[kind] = seen + int(math.log(v) / math.log(1.0 - self._w[kind])) + 1

    @property
    def dropped(self) -> dict[str, int]:
        return {k: n - MAX_EVENTS for k, n in self._seen.items() if n > MAX_EVENTS}

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
            return
        self.add("gc", self._gc_started - self.origin, now - self._gc_started,
                 float(info.get("generation", 0)))

    def __enter__(self) -> Timeline:
        global _current
        self.origin = time.perf_counter()
        gc.callbacks.append(self._on_gc)
        _current = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _current
        gc.callbacks.remove(self._on_gc)
        _current = None

    def to_json(self) -> dict[str, Any]:
        events = {kind: [[round(t, DIGITS), round(d, DIGITS), x] for t, d, x in rows]
                  for kind, rows in self.events.items()}
        out: dict[str, Any] = {"events": events}
        if self.dropped:
            out["dropped"] = self.dropped
        return out


def record_event(kind: str, started: float, duration: float, detail: float = 0.0) -> None:
    """Record an event of the running timeline; `started` is a `time.perf_counter()` value."""
    if _current is not None:
        _current.add(kind, started - _current.origin, duration, detail)
