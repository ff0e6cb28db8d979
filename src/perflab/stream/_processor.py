"""`perflab stream run`: consume, decode, transform, insert in batches, then acknowledge.

The order per batch is the whole of the delivery guarantee: the offsets of a
batch are stored only after ClickHouse accepted its rows and dead letters, so
a crash anywhere re-delivers, and the sink's ReplacingMergeTree absorbs the
repeats. Memory is bounded by the consumer's prefetch queue and, per consuming
process, one batch with the sink and one being framed: a slow sink slows
consumption instead of growing a heap.

With `workers` > 0, that many consumer processes join the group (Kafka splits
the partitions between them; a replay file is split by partition) and hand
their batches over a pipe to this process, which owns the ClickHouse client
(chDB allows one process per data path) and answers each batch with
accepted, or refused (a raw batch ClickHouse could not parse: the worker decodes
it in Python and sends it again).
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from perflab.errors import ServiceError, UsageError
from perflab.stream._decode import (
    COMPACT,
    DECODERS,
    RAW_LIMIT,
    ROW_COLUMNS,
    Decoder,
    Message,
)
from perflab.stream._impl import Impl
from perflab.stream._metrics import Metrics, NoMetrics, serve
from perflab.stream._schema import RAW_PATHS, dead_table, raw_format
from perflab.stream._source import KafkaSource, ReplaySource, Source
from perflab.stream._table import TableDecoder, TableSpec

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from perflab.services.clickhouse import ClickHouse

__all__ = ["Options", "Summary", "run"]

LATENCY_SAMPLE = 16  # produce->insert latency is recorded for one message in 16
POLL_TIMEOUT_S = 0.5
LAG_EVERY_S = 0.5
JOIN_TIMEOUT_S = 60.0
WORKER_STOP_S = 30.0  # told to stop, a worker has this long to finish its batch and commit
WORKER_CLOSE_S = 10.0  # then this long to leave the group
# Tansu 0.6 (the embedded broker) forgets to clear a forming group's leader when the
# leader leaves: every later join of that group waits on a member that is gone. Two
# workers stopping within a heartbeat of each other can leave a group so.
STUCK_GROUP = ("is the topic there? On the embedded Tansu broker a group can stay stuck "
               "after a multi-worker run stopped: use another --group or restart the broker")
GC_THRESHOLD = (50_000, 20, 100)
RETRY_FIRST_S = 0.1  # a sink outage: the first wait before the batch is sent again,
RETRY_MAX_S = 5.0  # doubling up to this
MAX_SINK_RETRY_S = 300.0  # the default --max-sink-retry


@dataclass(frozen=True)
class Options:
    topic: str
    group: str
    table: str
    impl: Impl
    brokers: str | None = None  # None with a replay file
    replay: Path | None = None
    clickhouse: str | None = None
    batch_size: int | None = None  # None: the impl's
    workers: int | None = None  # None: the impl's
    until_idle: float | None = None  # stop after this long without a message
    max_messages: int | None = None  # stop after this many messages (benchmarks)
    progress: TextIO | None = None
    kafka: tuple[tuple[str, str], ...] = ()  # librdkafka settings given with -X
    # None: the guide's events, by the impl's decoder (--create-table); else the user's table
    spec: TableSpec | None = None
    max_sink_retry: float = MAX_SINK_RETRY_S  # seconds of sink outage before giving up
    topic_regex: bool = False  # `topic` is a regular expression (--topic-regex)
    insert_settings: tuple[tuple[str, str], ...] = ()  # ClickHouse settings for every insert
    dead_letter_topic: str | None = None  # dead letters to this topic, not TABLE_dead
    metrics_port: int | None = None  # serve Prometheus metrics (single process only)
    count_table: bool = False  # count the table's rows (FINAL) into the summary at the end

    @property
    def effective_batch(self) -> int:
        return self.batch_size or self.impl.batch_size

    @property
    def effective_workers(self) -> int:
        return self.impl.workers if self.workers is None else self.workers


@dataclass
class Summary:
    consumed: int = 0
    inserted: int = 0
    dead: int = 0
    batches: int = 0
    refused_raw_batches: int = 0
    sink_retries: int = 0  # inserts sent again after a transient ClickHouse error
    sink_outage_s: float = 0.0  # time spent waiting for ClickHouse to come back
    seconds: float = 0.0
    cpu_s: float = 0.0
    gc_collections: int = 0
    gc_s: float = 0.0
    gc_max_s: float = 0.0
    lag: int = 0
    startup_s: float = 0.0  # start to the first message (a consumer group join is slow)
    first_message_at: float | None = None  # time.monotonic(): one clock for all processes
    last_batch_at: float | None = None
    # The machine's busy CPU (machine_busy_s) at those two moments: what processing cost
    # every process, the broker's and ClickHouse's threads included.
    first_message_busy: float = float("nan")
    last_batch_busy: float = float("nan")
    latencies_ms: list[float] = field(default_factory=list)
    # One series of (time.monotonic(), lag) per consuming process, every LAG_EVERY_S.
    lag_series: list[list[tuple[float, int]]] = field(default_factory=list)
    # The table's own count (FINAL) after the run, with count_table: what the harness
    # checks `inserted` against without starting chDB a second time.
    table_rows: int | None = None

    def merge(self, other: Summary) -> None:
        for name in ("consumed", "inserted", "dead", "batches", "refused_raw_batches",
                     "sink_retries", "sink_outage_s", "cpu_s", "gc_collections", "gc_s", "lag"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.gc_max_s = max(self.gc_max_s, other.gc_max_s)
        self.latencies_ms += other.latencies_ms
        self.lag_series += other.lag_series
        # The earliest first message and the latest last batch, each with its busy-CPU reading.
        if other.first_message_at is not None and (
                self.first_message_at is None or other.first_message_at < self.first_message_at):
            self.first_message_at = other.first_message_at
            self.first_message_busy = other.first_message_busy
        if other.last_batch_at is not None and (
                self.last_batch_at is None or other.last_batch_at > self.last_batch_at):
            self.last_batch_at = other.last_batch_at
            self.last_batch_busy = other.last_batch_busy

    def finish(self, started: float) -> None:
        """Times: start-up until the first message, then processing until the last batch."""
        first = self.first_message_at if self.first_message_at is not None else time.monotonic()
        last = self.last_batch_at if self.last_batch_at is not None else first
        self.startup_s = first - started
        self.seconds = last - first

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("first_message_at", "last_batch_at", "first_message_busy", "last_batch_busy"):
            del out[name]
        lat = sorted(out.pop("latencies_ms"))
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            out[f"latency_{name}_ms"] = lat[min(int(q * len(lat)), len(lat) - 1)] if lat else None
        out["latency_max_ms"] = lat[-1] if lat else None
        out["msgs_per_s"] = self.consumed / self.seconds if self.seconds else 0.0
        per_msg = (self.last_batch_busy - self.first_message_busy) / max(self.consumed, 1)
        # None, not NaN (strict JSON), where the machine's CPU could not be read
        out["machine_cpu_per_msg_s"] = per_msg if self.consumed and math.isfinite(per_msg) else None
        return out


class _Stop:
    """Set by SIGTERM/SIGINT: finish the batch in hand, acknowledge it, leave."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._set)

    def _set(self, *_: object) -> None:
        self.requested = True


