"""Where messages come from: a Kafka consumer group, or a replay file.

Both give batches of `Message` tuples and take `ack(batch)` once the sink has
accepted a batch. The Kafka source stores the offsets only then
(`enable.auto.offset.store=false`); librdkafka commits stored offsets in the
background and on close. A crash therefore re-delivers at most the batches in
flight, which the ReplacingMergeTree absorbs: nothing is lost, nothing counts twice.

The replay file is the processor's own ceiling without a broker: records of
(partition, offset, timestamp, length, value) as `perflab stream produce --replay` writes them.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from perflab.errors import InputError, ServiceError
from perflab.stream._decode import Message

__all__ = ["KafkaSource", "ReplaySource", "Source", "write_replay"]

# Bounded prefetch: librdkafka's queue is what a slow sink pushes back on. With the
# default 1 MiB a partition a fetch, the queue ran dry between fetches (50k msg/s
# where 250k is possible here, measured with 20,000-message batches).
PREFETCH_KBYTES = 64 * 1024
PARTITION_FETCH_BYTES = 8 << 20
RECORD = struct.Struct("<IQqI")
CONSUME_MAX = 2000
LINGER_S = 0.05  # the longest a batch waits to fill: the latency price of batching
WATERMARK_EVERY_S = 0.5  # partition, offset, timestamp ms, value length


class Source(Protocol):
    finished: bool  # nothing more will ever come (the end of a replay file)
    ready_at: float | None  # time.monotonic() when messages could first arrive

    def poll_batch(self, size: int, timeout: float) -> list[Message]: ...
    def ack(self, batch: Sequence[Message]) -> None: ...
    def lag(self) -> int: ...
    def close(self) -> None: ...


class KafkaSource:
    def __init__(self, bootstrap: str, topic: str, group: str,
                 extra: dict[str, Any] | None = None) -> None:
        from confluent_kafka import Consumer, KafkaException

        from perflab.errors import UsageError
        from perflab.services.kafka import CLIENT_DEFAULTS

        self.topic = topic
        self.finished = False
        self.ready_at: float | None = None  # set when the group first assigns partitions
        try:
            self._consumer = Consumer({
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                "enable.auto.offset.store": False,
                "auto.commit.interval.ms": 1000,
                # A dead member is noticed in seconds, and joins are not held up.
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                "max.poll.interval.ms": 60_000,
                "partition.assignment.strategy": "roundrobin",
                "queued.max.messages.kbytes": PREFETCH_KBYTES,
                "max.partition.fetch.bytes": PARTITION_FETCH_BYTES,
                "fetch.wait.max.ms": 50,
                **CLIENT_DEFAULTS,
                **(extra or {}),
            })
        except KafkaException as exc:  # e.g. an unknown -X setting
            raise UsageError(f"Kafka consumer settings: {exc.args[0].str()}") from exc
        self._next: dict[int, int] = {}  # partition -> next offset to process
        self._high: dict[int, int] = {}  # partition -> high watermark, refreshed by a thread
        self._closed = threading.Event()
        self._consumer.subscribe([topic], on_assign=self._assigned)
        # Asking the broker for watermarks takes ~20 ms a partition here: never in the loop.
        threading.Thread(target=self._watch_watermarks, daemon=True).start()

    def _watch_watermarks(self) -> None:
        from confluent_kafka import KafkaException

        while not self._closed.wait(WATERMARK_EVERY_S):
            try:
                for tp in self._consumer.assignment():
                    marks = self._consumer.get_watermark_offsets(tp, timeout=2)
                    if marks:
                        self._high[tp.partition] = marks[1]
            except (KafkaException, RuntimeError):  # closing, or a rebalance under way
                continue

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        if self.ready_at is None:
            self.ready_at = time.monotonic()
        # Said on stderr: operators (and the benchmark) see when the group has settled.
        # One write(2) of the whole line: worker processes share the stream, and a line
        # written in pieces interleaved with another's (seen in a run).
        numbers = ",".join(str(tp.partition) for tp in partitions)
        os.write(2, f"perflab stream: assigned {self.topic}[{numbers}]\n".encode())

    def _convert(self, messages: Iterable[Any]) -> list[Message]:
        from confluent_kafka import KafkaError

        batch: list[Message] = []
        for m in messages:
            error = m.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise ServiceError(f"Kafka: {error.str()}")
            batch.append((m.partition(), m.offset(), m.value(), m.timestamp()[1]))
        return batch

    def poll_batch(self, size: int, timeout: float) -> list[Message]:
        if size == 1:  # the guide's "before": poll() one message at a time
            message = self._consumer.poll(timeout)
            return self._convert(() if message is None else (message,))
        # consume(n, t) waits until it has n messages or t has passed, and consume() of more
        # than a few thousand waits on librdkafka's fetch queue (measured here: 54k msg/s at
        # 20,000 against 330k at 1,000). So a batch is gathered from several consume()s and
        # closes when full or LINGER_S after the wait began: at low rates a message waits
        # at most that long before its insert.
        deadline = time.monotonic() + min(timeout, LINGER_S)
        batch: list[Message] = []
        while len(batch) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batch += self._convert(self._consumer.consume(min(size - len(batch), CONSUME_MAX),
                                                          left))
        return batch

    def ack(self, batch: Sequence[Message]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        last: dict[int, int] = {}
        for partition, offset, _, _ in batch:
            last[partition] = offset
        offsets = [TopicPartition(self.topic, p, o + 1) for p, o in last.items()]
        for p, o in last.items():
            self._next[p] = o + 1
        # KafkaException: the partition was revoked while the batch was in flight; its new
        # owner re-reads from the last commit, and the sink absorbs the duplicates.
        with contextlib.suppress(KafkaException):
            self._consumer.store_offsets(offsets=offsets)

    def lag(self) -> int:
        """Messages not yet processed (not merely prefetched), as of the last watermarks."""
        return sum(max(high - self._next.get(p, 0), 0) for p, high in list(self._high.items()))

    def close(self) -> None:
        self._closed.set()
        self._consumer.close()  # commits the stored offsets


class ReplaySource:
    """All records of a replay file, read once into memory and sliced into batches."""

    def __init__(self, path: Path, shard: tuple[int, int] | None = None) -> None:
        # shard (k, n): only the partitions p with p % n == k, as a consumer group would split
        self._shard = shard
        try:
            self._data = memoryview(path.read_bytes())
        except OSError as exc:
            raise InputError(f"cannot read replay file: {exc.strerror}", path=str(path)) from exc
        self._path = path
        self.finished = len(self._data) == 0
        self.ready_at: float | None = time.monotonic()
        self._pos = 0
        self._index = 0

    def poll_batch(self, size: int, timeout: float) -> list[Message]:
        data, pos, unpack = self._data, self._pos, RECORD.unpack_from
        batch: list[Message] = []
        end = len(data)
        while len(batch) < size and pos < end:
            if pos + RECORD.size > end:
                raise InputError("truncated record header", path=str(self._path),
                                 line=self._index + 1, column=pos + 1)
            partition, offset, timestamp, length = unpack(data, pos)
            pos += RECORD.size
            if pos + length > end:
                raise InputError("truncated record value", path=str(self._path),
                                 line=self._index + 1, column=pos + 1)
            if self._shard is None or partition % self._shard[1] == self._shard[0]:
                batch.append((partition, offset, bytes(data[pos:pos + length]), timestamp))
            pos += length
            self._index += 1
        self._pos = pos
        self.finished = pos >= end
        return batch

    def ack(self, batch: Sequence[Message]) -> None:
        pass  # a file has no offsets to commit

    def lag(self) -> int:
        return 0  # a file is read to its end; there is no producer to fall behind

    def close(self) -> None:
        self._data.release()


def write_replay(path: Path, records: Iterable[Message]) -> int:
    count = 0
    with open(path, "wb") as out:
        for partition, offset, value, timestamp in records:
            body = value or b""
            out.write(RECORD.pack(partition, offset, timestamp, len(body)))
            out.write(body)
            count += 1
    return count
