"""The ladder of `perflab stream run`: each variant is the step before it with one change."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["DEFAULT", "IMPLS", "LADDER", "Impl"]


@dataclass(frozen=True)
class Impl:
    name: str
    description: str
    decoder: str  # "dicts" | "pooled" | "structs" (see _decode.py)
    batch_size: int  # 1: poll() one message and insert it alone
    gc_tuning: bool  # gc.freeze() after start-up, a larger gen-0 threshold
    workers: int  # 0: consume in this process; N: N consumer processes in the group
    lazy_dedup: bool  # optimize_on_insert=0: repeats wait for merges and FINAL
    raw: bool  # ClickHouse parses the messages (the Python decoder is the fallback)
    overlap: bool  # the sink inserts one batch while the next is consumed and framed
    # The raw path frames librdkafka's message objects as they come: no tuple per message
    # (_source.KafkaBatch makes them only for what asks, such as the Python fallback).
    lazy_batches: bool = False
    # librdkafka's fetch.queue.backoff.ms: how long a partition waits to fetch again once
    # its prefetch queue was past its bound. 1,000 is librdkafka's default.
    fetch_backoff_ms: int = 1000


def _ladder() -> tuple[Impl, ...]:
    steps = [Impl("baseline", "poll() one message, json.loads into dicts, one INSERT per message",
                  decoder="dicts", batch_size=1, gc_tuning=False, workers=0, lazy_dedup=False,
                  raw=False, overlap=False)]

    def then(name: str, description: str, **change: Any) -> None:
        steps.append(replace(steps[-1], name=name, description=description, **change))

    then("pooling", "reuse one message object (sync.Pool)", decoder="pooled")
    then("batches", "consume and INSERT 1000 messages at a time", batch_size=1000)
    then("structs", "msgspec: decode into typed structs, encode rows as arrays, no dicts",
         decoder="structs")
    then("gc-tuning", "gc.freeze() after start-up, gen-0 threshold 50,000 (GOGC)",
         gc_tuning=True)
    then("workers", "2 consumer processes in the group, one sink process", workers=2)
    then("big-batches", "20,000 messages per INSERT: fewer, larger ClickHouse parts",
         batch_size=20_000)
    then("lazy-dedup", "optimize_on_insert=0: repeats are merged away later, not per insert",
         lazy_dedup=True)
    then("clickhouse-parse", "ClickHouse parses the raw messages; Python only frames them",
         raw=True)
    then("one-process", "no workers: one process consumes and frames while a thread inserts "
         "the batch before", workers=0, overlap=True)
    then("no-tuples", "the framing reads librdkafka's messages directly: no tuple a message",
         lazy_batches=True)
    then("refill", "librdkafka fetches again 10 ms after its prefetch queue was full, not "
         "1 s (fetch.queue.backoff.ms): the queue no longer runs dry", fetch_backoff_ms=10)
    return tuple(steps)


LADDER = _ladder()
IMPLS = {impl.name: impl for impl in LADDER}
DEFAULT = LADDER[-1].name
