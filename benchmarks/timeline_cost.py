"""What recording an event on the timeline costs (a load generator records one per request).

    .venv/bin/python benchmarks/timeline_cost.py

Per call, in ns: `time.perf_counter()` alone; `record_event` with no timeline
running (what every LatencyHistogram.record_ns outside a measured run pays);
and with one, past its bound (the steady state of a long run). Medians of 7
alternated rounds of 200k calls.
"""

from __future__ import annotations

import statistics
import time

from perflab.measure._timeline import MAX_EVENTS, Timeline, record_event

CALLS = 200_000


def bare() -> None:
    for _ in range(CALLS):
        time.perf_counter()


def recorded() -> None:
    for _ in range(CALLS):
        record_event("request", time.perf_counter(), 0.001)


def main() -> None:
    rounds: dict[str, list[float]] = {"perf_counter": [], "inactive": [], "active": []}
    for _ in range(7):
        for name, body in (("perf_counter", bare), ("inactive", recorded), ("active", recorded)):
            timeline = Timeline()
            if name == "active":
                timeline.__enter__()
                for _ in range(MAX_EVENTS):
                    record_event("request", time.perf_counter(), 0.001)
            start = time.perf_counter()
            body()
            rounds[name].append((time.perf_counter() - start) / CALLS * 1e9)
            if name == "active":
                timeline.__exit__()
    for name, values in rounds.items():
        print(f"{name:>12}: {statistics.median(values):7.0f} ns a call "
              f"(rounds {min(values):.0f}-{max(values):.0f})")


if __name__ == "__main__":
    main()
