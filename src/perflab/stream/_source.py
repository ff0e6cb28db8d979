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
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, overload

from perflab.errors import InputError, ServiceError
from perflab.stream._decode import Message

__all__ = ["KafkaBatch", "KafkaSource", "ReplaySource", "Source", "last_offsets", "write_replay"]

# Bounded prefetch: librdkafka's queue is what a slow sink pushes back on. With the
# default 1 MiB a partition a fetch, the queue runs dry between fetches when the consumer
# takes 20,000-message batches (the stream case's bare-consume reference is the ceiling).
PREFETCH_KBYTES = 64 * 1024
PARTITION_FETCH_BYTES = 8 << 20
RECORD = struct.Struct("<IQqI")  # partition, offset, timestamp ms, value length
CONSUME_MAX = 2000
LINGER_S = 0.05  # the longest a batch waits to fill: the latency price of batching
WATERMARK_EVERY_S = 0.5
COMMITTED_TIMEOUT_S = 5.0  # at assignment: the group's committed offsets, for the lag


def _stamp() -> tuple[float, float]:
    """Now, and the machine's busy CPU now: a source's `first_message`."""
    from perflab.measure import machine_busy_s

    return time.monotonic(), machine_busy_s()


def _as_message(m: Any) -> Message:
    return (m.partition(), m.offset(), m.value(), m.timestamp()[1])


class KafkaBatch(Sequence[Message]):
    """One topic's messages as librdkafka gave them (none with an error): a Message tuple
    is made only for what asks for one (a decoder, the latency sample), so the raw path
    frames `messages` directly (`_schema.frame_raw`) without a tuple a message.

    `last`: the highest offset of each partition, when the framing has seen them."""

    __slots__ = ("last", "messages")

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages
        self.last: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self.messages)

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...
    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        if isinstance(index, slice):
            return [_as_message(m) for m in self.messages[index]]
        return _as_message(self.messages[index])

    def __iter__(self) -> Iterator[Message]:
        return map(_as_message, self.messages)


def last_offsets(batch: Sequence[Message]) -> dict[int, int]:
    """The highest offset of each partition in `batch` (a partition's come in order)."""
    if isinstance(batch, KafkaBatch):
        if batch.last is None:
            batch.last = {m.partition(): m.offset() for m in batch.messages}
        return batch.last
    return {partition: offset for partition, offset, _, _ in batch}


class Source(Protocol):
    finished: bool  # nothing more will ever come (the end of a replay file)
    ready_at: float | None  # time.monotonic() when messages could first arrive
    batch_topic: str  # the topic of the batch poll_batch returned last (one topic a batch)
    # The last batch closed with messages still waiting (full, or on its linger while they
    # kept coming): the sink may insert it while the next is read.
    backlog: bool
    # When the first message came in hand, and the machine's busy CPU then
    # (measure.machine_busy_s): where the throughput and CPU a message count from.
    first_message: tuple[float, float] | None

    def poll_batch(self, size: int, timeout: float) -> Sequence[Message]: ...
    def ack(self, batch: Sequence[Message], topic: str) -> None: ...
    def lag(self) -> int: ...
    def lag_by_partition(self) -> dict[tuple[str, int], int]: ...
    def pause(self) -> None:
        """Fetch nothing more (the sink is down): the backlog stays with the broker."""
    def wait(self, seconds: float) -> None:
        """Sleep while paused, keeping the group membership alive."""
    def resume(self) -> None: ...
    def commit(self) -> None:
        """Commits the acknowledged offsets (a failure is reported: they are re-read)."""
    def close(self) -> None: ...