def _tune_gc(impl: Impl) -> None:
    if impl.gc_tuning:
        gc.collect()
        gc.freeze()  # start-up objects (modules, classes) leave the collector's reach
        gc.set_threshold(*GC_THRESHOLD)


@contextlib.contextmanager
def _accounted(impl: Impl, summary: Summary) -> Iterator[None]:
    """GC tuning as the variant says, then this process's CPU and GC added to `summary`."""
    from perflab.measure import GcWatch

    watch = GcWatch()
    _tune_gc(impl)
    watch.install()
    cpu = _cpu_s()
    try:
        yield
    finally:
        watch.remove()
        summary.cpu_s += _cpu_s() - cpu
        summary.gc_collections += watch.collections
        summary.gc_s += watch.pause_total
        summary.gc_max_s = max(summary.gc_max_s, watch.pause_max)


def _open_source(options: Options, shard: tuple[int, int] | None = None) -> Source:
    if options.replay is not None:
        return ReplaySource(options.replay, shard, options.topic)
    if not options.brokers:
        raise UsageError("no brokers given")
    topics = options.topic if options.topic_regex else options.topic.split(",")
    # Lazy batches only where the raw path frames them: a decoder wants the tuples anyway.
    lazy = options.impl.lazy_batches and options.impl.raw
    return KafkaSource(options.brokers, topics, options.group, kafka_settings(options), lazy)


