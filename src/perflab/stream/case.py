"""Case study 4 for the harness: the ladder of `perflab stream run`, and its ceilings.

One embedded Tansu broker serves the whole case; the backlog topic is produced
once. Each repetition runs the real command (`perflab stream run --impl NAME
--json`) twice, each time into a fresh chDB directory and with a fresh group;
the live one starts beside the drain and idles on its empty topic through it:

- drain: the backlog from the first offset, `--max-messages` of it. Throughput
  counts from the first message in hand to the last batch acknowledged, as the
  bare `consume()` loop counts from its first messages (a consumer group
  join takes about 3 s on this broker and is reported apart, as start-up);
  the poll-one-message variants drain a sample, whose rate is their rate;
- live: a new topic fed by this process at `LIVE_RATE` msg/s for a few seconds,
  once the group has its partitions: produce-to-insert latency (the processor
  samples one message in 16 after each insert) and the lag trend (the slope of
  the unprocessed count the processor samples every 0.5 s, while producing).
  A variant that keeps up has a flat lag; one that does not, a rising one (it is
  stopped a few seconds after the window, see LIVE_GRACE_S). At quick scale
  only the baseline and the final step have a live phase (LIVE_STEPS).

After every drain the rows in ClickHouse are counted (`FINAL`, so a message
counts once; the command counts them with `--count-table` through its own chDB
session before it exits): the command's summary must match the table.

References: the structs step decoding the same events as protobuf, the last
step handing those protobuf events to ClickHouse's parser, a bare
confluent-kafka `consume()` loop draining the same backlog
(the broker's ceiling), chDB inserting the final rows from a file (the sink's
ceiling), and the last step reading a replay file instead of the broker (the
processor's own ceiling).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from perflab.errors import MeasurementError, ToolUnavailable
from perflab.measure import Metric, RunContext, Variant, ladder_variants
from perflab.services import perflab_command
from perflab.stream._impl import DEFAULT, IMPLS, LADDER

__all__ = ["CASE", "StreamCase"]

# Quick scale is sized for a few minutes of the whole case on 2 cores: a drain of this size
# is mostly its fixed costs (process start, group join), which are reported apart.
MESSAGES = {"quick": 60_000, "full": 2_000_000}
# For the variants that insert one message at a time (tens per second on a loaded machine):
# each insert is the same fixed cost, so a few dozen give its rate (full scale: 20x).
SAMPLE = {"quick": 30, "full": 600}
PARTITIONS = 4
TOPIC = "perflab-events"
TOPIC_PROTOBUF = "perflab-events-protobuf"
LIVE_RATE = 500.0  # msg/s: more than the one-insert-per-message variants sustain
LIVE_SECONDS = {"quick": 1.0, "full": 8.0}
# At quick scale the live processor is stopped (SIGTERM: it finishes the batch in hand)
# this long after the paced window, once its lag samples cover the window: a variant that
# does not keep up (the poll-one-message steps insert ~50 msg/s) would otherwise spend
# 10-20 s working off the window's 500 messages. Its p99 is then over the messages it
# inserted, a lower bound, beside a lag trend that says it falls behind. Full scale waits
# longer (its window is 4,000 messages: 4-5 minutes of the poll-one steps' work, each round).
LIVE_GRACE_S = {"quick": 1.0, "full": 10.0}
# At quick scale only the baseline and the final step run the live phase: the guide table
# compares those two, and the p99 ladder table shows n/a for the steps between (at full
# scale every step runs it). Each live phase is a second processor, its chDB and its window.
LIVE_STEPS = {"quick": frozenset({LADDER[0].name, DEFAULT}), "full": None}
JOIN_TIMEOUT_S = 60.0
_ASSIGNED = re.compile(r"perflab stream: assigned \S+?\[([\d,]*)\]")
# Joins in ~1 s instead of ~3 s on Tansu (the rebalance waits min(3 s, this - 1 s));
# start-up is reported apart from throughput either way.
FAST_JOIN = ["-X", "max.poll.interval.ms=2000", "-X", "session.timeout.ms=2000",
             "-X", "heartbeat.interval.ms=300"]


# quixstreams gets the quick join's session settings, not its 2 s poll interval: its sink
# flushes at a checkpoint, between polls, for longer than that, and the group then drops it
# ("Unknown member" at commit). Start-up is reported apart from throughput either way.
QUIX_JOIN = ["session.timeout.ms=2000", "heartbeat.interval.ms=300"]


# The steps with 1,000-message batches drain a sample too: at 10-20k msg/s the whole
# full-scale backlog is minutes a step a round, and a round of 19 variants would not fit
# a working session. 10 batches are past the first one's start-up (the rate counts from the
# first message); full scale drains 200, steady state.
SMALL_BATCHES = {"quick": 10_000, "full": 200_000}
# References that explain the ceilings rather than rank the ladder (the protobuf paths,
# the sink's and the processor's ceilings) run at full scale only, or when named:
# `perflab run --scale quick` has minutes for five cases.
FULL_ONLY = ("full",)


def _messages(variant: str, scale: str) -> int:
    impl = IMPLS.get(variant)
    if impl is None:
        return MESSAGES[scale]
    if impl.batch_size == 1:
        return SAMPLE[scale]
    return SMALL_BATCHES[scale] if impl.batch_size <= 1000 else MESSAGES[scale]


class _Processor:
    """`perflab stream run` as a child process; stderr is read as it comes. A context
    manager: leaving it kills whatever is left of the child's process group."""

    def __init__(self, args: list[str]) -> None:
        # Its own process group: a kill reaches its worker processes too, which hold its
        # pipes open (an orphaned worker kept communicate() waiting for 20 minutes).
        self.proc = subprocess.Popen([*perflab_command(), "stream", "run", *args, *FAST_JOIN,
                                      "--create-table", "--count-table", "--json"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.assigned: set[int] = set()
        self.stderr: list[str] = []
        self._stdout: list[str] = []
        # One reader per pipe, each the pipe's only reader (communicate() would race the
        # stderr reader for lines).
        self._readers = [threading.Thread(target=self._read_stderr, daemon=True),
                         threading.Thread(target=self._read_stdout, daemon=True)]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> _Processor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            for numbers in _ASSIGNED.findall(line):
                self.assigned |= {int(n) for n in numbers.split(",") if n}

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self._stdout.append(self.proc.stdout.read())

    def wait_assigned(self, partitions: int) -> None:
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while len(self.assigned) < partitions:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise MeasurementError("the processor did not join its group: "
                                       + "".join(self.stderr[-3:]).strip())
            time.sleep(0.02)

    def kill(self) -> None:
        """The whole group, even when the leader has exited (an orphaned worker may not)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def summary(self, timeout: float, stop_after: float | None = None) -> dict[str, Any]:
        """Its --json summary; with `stop_after`, SIGTERM it if it is still running then."""
        if stop_after is not None:
            try:
                self.proc.wait(stop_after)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise MeasurementError(f"the processor did not finish in {timeout:.0f} s") from None
        self.kill()  # a worker left behind holds the pipes open
        for reader in self._readers:
            reader.join(5)
        if self.proc.returncode != 0:
            raise MeasurementError("stream run failed: " + "".join(self.stderr[-3:]).strip())
        result: dict[str, Any] = json.loads("".join(self._stdout))
        return result


def _lag_trend(series: list[list[list[float]]], start: float, end: float) -> float:
    """Messages per minute the lag grew while producing (summed over consuming processes)."""
    total, seen = 0.0, False
    for samples in series:
        inside = [(t, lag) for t, lag in samples if start <= t <= end + 0.5]
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
            total += (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]) * 60
            seen = True
    return total if seen else float("nan")


def _produce_paced(bootstrap: str, topic: str, rate: float, seconds: float) -> tuple[float, float]:
    """Produce at `rate` msg/s on a fixed schedule; returns the window (monotonic)."""
    from confluent_kafka import Producer

    from perflab.services.kafka import CLIENT_DEFAULTS
    from perflab.stream._events import event_bytes

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1, **CLIENT_DEFAULTS})
    count = int(rate * seconds)
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.produce(topic, event_bytes(i)[0], partition=i % PARTITIONS)
        producer.poll(0)
    end = time.monotonic()
    if producer.flush(30):
        raise MeasurementError("the paced producer could not deliver every message")
    return start, end


def _count_rows(path: Path, table: str = "events") -> int:
    from perflab.services.clickhouse import connect

    client = connect(f"chdb://{path}")
    try:
        return client.scalar(f"SELECT count() FROM {table} FINAL")
    finally:
        client.close()


class StreamCase:
    name = "stream"
    title = "Case study 4: Kafka -> ClickHouse (perflab stream run)"
    budget_s = 150.0
    variants = (
        *ladder_variants(LADDER),
        Variant("protobuf", "reference",
                "the structs step on protobuf messages (the guide's step 3), as many of them",
                FULL_ONLY),
        Variant("protobuf-raw", "reference",
                f"{DEFAULT} on the protobuf messages: ClickHouse parses them, Python only "
                "checks that each is canonical", FULL_ONLY),
        Variant("bare-consume", "reference",
                "confluent-kafka consume() loop, no decoding: the broker's ceiling"),
        Variant("bare-framing", "reference",
                f"the bare loop framing each message as {DEFAULT} does, no insert: the "
                "ceiling of a processor whose consuming thread checks every message"),
        Variant("sink-ceiling", "reference",
                "chDB INSERT of the final rows from a file: the sink's ceiling", FULL_ONLY),
        Variant("replay", "reference",
                f"{DEFAULT} reading a replay file: the processor without the broker", FULL_ONLY),
        Variant("quixstreams", "reference",
                "quixstreams Application: JSON deserializer, the same transform and checks, "
                "a BatchingSink into the same chDB table (its own locked environment)"),
        Variant("clickhouse-kafka", "reference",
                "ClickHouse's Kafka table engine reading the topic into the same table"),
    )
    metrics = (
        Metric("msgs_per_s", "Throughput", "1/s", "higher"),
        Metric("cpu_per_msg_s", "CPU per message, all processes (broker, processor, chDB)",
               "s"),
        Metric("gc_max_s", "GC Pause Time (max)", "s", ladder=True),
        Metric("gc_cpu_pct", "GC CPU Time (share of process CPU)", "%"),
        Metric("gc_per_1k", "GC collections per 1k msgs (allocation proxy)", "count"),
        Metric("lag_per_min", f"Consumer lag trend at {LIVE_RATE:,.0f} msg/s (msgs/min)",
               "count"),
        Metric("p99_s", f"P99 latency, produce to insert, at {LIVE_RATE:,.0f} msg/s", "s",
               ladder=True),
        Metric("startup_s", "Start-up (group join) to first message", "s"),
        Metric("peak_rss_bytes", "Memory Peak (largest process)", "B"),
    )
    categories: ClassVar = {
        "decode (json / msgspec)": ("json", "msgspec", "_decode.py"),
        "insert (chDB)": ("chdb", "clickhouse", "send_insert"),
        "consume (librdkafka)": ("confluent_kafka", "cimpl", "_source.py"),
        "framing (raw path)": ("_schema.py", "frame_envelopes"),
    }

    @contextlib.contextmanager
    def session(self, ctx: RunContext) -> Iterator[Mapping[str, str]]:
        from perflab.services.kafka import local_broker
        from perflab.stream._decode import StructDecoder
        from perflab.stream._produce import produce, produce_replay
        from perflab.stream._source import ReplaySource

        count = MESSAGES[ctx.scale]
        replay = ctx.workdir / f"events-{count}.replay"
        rows = ctx.workdir / f"events-{count}.rows.compact.json"  # as the decoder writes them
        if not replay.exists():
            produce_replay(replay.with_suffix(".partial"), count, PARTITIONS)
            replay.with_suffix(".partial").rename(replay)
        if not rows.exists():
            source = ReplaySource(replay)
            decoded = StructDecoder()(TOPIC, source.poll_batch(count, 0))
            rows.write_bytes(decoded.rows)
        with local_broker() as broker:
            produce(broker.bootstrap, TOPIC, count, PARTITIONS)
            produce(broker.bootstrap, TOPIC_PROTOBUF, count, PARTITIONS, fmt="protobuf")
            yield {"brokers": broker.bootstrap, "messages": str(count), "replay": str(replay),
                   "rows": str(rows)}

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        p = ctx.params
        if variant in ("bare-consume", "bare-framing"):
            return _bare_consume(p["brokers"], int(p["messages"]), variant == "bare-framing")
        if variant == "clickhouse-kafka":
            # chDB lists the engine, but starts no message-broker pool
            # (background_message_broker_schedule_pool_size is 0): creating a Kafka table
            # fails with "Shutdown was called". It needs a ClickHouse server.
            raise ToolUnavailable("ClickHouse's Kafka engine cannot run inside chDB (no "
                                  "message-broker pool: creating a Kafka table fails with "
                                  "'Shutdown was called'); it needs a ClickHouse server")
        chdb_dir = Path(tempfile.mkdtemp(prefix="perflab-chdb-", dir=ctx.workdir))
        try:
            if variant == "quixstreams":
                return _quixstreams(p["brokers"], chdb_dir, int(p["messages"]))
            if variant == "sink-ceiling":
                return _sink_ceiling(chdb_dir, Path(p["rows"]), int(p["messages"]))
            if variant == "replay":
                return _drain(DEFAULT, ["--source", f"replay:{p['replay']}"], chdb_dir,
                              int(p["messages"]))
            if variant in ("protobuf", "protobuf-raw"):
                impl = "structs" if variant == "protobuf" else DEFAULT
                # as many messages as the JSON step it is set against drains
                return _drain(impl, ["--brokers", p["brokers"], "--format", "protobuf"],
                              chdb_dir, _messages(impl, ctx.scale), TOPIC_PROTOBUF)
            count = _messages(variant, ctx.scale)
            live_steps = LIVE_STEPS[ctx.scale]
            if live_steps is not None and variant not in live_steps:
                return _drain(variant, ["--brokers", p["brokers"]], chdb_dir / "drain", count)
            live_dir = chdb_dir / "live"
            # The live phase's processor starts and joins its group beside the drain's (the
            # join is mostly the broker's 1 s wait), then idles on its empty topic through
            # the drain: one start-up per repetition instead of two in a row.
            with _Live(variant, p["brokers"], live_dir, LIVE_SECONDS[ctx.scale],
                       LIVE_GRACE_S[ctx.scale]) as live:
                metrics = _drain(variant, ["--brokers", p["brokers"]], chdb_dir / "drain",
                                 count)
                return {**metrics, **live.measure()}
        finally:
            shutil.rmtree(chdb_dir, ignore_errors=True)

    def profile(self, variant: str, ctx: RunContext) -> None:
        """One drain from the replay file in this process (no workers), for cProfile."""
        from perflab.cli import main

        p = ctx.params
        chdb_dir = Path(tempfile.mkdtemp(prefix="perflab-chdb-", dir=ctx.workdir))
        try:
            main(["stream", "run", "--topic", TOPIC, "--source", f"replay:{p['replay']}",
                  "--clickhouse", f"chdb://{chdb_dir}", "--impl", variant, "--workers", "0",
                  "--max-messages", str(_messages(variant, ctx.scale)), "--create-table",
                  "--json"])
        finally:
            shutil.rmtree(chdb_dir, ignore_errors=True)


def _drain(variant: str, source: list[str], chdb_dir: Path, count: int,
           topic: str = TOPIC) -> dict[str, float]:
    with _Processor(["--topic", topic, "--group", f"drain-{uuid.uuid4().hex[:12]}",
                     *source, "--clickhouse", f"chdb://{chdb_dir}", "--impl", variant,
                     "--max-messages", str(count)]) as proc:
        s = proc.summary(timeout=600)
    if s["consumed"] < count or s["dead"]:
        raise MeasurementError(f"{variant}: {s['consumed']} consumed, {s['dead']} dead letters; "
                               f"expected {count} good messages")
    # The table's count FINAL, by the processor's own chDB session before it closes
    # (--count-table): not its `inserted` counter, and no second chDB start here.
    stored = s["table_rows"]
    if stored != s["inserted"]:
        raise MeasurementError(f"{variant}: {stored} rows in ClickHouse, "
                               f"the processor reported {s['inserted']}")
    consumed = max(s["consumed"], 1)
    return {
        "msgs_per_s": s["msgs_per_s"],
        "cpu_per_msg_s": s["machine_cpu_per_msg_s"] or float("nan"),
        "gc_max_s": s["gc_max_s"],
        "gc_cpu_pct": 100 * s["gc_s"] / s["cpu_s"] if s["cpu_s"] else 0.0,
        "gc_per_1k": 1000 * s["gc_collections"] / consumed,
        "startup_s": s["startup_s"],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024.0,
    }


class _Live:
    """The live phase: a processor on a new topic, fed at `LIVE_RATE` once it has joined."""

    def __init__(self, variant: str, brokers: str, chdb_dir: Path, seconds: float,
                 grace: float | None) -> None:
        from perflab.services.kafka import create_topic

        self.brokers, self.seconds, self.grace = brokers, seconds, grace
        self.topic = f"live-{uuid.uuid4().hex[:12]}"
        create_topic(brokers, self.topic, PARTITIONS)
        self.proc = _Processor(["--topic", self.topic, "--group", f"live-{uuid.uuid4().hex[:12]}",
                                "--brokers", brokers, "--clickhouse", f"chdb://{chdb_dir}",
                                "--impl", variant,
                                "--max-messages", str(int(LIVE_RATE * seconds))])

    def __enter__(self) -> _Live:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()

    def measure(self) -> dict[str, float]:
        self.proc.wait_assigned(PARTITIONS)
        start, end = _produce_paced(self.brokers, self.topic, LIVE_RATE, self.seconds)
        s = self.proc.summary(timeout=600, stop_after=self.grace)
        return {"p99_s": (s["latency_p99_ms"] or float("nan")) / 1000,
                "lag_per_min": _lag_trend(s["lag_series"], start, end)}


def _bare_consume(brokers: str, count: int, frame: bool = False) -> dict[str, float]:
    """The consume() loop alone; with `frame`, each chunk framed as the final step frames
    its batches (the same check a message), and nothing inserted."""
    from confluent_kafka import Consumer

    from perflab.measure import machine_busy_s
    from perflab.services.kafka import CLIENT_DEFAULTS
    from perflab.stream._schema import frame_raw
    from perflab.stream._source import CONSUME_MAX, KafkaBatch

    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"bare-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         # the processor's quick join (FAST_JOIN): Tansu's wait is 1 s, not 3
                         "session.timeout.ms": 2000, "heartbeat.interval.ms": 300,
                         "max.poll.interval.ms": 2000,
                         **CLIENT_DEFAULTS})
    consumer.subscribe([TOPIC])
    seen, first, joined = 0, 0.0, time.monotonic()
    busy = float("nan")
    try:
        while seen < count:
            batch = consumer.consume(CONSUME_MAX, 1.0)  # the processor's chunk
            if batch and not first:
                first, busy = time.monotonic(), machine_busy_s()
            good = [m for m in batch if m.error() is None]
            if frame and good and frame_raw(TOPIC, KafkaBatch(good)) is None:
                raise MeasurementError("bare-framing: a message the framing refused")
            seen += len(good)
        seconds, busy = time.monotonic() - first, machine_busy_s() - busy
    finally:
        consumer.close()
    return {"msgs_per_s": seen / seconds, "cpu_per_msg_s": busy / seen,
            "startup_s": first - joined}


def _quixstreams(brokers: str, chdb_dir: Path, count: int) -> dict[str, float]:
    """references/quixstreams/app.py in its own environment, then the same row count check."""
    from perflab.measure import machine_busy_s
    from perflab.stream._quix import REFERENCE, python
    from perflab.stream._schema import ddl

    interpreter = python()
    busy = machine_busy_s()
    done = subprocess.run([str(interpreter), str(REFERENCE / "app.py"), brokers, TOPIC,
                           f"quix-{uuid.uuid4().hex[:12]}", str(chdb_dir), str(count),
                           json.dumps(ddl("events")[:2]), *QUIX_JOIN],
                          capture_output=True, text=True, timeout=600, check=False)
    busy = machine_busy_s() - busy
    if done.returncode != 0:
        raise MeasurementError("quixstreams: " + (done.stderr.strip().splitlines() or ["?"])[-1])
    s = json.loads(done.stdout.strip().splitlines()[-1])
    if s["consumed"] < count or s["dead"]:
        raise MeasurementError(f"quixstreams: {s['consumed']} consumed, {s['dead']} dead")
    stored = _count_rows(chdb_dir)
    if stored != s["inserted"]:
        raise MeasurementError(f"quixstreams: {stored} rows stored, it reported {s['inserted']}")
    return {"msgs_per_s": s["msgs_per_s"], "startup_s": s["startup_s"],
            # the whole run's CPU, start-up included: an upper bound
            "cpu_per_msg_s": busy / max(s["consumed"], 1)}


def _sink_ceiling(chdb_dir: Path, rows: Path, count: int) -> dict[str, float]:
    from perflab.measure import machine_busy_s
    from perflab.services.clickhouse import connect
    from perflab.stream._decode import COMPACT, ROW_COLUMNS
    from perflab.stream._schema import ddl

    client = connect(f"chdb://{chdb_dir}")
    try:
        for statement in ddl("events"):
            client.command(statement)
        started, busy = time.perf_counter(), machine_busy_s()
        client.command(f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) "
                       f"SELECT * FROM file('{rows}', {COMPACT})")
        seconds, busy = time.perf_counter() - started, machine_busy_s() - busy
        stored = client.scalar("SELECT count() FROM events")
    finally:
        client.close()
    if stored != count:
        raise MeasurementError(f"sink ceiling: {stored} rows stored of {count}")
    return {"msgs_per_s": count / seconds, "cpu_per_msg_s": busy / count}


CASE = StreamCase()