class KafkaSource:
    def __init__(self, bootstrap: str, topics: str | list[str], group: str,
                 extra: dict[str, Any] | None = None, lazy: bool = False) -> None:
        """`topics`: a list of names, or one regular expression (librdkafka's `^...`).

        `lazy`: one topic's batches are KafkaBatch (librdkafka's messages, tuples on demand)."""
        from confluent_kafka import Consumer, KafkaException

        from perflab.errors import UsageError
        from perflab.services.kafka import CLIENT_DEFAULTS

        if isinstance(topics, str):
            pattern, names = True, [topics if topics.startswith("^") else f"^{topics}"]
        else:
            pattern, names = False, list(topics)
        self.topic = ",".join(names)
        self.batch_topic = names[0] if not pattern else ""
        self.finished = self.backlog = False
        self.ready_at: float | None = None  # set when the group first assigns partitions
        self.first_message: tuple[float, float] | None = None
        config: dict[str, Any] = {
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
        }
        try:
            self._consumer = Consumer(config)
        except KafkaException as exc:  # e.g. an unknown -X setting
            raise UsageError(f"Kafka consumer settings: {exc.args[0].str()}") from exc
        self._next: dict[tuple[str, int], int] = {}  # next offset to process
        # High watermarks: as the consumer's fetches brought them, and as the broker told
        # the watcher thread (the fetches stop while librdkafka's queue is full).
        self._fetched: dict[tuple[str, int], int] = {}
        self._asked: dict[tuple[str, int], int] = {}
        # Messages of other topics than the batch returned: they open the next batches.
        self._held: dict[str, list[Message]] = {}
        # Chosen once: one topic's batches need no look at each message's topic.
        many = pattern or len(names) > 1
        self._tuples = self._convert_many if many else self._convert_one
        self._convert: Callable[[Iterable[Any]], list[Any]] = self._tuples
        self._finish: Callable[[list[Any]], Sequence[Message]] = list
        if lazy and not many:
            self._convert, self._finish = self._gather_one, KafkaBatch
        self._closed = threading.Event()
        self._consumer.subscribe(names, on_assign=self._assigned)
        threading.Thread(target=self._watch_watermarks, args=(config,), daemon=True).start()

    def _watch_watermarks(self, config: dict[str, Any]) -> None:
        """Asks the broker for the assigned partitions' high watermarks, through a client of
        its own: asked through the consuming client, each round trip held up its
        store_offsets (the loop's acks stalled ~170 ms a round)."""
        from confluent_kafka import Consumer, KafkaException

        client = Consumer({**config, "group.id": f"{config['group.id']}.watermarks"})  # no join
        try:
            while not self._closed.wait(WATERMARK_EVERY_S):
                try:
                    for tp in self._consumer.assignment():
                        marks = client.get_watermark_offsets(tp, timeout=2)
                        if marks:
                            self._asked[(tp.topic, tp.partition)] = marks[1]
                except (KafkaException, RuntimeError):  # closing, or a rebalance under way
                    continue
        finally:
            client.close()

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        from confluent_kafka import KafkaException

        if self.ready_at is None:
            self.ready_at = time.monotonic()
        # Where the group left off: after a restart the lag counts from there, not from
        # offset 0, until the partition's first batch is acknowledged.
        # The fetch restarts there too, after an eager rebalance as after a restart.
        with contextlib.suppress(KafkaException):
            for tp in consumer.committed(partitions, timeout=COMMITTED_TIMEOUT_S):
                key = (tp.topic, tp.partition)
                if tp.offset >= 0:
                    self._next[key] = tp.offset
                else:  # -1001: nothing committed yet, the fetch starts at the log's start
                    self._next.pop(key, None)
        # Said on stderr: operators (and the benchmark) see when the group has settled.
        # One write(2) of the whole line: worker processes share the stream, and a line
        # written in pieces interleaved with another's (seen in a run).
        by_topic: dict[str, list[str]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(str(tp.partition))
        for topic, numbers in sorted(by_topic.items()):
            os.write(2, f"perflab stream: assigned {topic}[{','.join(numbers)}]\n".encode())

    @staticmethod
    def _skip(error: Any) -> bool:
        from confluent_kafka import KafkaError

        code = error.code()
        if code in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
            return True  # UNKNOWN_TOPIC: a regex that matches nothing yet
        if code == KafkaError._MAX_POLL_EXCEEDED:
            # A batch took longer than max.poll.interval.ms: the group moved on without this
            # member, which rejoins at its next poll. The batch in hand is not lost: its
            # offsets may not be stored (another member re-reads it; the sink absorbs it).
            os.write(2, f"perflab stream: {error.str()}; rejoining the group\n".encode())
            return True
        raise ServiceError(f"Kafka: {error.str()}")

    def _convert_one(self, messages: Iterable[Any]) -> list[Message]:
        """A batch of the one topic subscribed to: no topic to look at per message."""
        return [(m.partition(), m.offset(), m.value(), m.timestamp()[1]) for m in messages
                if m.error() is None or not self._skip(m.error())]

    def _gather_one(self, messages: Iterable[Any]) -> list[Any]:
        """librdkafka's messages of the one topic, without tuples (KafkaBatch's)."""
        messages = list(messages)
        good = [m for m in messages if m.error() is None]
        if len(good) < len(messages):
            for m in messages:
                error = m.error()
                if error is not None:
                    self._skip(error)  # raises for anything but a skippable event
        return good

    def _convert_many(self, messages: Iterable[Any]) -> list[Message]:
        """The messages of one topic as a batch; those of others are held for later."""
        batch: list[Message] = []
        for m in messages:
            error = m.error()
            if error is not None and self._skip(error):
                continue
            topic = m.topic()
            if topic != self.batch_topic:
                if not batch and not self._held.get(self.batch_topic):
                    self.batch_topic = topic
                else:
                    self._held.setdefault(topic, []).append(
                        (m.partition(), m.offset(), m.value(), m.timestamp()[1]))
                    continue
            batch.append((m.partition(), m.offset(), m.value(), m.timestamp()[1]))
        return batch

    def _take_held(self, size: int) -> list[Message]:
        """Start a batch from the messages held back, if any (one topic, in order)."""
        for topic, held in self._held.items():
            if held:
                self.batch_topic = topic
                batch, self._held[topic] = held[:size], held[size:]
                return batch
        return []

    def poll_batch(self, size: int, timeout: float) -> Sequence[Message]:
        held = self._take_held(size)
        if held:
            self.backlog = True
            return held
        self.backlog = False
        if size <= 0:
            return self._finish([])
        if size == 1:  # the guide's "before": poll() one message at a time
            message = self._consumer.poll(timeout)
            got: Sequence[Any] = () if message is None else (message,)
            if self.first_message is None:
                self._first(got)
            return self._finish(self._convert(got))
        # consume(n, t) waits until it has n messages or t has passed, and consume() of more
        # than a few thousand waits on librdkafka's fetch queue, several times slower than
        # a few smaller calls. So a batch is gathered from several consume()s and
        # closes when full or LINGER_S after the wait began: at low rates a message waits
        # at most that long before its insert.
        # consume(n, t) returns fewer than n only once t has passed: the queue ran dry.
        deadline = time.monotonic() + min(timeout, LINGER_S)
        batch: list[Any] = []
        while len(batch) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            want = min(size - len(batch), CONSUME_MAX)
            got = self._consumer.consume(want, left)
            if self.first_message is None:
                self._first(got)
            self.backlog = len(got) == want
            batch += self._convert(got)
        return self._finish(batch)

    def _first(self, got: Sequence[Any]) -> None:
        """Stamps first_message if `got` holds a message (not only events: a topic that does
        not exist yet, a regex that matches nothing yet)."""
        if any(m.error() is None for m in got):
            self.first_message = _stamp()

    def ack(self, batch: Sequence[Message], topic: str) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        last = last_offsets(batch)
        offsets = [TopicPartition(topic, p, o + 1) for p, o in last.items()]
        for p, o in last.items():
            self._next[(topic, p)] = o + 1
        # KafkaException: the partition was revoked while the batch was in flight; its new
        # owner re-reads from the last commit, and the sink absorbs the duplicates.
        with contextlib.suppress(KafkaException):
            self._consumer.store_offsets(offsets=offsets)

    def lag(self) -> int:
        """Messages not yet processed (not merely prefetched), as of the last watermarks."""
        return sum(self.lag_by_partition().values())

    def lag_by_partition(self) -> dict[tuple[str, int], int]:
        """The assigned partitions' lags, from the newer of the two high watermarks: the
        last fetch's (cached by librdkafka, no round trip) and the watcher's."""
        from confluent_kafka import KafkaException

        lags: dict[tuple[str, int], int] = {}
        try:
            for tp in self._consumer.assignment():
                key = (tp.topic, tp.partition)
                marks = self._consumer.get_watermark_offsets(tp, cached=True)
                if marks and marks[1] > self._fetched.get(key, -1):  # -1001: not fetched yet
                    self._fetched[key] = marks[1]
                high = max(self._fetched.get(key, -1), self._asked.get(key, -1))
                if high >= 0:
                    lags[key] = max(high - self._next.get(key, 0), 0)
        except (KafkaException, RuntimeError):  # closing, or a rebalance under way
            pass
        return lags

    def pause(self) -> None:
        from confluent_kafka import KafkaException

        with contextlib.suppress(KafkaException):
            self._consumer.pause(self._consumer.assignment())

    def wait(self, seconds: float) -> None:
        # poll() serves the group's callbacks (and max.poll.interval.ms); paused partitions
        # fetch nothing, and anything already fetched is held for after the outage.
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            message = self._consumer.poll(min(left, 0.2))
            if message is not None:
                topic = self.batch_topic
                self.batch_topic = "\0"  # hold it whatever its topic
                for m in self._tuples((message,)):
                    self._held.setdefault(str(message.topic()), []).append(m)
                self.batch_topic = topic

    def resume(self) -> None:
        from confluent_kafka import KafkaException

        with contextlib.suppress(KafkaException):
            self._consumer.resume(self._consumer.assignment())

    def commit(self) -> None:
        from confluent_kafka import KafkaError, KafkaException

        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError._NO_OFFSET:
                return  # nothing stored since the last commit
            # Revoked meanwhile, or the coordinator gone: whoever reads these partitions
            # next re-reads from the last commit, and the sink absorbs the duplicates.
            os.write(2, f"perflab stream: offsets not committed ({exc.args[0].str()}); "
                        "they will be re-read\n".encode())

    def close(self) -> None:
        self._closed.set()
        self._consumer.close()  # commits the stored offsets, and leaves the group


class ReplaySource:
    """All records of a replay file, read once into memory and sliced into batches."""

    def __init__(self, path: Path, shard: tuple[int, int] | None = None,
                 topic: str = "replay") -> None:
        # shard (k, n): only the partitions p with p % n == k, as a consumer group would split
        self._shard = shard
        try:
            self._data = memoryview(path.read_bytes())
        except OSError as exc:
            raise InputError(f"cannot read replay file: {exc.strerror}", path=str(path)) from exc
        self._path = path
        self.finished = len(self._data) == 0
        self.ready_at: float | None = time.monotonic()
        self.first_message: tuple[float, float] | None = None
        self.backlog = False
        self._pos = 0
        self._index = 0
        self.batch_topic = topic

    def poll_batch(self, size: int, timeout: float) -> list[Message]:
        data, pos, unpack = self._data, self._pos, RECORD.unpack_from
        if self.first_message is None and pos < len(data):
            self.first_message = _stamp()
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
        self.backlog = not self.finished
        return batch

    def ack(self, batch: Sequence[Message], topic: str) -> None:
        pass  # a file has no offsets to commit

    def pause(self) -> None:
        pass

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def resume(self) -> None:
        pass

    def lag(self) -> int:
        return 0  # a file is read to its end; there is no producer to fall behind

    def lag_by_partition(self) -> dict[tuple[str, int], int]:
        return {}

    def commit(self) -> None:
        pass  # a replay has no group

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
