"""`perflab stream produce`: the deterministic events into a topic, or into a replay file.

Event i goes to partition i % partitions, so a topic's contents depend only on
(count, partitions, bad ratio). Every delivery is confirmed; a failed one is
an error, never a silent gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from perflab.errors import ServiceError
from perflab.stream._decode import Message
from perflab.stream._events import events

__all__ = ["produce", "produce_replay"]


def produce(bootstrap: str, topic: str, count: int, partitions: int,
            bad_ratio: float = 0.0, fmt: str = "json") -> int:
    """Send events [0, count); returns how many the broker acknowledged."""
    from confluent_kafka import Producer

    from perflab.services.kafka import CLIENT_DEFAULTS, create_topic

    create_topic(bootstrap, topic, partitions)
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 200_000,
        **CLIENT_DEFAULTS,
    })
    failures: list[str] = []
    delivered = 0

    def on_delivery(error: object, _message: object) -> None:
        nonlocal delivered
        if error is not None:
            failures.append(str(error))
        else:
            delivered += 1

    for i, value, _ in events(count, bad_ratio, fmt):
        while True:
            try:
                producer.produce(topic, value, key=b"%d" % i, partition=i % partitions,
                                 on_delivery=on_delivery)
                break
            except BufferError:  # the local queue is full: let the broker catch up
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(60)
    if failures or remaining:
        raise ServiceError(f"{len(failures) + remaining} of {count} messages not delivered"
                           + (f": {failures[0]}" if failures else ""))
    return delivered


def _replay_records(count: int, partitions: int, bad_ratio: float,
                    fmt: str) -> Iterator[Message]:
    for i, value, _ in events(count, bad_ratio, fmt):
        yield i % partitions, i // partitions, value, 0  # no produce time: no latency


def produce_replay(path: Path, count: int, partitions: int, bad_ratio: float = 0.0,
                   fmt: str = "json") -> int:
    from perflab.stream._source import write_replay

    return write_replay(path, _replay_records(count, partitions, bad_ratio, fmt))