def kafka_settings(options: Options) -> dict[str, Any]:
    """The consumer's settings beyond KafkaSource's own: the impl's, then -X (which win)."""
    # A consumer that empties librdkafka's bounded queue before the backoff is over waits
    # on an idle broker for the rest of it (the `refill` step).
    return {"fetch.queue.backoff.ms": options.impl.fetch_backoff_ms, **dict(options.kafka)}


@dataclass
class _Work:
    """One batch as the sink receives it: raw wrapped messages, or decoded bodies."""

    count: int
    raw: bytes | None = None
    raw_format: str = "json"  # the key of RAW_PATHS that framed `raw`
    rows: bytes = b""
    rows_count: int = 0
    rows_format: str = "JSONEachRow"
    dead: bytes = b""
    dead_count: int = 0
    settings: dict[str, int | str] = field(default_factory=dict)
    topic: str = ""
    origins: list[Message] | None = None  # the message of each row line (user tables)
    checked: bool = False  # an insert that must report every error (see ClickHouse.insert)

    @property
    def columns(self) -> tuple[str, ...]:
        """The column list a compact (array) body needs; object rows name their own."""
        return ROW_COLUMNS if self.rows_format == COMPACT else ()


def _prepare(impl: Impl, decode: Decoder, topic: str, batch: Sequence[Message],
             allow_raw: bool = True, extra: Mapping[str, int | str] | None = None,
             checked: bool = False) -> _Work:
    settings: dict[str, int | str] = {"optimize_on_insert": 0} if impl.lazy_dedup else {}
    settings.update(extra or {})
    if impl.raw and allow_raw:
        wire = raw_format(impl.decoder)
        body = RAW_PATHS[wire].frame(topic, batch)
        if body is not None:
            return _Work(len(batch), raw=body, raw_format=wire, rows_count=len(batch),
                         settings=settings, topic=topic)
    out = decode(topic, batch)
    return _Work(len(batch), rows=out.rows, rows_count=out.rows_count,
                 rows_format=out.rows_format, dead=out.dead, dead_count=out.dead_count,
                 settings={**settings, **out.settings}, topic=topic, origins=out.origins,
                 checked=checked)


@dataclass(frozen=True)
class Outage:
    """The sink's answer to a batch it could not take for reasons of its own: send it again."""

    reason: str


