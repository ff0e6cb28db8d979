"""The raw path's Python cost a message, and the processor's page faults, on a real broker.

    .venv/bin/python benchmarks/stream_framing.py [--messages 200000] [-n 3]

Starts the embedded broker and produces the stream case's events (4 partitions).

1. Framing, in this process, on 20,000 messages as librdkafka gives them
   (`Consumer.consume`), alternated, median of n, CPU time a message:
   - two copies: the tuples below, framed as before, each wrapper line formatted
     whole (`%b` copies the message) and the lines joined (a second copy);
   - tuples: `KafkaSource._convert_one` makes a (partition, offset, value,
     timestamp) tuple a message, `frame_raw` wraps the tuples, the offsets to
     store are read from them (the `one-process` step);
   - KafkaBatch: `frame_raw` reads librdkafka's message objects directly and
     notes the offsets as it goes (the `no-tuples` step).
2. The processor, `perflab stream run --max-messages N` as a child process for
   each of one-process and no-tuples, alternated, median of n: its
   CPU a message (the consuming loop's, as the summary reports it), its minor
   page faults a message (the whole child, start-up included: getrusage of the
   children), and msg/s.

On a shared machine the rates move with the load; the CPU and fault counts a
message move much less. Outside the test suite on purpose: a timing is a
benchmark, never an assertion.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from perflab.services import perflab_command
from perflab.services.kafka import CLIENT_DEFAULTS, local_broker
from perflab.stream._decode import Message
from perflab.stream._produce import produce
from perflab.stream._schema import _check_message, frame_raw
from perflab.stream._source import KafkaBatch, KafkaSource, last_offsets

TOPIC = "framing"
FRAMED = 20_000
STEPS = ("one-process", "no-tuples")
QUICK_JOIN = ["-X", "max.poll.interval.ms=2000", "-X", "session.timeout.ms=2000",
              "-X", "heartbeat.interval.ms=300"]


def _consumed(bootstrap: str, count: int) -> list[Any]:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", **CLIENT_DEFAULTS})
    consumer.subscribe([TOPIC])
    messages: list[Any] = []
    try:
        while len(messages) < count:
            messages += consumer.consume(min(2000, count - len(messages)), 1.0)
    finally:
        consumer.close()
    return messages


def _frame_whole_lines(topic: str, batch: list[Message]) -> bytes | None:
    """frame_raw before its lines were joined from pieces: the message copied twice."""
    head = msgspec.json.encode(topic)
    lines: list[bytes] = []
    for partition, offset, value, _ in batch:
        if value is None:
            return None
        try:
            _check_message(value)
            if not value.isascii():
                value.decode()
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        lines.append(b'{"topic":%b,"partition":%d,"offset":%d,"m":%b}\n'
                     % (head, partition, offset, value))
    return b"".join(lines)


def _framing(messages: list[Any], rounds: int) -> dict[str, float]:
    source = KafkaSource.__new__(KafkaSource)  # only its converter: no consumer behind it

    def tuples() -> None:
        batch = source._convert_one(messages)
        frame_raw(TOPIC, batch)
        last_offsets(batch)

    def lazy() -> None:
        batch = KafkaBatch(messages)
        frame_raw(TOPIC, batch)
        last_offsets(batch)

    def two_copies() -> None:
        batch = source._convert_one(messages)
        _frame_whole_lines(TOPIC, batch)
        last_offsets(batch)

    ways = {"two copies": two_copies, "tuples": tuples, "KafkaBatch": lazy}
    framed = frame_raw(TOPIC, KafkaBatch(messages))
    assert frame_raw(TOPIC, source._convert_one(messages)) == framed
    assert _frame_whole_lines(TOPIC, source._convert_one(messages)) == framed
    seen: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, way in ways.items():
            way()  # warm
            started = time.process_time()
            for _ in range(5):
                way()
            seen[name].append((time.process_time() - started) / (5 * len(messages)))
    return {name: statistics.median(runs) for name, runs in seen.items()}


def _processor(bootstrap: str, impl: str, count: int, work: Path) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory(dir=work) as chdb:
        done = subprocess.run(
            [*perflab_command(), "stream", "run", "--topic", TOPIC, "--group",
             uuid.uuid4().hex[:12], "--brokers", bootstrap, "--clickhouse", f"chdb://{chdb}",
             "--impl", impl, "--max-messages", str(count), "--create-table", "--json",
             *QUICK_JOIN], capture_output=True, text=True, timeout=600, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    s = json.loads(done.stdout)
    return {"cpu": s["cpu_s"] / s["consumed"], "faults": (after.ru_minflt - before.ru_minflt)
            / s["consumed"], "rate": s["msgs_per_s"]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("-n", type=int, default=3)
    opts = parser.parse_args()
    with local_broker() as broker, tempfile.TemporaryDirectory() as tmp:
        produce(broker.bootstrap, TOPIC, opts.messages, 4)
        framing = _framing(_consumed(broker.bootstrap, FRAMED), opts.n)
        print(f"framing {FRAMED:,} librdkafka messages, CPU a message, median of {opts.n}:")
        for name, cpu in framing.items():
            print(f"  {name:<12} {cpu * 1e6:6.3f} µs")
        runs: dict[str, list[dict[str, float]]] = {impl: [] for impl in STEPS}
        for _ in range(opts.n):
            for impl in STEPS:
                runs[impl].append(_processor(broker.bootstrap, impl, opts.messages, Path(tmp)))
        print(f"perflab stream run, {opts.messages:,} messages, median of {opts.n}:")
        for impl, seen in runs.items():
            cpu, faults, rate = (statistics.median(r[k] for r in seen)
                                 for k in ("cpu", "faults", "rate"))
            print(f"  {impl:<12} {cpu * 1e6:5.2f} µs CPU/msg  {faults:5.3f} faults/msg  "
                  f"{rate:>9,.0f} msg/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
