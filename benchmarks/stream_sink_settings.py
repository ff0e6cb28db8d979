"""chDB settings against the raw path's insert cost: the sink's CPU a message.

    .venv/bin/python benchmarks/stream_sink_settings.py [--messages 20000] [-n 6]

The final steps hand ClickHouse wrapper lines (`_schema.frame_raw`) for the
`events_raw` Null table, whose materialized view fills `events`. This inserts
one such batch 5 times per measurement into the processor's own tables (its
DDL, its strict JSON settings, `optimize_on_insert=0`), with background merges
stopped so each figure is the insert's own work, for each settings variant in
turn (alternated), and prints the median of n of the process's CPU a message
(chDB's threads included) and the wall time a message:

- default: what the processor sends;
- input_format_parallel_parsing=0: no segmenting pass and parsing pool;
- max_threads=1: one thread for the insert's pipeline;
- both.

Outside the test suite on purpose: a timing is a benchmark, never an assertion.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from perflab.services.clickhouse import connect
from perflab.stream._events import events
from perflab.stream._schema import RAW_SETTINGS, ddl, frame_raw

VARIANTS: dict[str, dict[str, int | str]] = {
    "default": {},
    "input_format_parallel_parsing=0": {"input_format_parallel_parsing": 0},
    "max_threads=1": {"max_threads": 1},
    "both": {"max_threads": 1, "input_format_parallel_parsing": 0},
}
INSERTS = 5


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("-n", type=int, default=6)
    opts = parser.parse_args()
    batch = [(i % 4, i, value, 0) for i, value, _ in events(opts.messages)]
    body = frame_raw("events", batch)
    assert body is not None
    with tempfile.TemporaryDirectory() as tmp:
        client = connect(f"chdb://{tmp}")
        try:
            for statement in ddl("events"):
                client.command(statement)
            client.command("SYSTEM STOP MERGES events")
            seen: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
            for _ in range(opts.n):
                for name, extra in VARIANTS.items():
                    settings = {**RAW_SETTINGS, "optimize_on_insert": 0, **extra}
                    wall, cpu = time.perf_counter(), time.process_time()
                    for _ in range(INSERTS):
                        written = client.insert("events_raw", body, settings, "JSONEachRow")
                        assert written == 2 * opts.messages, written  # Null table + view
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    per = INSERTS * opts.messages
                    seen[name].append((cpu / per, wall / per))
                    client.command("TRUNCATE TABLE events")
        finally:
            client.close()
    print(f"{opts.messages:,}-message raw batches into events, {INSERTS} inserts, "
          f"merges stopped, median of {opts.n}:")
    for name, runs in seen.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(f"  {name:<32} {cpu * 1e6:5.2f} µs CPU/msg  {wall * 1e6:5.2f} µs wall/msg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