class _SinkDown(Exception):
    """A transient error during the culprit search: the whole batch waits and comes again."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(str(error))
        self.error = error


def _insert(sink: ClickHouse, table: str, body: bytes, settings: Mapping[str, int | str],
            fmt: str = "JSONEachRow", columns: tuple[str, ...] = (),
            checked: bool = False) -> int | None:
    """One insert; a transient error (the sink's, not the data's) raises _SinkDown."""
    from perflab.services.clickhouse import is_transient

    try:
        return sink.insert(table, body, settings, fmt, columns, checked)
    except ServiceError as exc:
        if is_transient(exc):
            raise _SinkDown(exc) from exc
        raise


DeadLetters = Callable[[bytes], None]  # stores JSON lines of dead letters, or raises


def _dead_to_table(sink: ClickHouse, table: str) -> DeadLetters:
    def store(body: bytes) -> None:  # few rows, and none may vanish: the checked path
        _insert(sink, dead_table(table), body, {}, checked=True)

    return store


def _dead_to_topic(brokers: str, topic: str) -> tuple[DeadLetters, Callable[[], object]]:
    """Dead letters produced to a topic, each flushed before its batch is acknowledged."""
    from confluent_kafka import KafkaException, Producer

    from perflab.services.kafka import CLIENT_DEFAULTS

    try:
        producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5,
                             "enable.idempotence": True, **CLIENT_DEFAULTS})
    except KafkaException as exc:
        raise UsageError(f"dead-letter producer: {exc.args[0].str()}") from exc
    failed: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failed.append(error.str())

    def store(body: bytes) -> None:
        for line in body.splitlines():
            producer.produce(topic, line, on_delivery=delivered)
        left = producer.flush(30)
        if left or failed:
            reason = failed[0] if failed else f"{left} undelivered"
            failed.clear()
            raise _SinkDown(ServiceError(f"dead-letter topic {topic}: {reason}"))

    return store, lambda: producer.flush(30)


def _deliver(sink: ClickHouse, table: str, work: _Work,
             dead: DeadLetters | None = None) -> Stored:
    """Insert one batch: (rows, dead letters) stored, None if ClickHouse refused raw input,
    or an Outage if ClickHouse could not take it for now (nothing of it is acknowledged).

    A decoded batch ClickHouse refuses for its data (a value Python accepts and
    ClickHouse does not) is inserted in halves down to the refused rows, which become
    dead letters with ClickHouse's reason: one poison message never stalls a
    partition. A transient error (the sink down, out of memory, too many parts;
    `is_transient`) never starts that search, and stops one under way: the batch is
    sent again whole, so no good message becomes a dead letter for the sink's outage.
    The rows a broken-off search had inserted come again; the source columns or
    the insert_deduplication_token absorb them.
    """
    try:
        return _deliver_once(sink, table, work, dead or _dead_to_table(sink, table))
    except _SinkDown as down:
        return Outage(str(down.error))


def _deliver_once(sink: ClickHouse, table: str, work: _Work,
                  dead_letters: DeadLetters) -> tuple[int, int] | None:
    if work.raw is not None:
        path = RAW_PATHS[work.raw_format]
        schema = sink.schema_settings(*path.schema) if path.schema else {}
        try:
            written = _insert(sink, path.table(table), work.raw,
                              {**path.settings, **schema, **work.settings}, path.format)
        except ServiceError:
            return None
        # Each row is written twice, to the Null table and by the view into `table`;
        # fewer means the view refused some (chDB does not raise for it).
        if written is not None and written != 2 * work.count:
            return None
        return work.count, 0
    rows, dead = work.rows_count, work.dead_count
    if rows:
        try:
            _insert(sink, table, work.rows, work.settings, work.rows_format, work.columns,
                    work.checked)
        except _SinkDown:
            raise
        except ServiceError:
            refused = _insert_each(sink, table, work)
            if refused:
                dead_letters(b"".join(refused))
            rows, dead = rows - len(refused), dead + len(refused)
    if work.dead_count:
        dead_letters(work.dead)
    return rows, dead


def _insert_each(sink: ClickHouse, table: str, work: _Work) -> list[bytes]:
    """Insert what ClickHouse takes, halving the refused part down to single rows.

    A few inserts per refused row, not one per row of the batch. Returns the
    refused rows as dead-letter lines. Each part gets a dedup token of its own range.
    """
    import json

    from perflab.stream._decode import dead_row

    lines = work.rows.splitlines()
    token = work.settings.get("insert_deduplication_token")

    def attempt(lo: int, hi: int) -> list[bytes]:
        settings = dict(work.settings)
        if token is not None:
            settings["insert_deduplication_token"] = f"{token}/{lo}-{hi}"
        try:
            _insert(sink, table, b"\n".join(lines[lo:hi]) + b"\n", settings, work.rows_format,
                    work.columns, work.checked)
            return []
        except _SinkDown:
            raise
        except ServiceError as exc:
            if hi - lo > 1:
                half = (lo + hi) // 2
                return attempt(lo, half) + attempt(half, hi)
            reason = f"refused by ClickHouse: {exc}"
            if work.origins is not None:
                dead = dead_row(work.topic, work.origins[lo], reason)
            else:
                row = json.loads(lines[lo])
                topic, partition, offset = (row[:3] if isinstance(row, list) else
                                            (row["topic"], row["partition"], row["offset"]))
                dead = {"topic": topic, "partition": partition, "offset": offset,
                        "reason": reason,
                        "raw": lines[lo][:RAW_LIMIT].decode("utf-8", "backslashreplace")}
            return [json.dumps(dead).encode() + b"\n"]

    return attempt(0, len(lines))


def _sample_latency(batch: Sequence[Message], into: list[float]) -> None:
    now_ms = time.time() * 1000
    for message in batch[::LATENCY_SAMPLE]:
        if message[3] > 0:
            into.append(now_ms - message[3])


# (rows, dead letters) stored, None: raw input refused, or Outage: the sink could not take it
Stored = tuple[int, int] | Outage | None
Waiter = Callable[[], Stored]  # the result of a batch handed to the sink, when it is ready


def _decoder(options: Options) -> Decoder:
    """The decoder, chosen once: the user's table (its spec), or the impl's for the events."""
    if options.spec is not None:
        return TableDecoder(options.spec.target(), options.spec.parser())
    return DECODERS[options.impl.decoder]()


def _consume(options: Options, source: Source, send: Callable[[_Work], Waiter],
             stop: _Stop, summary: Summary, on_batch: Callable[[Summary], bool],
             metrics: Metrics | None = None) -> None:
    """The consuming loop, shared by the single process and each worker.

    With `impl.overlap`, the sink inserts one batch while the next is consumed and
    framed; a batch is still sent only once the one before it has been answered
    (and acknowledged), so the answers come in order.
    """
    from perflab.measure import machine_busy_s

    impl, size = options.impl, options.effective_batch
    decode = _decoder(options)
    metrics = metrics or NoMetrics()
    extra: dict[str, int | str] = dict(options.insert_settings)
    # A user's table gets inserts that report every error (ClickHouse.insert's `checked`):
    # chDB's streaming insert reports a block its table refused in the sink stage as written.
    checked = options.spec is not None
    last_message = next_lag = time.monotonic()
    lags: list[tuple[float, int]] = []
    summary.lag_series.append(lags)
    pending: tuple[Sequence[Message], _Work, Waiter] | None = None
    polled: dict[int, float] = {}  # id(batch) -> when it was polled: the batch latency
    taken = 0  # messages polled: --max-messages reads no more than it asks for

    def sample_lag() -> int:
        """The lag now: into the series and the metrics, once for both."""
        by_partition = source.lag_by_partition()
        lag = sum(by_partition.values())
        lags.append((time.monotonic(), lag))
        metrics.lag(by_partition)
        return lag

    def accepted(work: _Work, wait: Waiter) -> tuple[int, int] | None:
        """The batch's answer; through a sink outage, consumption paused, until it is taken."""
        stored = wait()
        if not isinstance(stored, Outage):
            return stored
        began, delay = time.monotonic(), RETRY_FIRST_S
        source.pause()
        try:
            while isinstance(stored, Outage):
                waited = time.monotonic() - began
                lag = sample_lag()
                if waited >= options.max_sink_retry or stop.requested:
                    raise ServiceError(
                        f"ClickHouse could not take a batch for {waited:.1f} s: {stored.reason}",
                        hint="offsets are committed up to the last batch it accepted; "
                             "run again once it is back (--max-sink-retry S waits longer)")
                os.write(2, f"perflab stream: sink unavailable ({stored.reason[:200]}); "
                            f"retrying in {delay:.1f} s, lag {lag}\n".encode())
                source.wait(min(delay, options.max_sink_retry - waited))
                delay = min(delay * 2, RETRY_MAX_S)
                summary.sink_retries += 1
                metrics.retry()
                stored = send(work)()
        finally:
            summary.sink_outage_s += time.monotonic() - began
            source.resume()
        return stored

    def complete(batch: Sequence[Message], work: _Work, wait: Waiter) -> bool:
        stored = accepted(work, wait)
        if stored is None:  # ClickHouse refused the raw batch: Python finds the culprits
            summary.refused_raw_batches += 1
            work = _prepare(impl, decode, work.topic, batch, allow_raw=False, extra=extra,
                            checked=checked)
            stored = accepted(work, send(work))
            assert stored is not None, "a decoded batch is never refused whole"
        source.ack(batch, work.topic)
        metrics.batch(len(batch), stored[0], stored[1],
                      time.monotonic() - polled.pop(id(batch), time.monotonic()))
        summary.consumed += len(batch)
        summary.inserted += stored[0]
        summary.dead += stored[1]
        summary.batches += 1
        _sample_latency(batch, summary.latencies_ms)
        summary.last_batch_at, summary.last_batch_busy = time.monotonic(), machine_busy_s()
        return on_batch(summary)

    while not stop.requested:
        if time.monotonic() >= next_lag:
            next_lag = time.monotonic() + LAG_EVERY_S
            sample_lag()
        want = size if options.max_messages is None else min(size, options.max_messages - taken)
        batch = source.poll_batch(want, POLL_TIMEOUT_S)
        taken += len(batch)
        polled[id(batch)] = time.monotonic()
        if not batch:
            polled.pop(id(batch), None)
            if pending is not None:  # nothing new: the batch in flight is not held back
                more, pending = complete(*pending), None
                if not more:
                    break
            if source.finished:
                break
            if source.ready_at is None:  # the group has not assigned partitions yet
                if time.monotonic() - last_message > JOIN_TIMEOUT_S:
                    raise ServiceError(f"no partitions of {options.topic!r} were assigned "
                                       f"in {JOIN_TIMEOUT_S:.0f} s",
                                       hint=STUCK_GROUP)
                continue
            idle = time.monotonic() - max(last_message, source.ready_at)
            if options.until_idle is not None and idle >= options.until_idle:
                break
            continue
        last_message = time.monotonic()
        if summary.first_message_at is None:
            assert source.first_message is not None, "a source stamps its first message"
            summary.first_message_at, summary.first_message_busy = source.first_message
        # framed while the sink inserts `pending`
        work = _prepare(impl, decode, source.batch_topic, batch, extra=extra, checked=checked)
        if pending is not None:
            more, pending = complete(*pending), None
            if not more:  # `batch` was never sent: it is not acknowledged, and comes again
                break
        wait = send(work)
        # A batch is left in flight only with more messages waiting: one that closed on its
        # linger with the queue dry would overlap nothing, and its messages would wait longer.
        # (At start-up the first batch closes short on its linger while the fetches ramp up.)
        if impl.overlap and source.backlog:
            pending = (batch, work, wait)
        elif not complete(batch, work, wait):
            break
    if pending is not None:
        complete(*pending)
    summary.lag = max(source.lag(), 0)


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


class _Progress:
    def __init__(self, stream: TextIO | None, started: float) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None
        self.started, self.next = started, started + 1.0

    def __call__(self, consumed: int) -> None:
        now = time.monotonic()
        if self.stream is None or now < self.next:
            return
        self.next = now + 1.0
        rate = consumed / max(now - self.started, 1e-9)
        self.stream.write(f"\r{consumed:,} messages, {rate:,.0f}/s   ")
        self.stream.flush()

    def done(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")


def _run_single(options: Options, sink: ClickHouse, dead: DeadLetters | None) -> Summary:
    stop = _Stop()
    stop.install()
    source = _open_source(options)
    summary = Summary()
    started = time.monotonic()
    progress = _Progress(options.progress, started)

    # One thread for the inserts: chDB releases the GIL while it parses and writes.
    inserter = ThreadPoolExecutor(1, "perflab-insert") if options.impl.overlap else None

    def send(work: _Work) -> Waiter:
        if inserter is not None:
            return inserter.submit(_deliver, sink, options.table, work, dead).result
        stored = _deliver(sink, options.table, work, dead)
        return lambda: stored

    def on_batch(s: Summary) -> bool:
        progress(s.consumed)
        return options.max_messages is None or s.consumed < options.max_messages

    metrics = serve(options.metrics_port)
    try:
        with _accounted(options.impl, summary):
            _consume(options, source, send, stop, summary, on_batch, metrics)
    finally:
        if inserter is not None:
            inserter.shutdown()
        source.close()
        progress.done()
    summary.finish(started)
    return summary


def _worker(options: Options, shard: tuple[int, int], conn: Connection) -> None:
    """A consumer process: its batches go to the sink process over `conn`."""
    stop = _Stop()
    stop.install()
    summary = Summary()
    try:
        source = _open_source(options, shard)
        stopping = False

        def send(work: _Work) -> Waiter:
            conn.send(work)  # the sink answers each batch in the order they were sent

            def wait() -> Stored:
                nonlocal stopping
                stored, stopping = conn.recv()
                return stored  # type: ignore[no-any-return]

            return wait

        try:
            with _accounted(options.impl, summary):
                _consume(options, source, send, stop, summary, lambda s: not stopping)
            source.commit()
        except BaseException:
            source.close()
            raise
        conn.send(("done", summary))
        # librdkafka's close (leaving the group) has hung on a loaded broker (once in a
        # full-scale stream case run); the offsets are committed, so the parent may end it.
        source.close()
    except Exception as exc:
        with contextlib.suppress(OSError):  # the sink process itself may be gone
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _terminate(procs: Sequence[BaseProcess]) -> None:
    for proc in procs:
        if proc.is_alive() and proc.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)


def _run_workers(options: Options, sink: ClickHouse, count: int,
                 dead: DeadLetters | None) -> Summary:
    import multiprocessing
    from multiprocessing.connection import wait

    stop = _Stop()
    stop.install()
    # spawn, not fork: the sink's ClickHouse engine runs threads in this process.
    context = multiprocessing.get_context("spawn")
    links, procs = [], []
    shipped = replace(options, progress=None)  # a terminal does not cross a process boundary
    for index in range(count):
        here, there = context.Pipe()
        proc = context.Process(target=_worker, args=(shipped, (index, count), there),
                               daemon=True)
        proc.start()
        there.close()
        links.append(here)
        procs.append(proc)
    summary = Summary()
    started = time.monotonic()
    progress = _Progress(options.progress, started)
    consumed = 0
    errors: list[str] = []
    stop_by: float | None = None  # once told to stop: the workers' deadline to say done
    try:
        with _accounted(options.impl, summary):
            while links:
                left = None if stop_by is None else max(stop_by - time.monotonic(), 0.0)
                ready = wait(links, left)
                if not ready:  # a worker's commit can wait on a coordinator that is gone
                    errors.append(f"{len(links)} worker(s) did not stop "
                                  f"{WORKER_STOP_S:.0f} s after being told to")
                    break
                for link in ready:
                    assert isinstance(link, Connection)
                    try:
                        message = link.recv()
                    except EOFError:  # killed before it could say goodbye
                        links.remove(link)
                        if stop_by is None:
                            errors.append("a worker process died")
                            stop.requested = True
                        continue
                    if isinstance(message, _Work):
                        stored = _deliver(sink, options.table, message, dead)
                        consumed += message.count if isinstance(stored, tuple) else 0
                        if options.max_messages is not None and consumed >= options.max_messages:
                            stop.requested = True
                        link.send((stored, stop.requested))
                        progress(consumed)
                        continue
                    kind, payload = message
                    links.remove(link)
                    if kind == "done":
                        summary.merge(payload)
                    else:
                        errors.append(payload)
                        stop.requested = True
                if stop.requested and stop_by is None:
                    stop_by = time.monotonic() + WORKER_STOP_S
                    _terminate(procs)  # idle workers wait on the broker, not on us
    finally:
        progress.done()
        for link in links:  # left early: a worker waiting for its answer gets EOFError
            link.close()
        if stop_by is None:
            _terminate(procs)
        for proc in procs:
            proc.join(WORKER_CLOSE_S)
            if proc.is_alive():  # stuck in librdkafka's close, or never told us it was done
                proc.kill()
                proc.join()
    if errors:
        raise ServiceError(f"stream worker failed: {errors[0]}")
    summary.finish(started)
    return summary


def run(options: Options) -> Summary:
    """Process until idle, told to stop, or `max_messages`; the sink is opened here."""
    from perflab.services.clickhouse import connect
    from perflab.stream._schema import ddl, dead_ddl

    workers = options.effective_workers
    sink = connect(options.clickhouse)
    dead: DeadLetters | None = None
    flush: Callable[[], object] = lambda: None  # noqa: E731 - nothing to flush by default
    try:
        if options.spec is None:  # the guide's events (--create-table)
            for statement in ddl(options.table):
                sink.command(statement)
        else:
            options = replace(options, spec=options.spec.described(sink),
                              impl=replace(options.impl, raw=False))
            if options.dead_letter_topic is None:
                sink.command(dead_ddl(options.table))
        if options.dead_letter_topic is not None:
            if not options.brokers:
                raise UsageError("--dead-letter-topic needs a broker, not a replay file")
            dead, flush = _dead_to_topic(options.brokers, options.dead_letter_topic)
        if workers > 0:
            if options.metrics_port is not None:
                raise UsageError("--metrics-port serves one consuming process: --workers 0")
            summary = _run_workers(options, sink, workers, dead)
        else:
            summary = _run_single(options, sink, dead)
        if options.count_table:
            summary.table_rows = int(sink.scalar(f"SELECT count() FROM {options.table} FINAL"))
        return summary
    finally:
        flush()
        sink.close()
