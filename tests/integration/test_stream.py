"""`perflab stream` against a real Kafka-protocol broker (Tansu) and real ClickHouse (chDB)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from perflab.services.clickhouse import connect
from perflab.services.kafka import local_broker
from perflab.stream._decode import DECODERS
from perflab.stream._events import BAD_KINDS, event_bytes
from perflab.stream._impl import DEFAULT, IMPLS
from perflab.stream._processor import _deliver, _prepare, _Work
from perflab.stream._produce import produce
from perflab.stream._schema import ddl, frame_raw
from perflab.stream.case import FAST_JOIN

from ..conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def brokers():
    with local_broker() as broker:
        yield broker.bootstrap


def stream(*args: str, **kw) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-m", "perflab", "stream", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            **kw)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out)


def query(path, sql: str) -> list[str]:
    client = connect(f"chdb://{path}")
    try:
        return str(client._session.query(sql, "TSV")).split("\n")[:-1]  # type: ignore[attr-defined]
    finally:
        client.close()


def new_topic(brokers: str, count: int, bad_ratio: float = 0.0, partitions: int = 4,
              fmt: str = "json") -> str:
    topic = f"t-{uuid.uuid4().hex[:10]}"
    assert produce(brokers, topic, count, partitions, bad_ratio, fmt=fmt) == count
    return topic


def run_args(brokers: str, topic: str, chdb, *extra: str) -> list[str]:
    # A group of its own per test (a later --group in `extra` wins): one test's
    # departed members must not decide another's join (see _processor.STUCK_GROUP).
    return ["run", "--brokers", brokers, "--topic", topic, "--clickhouse", f"chdb://{chdb}",
            "--group", f"g-{uuid.uuid4().hex[:8]}", "--json", "--create-table", *FAST_JOIN,
            *extra]


@pytest.mark.parametrize("impl", list(IMPLS))
def test_every_variant_stores_good_messages_once_and_dead_letters_the_rest(
        tmp_path, brokers, impl):
    one_by_one = IMPLS[impl].batch_size == 1
    count = 600 if one_by_one else 3000
    topic = new_topic(brokers, count, bad_ratio=0.02)  # every 50th bad, each kind in turn
    batch = [] if one_by_one else ["--batch-size", "250"]
    summary = finish(stream(*run_args(brokers, topic, tmp_path, "--impl", impl, *batch,
                                      "--until-idle", "2", "--count-table")))
    bad = count // 50
    assert summary["consumed"] == count
    assert (summary["inserted"], summary["dead"]) == (count - bad, bad)
    assert query(tmp_path, "SELECT count() FROM events FINAL") == [str(count - bad)]
    assert summary["table_rows"] == count - bad  # the command's own count (the case's check)
    dead = query(tmp_path, "SELECT partition, offset, reason FROM events_dead FINAL "
                           "ORDER BY partition, offset")
    assert len(dead) == bad
    # Event i went to partition i % 4 at offset i // 4; the bad ones are i = 49, 99, ...
    expected = sorted((i % 4, i // 4) for i in range(49, count, 50))
    assert [tuple(map(int, line.split("\t")[:2])) for line in dead] == expected
    assert all(line.split("\t")[2] for line in dead)
    if IMPLS[impl].raw:
        assert summary["refused_raw_batches"] >= 0  # every batch holds a bad one: Python decides


def test_protobuf_messages_are_stored_like_json_ones(tmp_path, brokers):
    count = 2000
    topic = new_topic(brokers, count, bad_ratio=0.01, fmt="protobuf")
    summary = finish(stream(*run_args(brokers, topic, tmp_path, "--format", "protobuf",
                                      "--until-idle", "2")))
    assert (summary["consumed"], summary["inserted"], summary["dead"]) == (count, 1980, 20)
    assert query(tmp_path, "SELECT id, user_id FROM events FINAL WHERE offset = 3 AND "
                           "partition = 1") == [f"evt-{13:012d}\t"
                                                f"{json.loads(event_bytes(13)[0])['data']['user_id']}"]
    reasons = query(tmp_path, "SELECT DISTINCT reason FROM events_dead")
    assert any("invalid protobuf" in r for r in reasons)
    assert any("missing field data.user_id" in r for r in reasons)


def test_stored_values_are_what_was_produced(tmp_path, brokers):
    topic = new_topic(brokers, 8, partitions=1)
    finish(stream(*run_args(brokers, topic, tmp_path, "--until-idle", "3")))
    rows = query(tmp_path, "SELECT offset, id, user_id, amount, amount_cents, country, "
                           "toUnixTimestamp64Milli(ts), metadata['region'] FROM events FINAL "
                           "ORDER BY offset")
    for line in rows:
        offset, event_id, user_id, amount, cents, country, ts, region = line.split("\t")
        ev = json.loads(event_bytes(int(offset))[0])
        assert event_id == ev["id"] and int(user_id) == ev["data"]["user_id"]
        assert float(amount) == ev["data"]["amount"]
        assert int(cents) == int(ev["data"]["amount"] * 100)
        assert country == ev["data"]["country"] and int(ts) == ev["timestamp"]
        assert region == ev["metadata"]["region"]
    assert len(rows) == 8


def test_clickhouse_refuses_what_python_refuses(tmp_path):
    """The raw path's strict settings: a refused batch goes back to Python, nothing slips in."""
    client = connect(f"chdb://{tmp_path}")
    try:
        for statement in ddl("events"):
            client.command(statement)
        good = json.loads(event_bytes(0)[0])
        variants = []
        for kind in BAD_KINDS:
            value = event_bytes(5, bad_every=1)[0] if kind != "invalid JSON" else b""
            variants.append(value)
        variants += [
            json.dumps({**good, "id": 5}).encode(),
            json.dumps({**good, "metadata": {"a": 1}}).encode(),
            json.dumps({**good, "data": {**good["data"], "user_id": -1}}).encode(),
            json.dumps({**good, "data": {**good["data"], "user_id": 2**64}}).encode(),
            json.dumps({**good, "data": {**good["data"], "user_id": 10**90}}).encode(),
            json.dumps({**good, "timestamp": 2**63}).encode(),
            json.dumps({k: v for k, v in good.items() if k != "metadata"}).encode(),
        ]
        for value in variants:
            body = frame_raw("t", [(0, 0, value, 0)])
            if body is None:
                continue  # refused before ClickHouse saw it
            work = _Work(1, raw=body, rows_count=1)
            assert _deliver(client, "events", work) is None, value
        assert client.scalar("SELECT count() FROM events") == 0
        ok = _Work(1, raw=frame_raw("t", [(0, 1, event_bytes(1)[0], 0)]), rows_count=1)
        assert _deliver(client, "events", ok) == (1, 0)
        assert client.scalar("SELECT count() FROM events") == 1
    finally:
        client.close()


def _mutated(rng, value: bytes) -> bytes:
    """`value` with one to three random cuts, overwrites, insertions or additions."""
    out = bytearray(value)
    for _ in range(rng.randrange(1, 4)):
        kind, at = rng.randrange(4), rng.randrange(len(out) or 1)
        if kind == 0:
            del out[at:at + rng.randrange(1, 20)]
        elif kind == 1 and out:
            out[at] = rng.randrange(256)
        elif kind == 2:
            out.insert(at, rng.randrange(256))
        else:
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))
    return bytes(out)


# Values a producer may put where the events' schema expects another type: ClickHouse's
# JSON reader reads a null as the column's default and a quoted number as the number.
_ODD_VALUES = (None, "12.5", "5", "-1", "1e2", "", 1e2, 1.0, -0.0, 0.5, True, [], {}, [1],
               {"a": "b"}, 2**63, 2**64, -(2**63) - 1, 1.5e308, "\u00e9", "nan", "inf",
               2**128 + 5, 2**256 + 7, -(2**127) - 3)  # past Int128/UInt256: they wrap


def _json_mutated(rng, ev: dict) -> bytes:
    """The event with one to three values replaced by odd ones, or a key spelled escaped."""
    ev = json.loads(json.dumps(ev))
    for _ in range(rng.randrange(1, 4)):
        node, key = ev, rng.choice(list(ev))
        while isinstance(node[key], dict) and node[key] and rng.random() < 0.6:
            node, key = node[key], rng.choice(list(node[key]))
        node[key] = rng.choice(_ODD_VALUES)
    text = json.dumps(ev)
    if rng.random() < 0.15:  # the same key, with a letter escaped
        key = rng.choice(["id", "timestamp", "user_id", "amount", "country", "metadata"])
        text = text.replace(f'"{key}"', f'"\\u{ord(key[0]):04x}{key[1:]}"', 1)
    return text.encode()


def _raw_against_python(tmp_path, messages, impl, decode) -> int:
    """Each message alone through the raw path (Python decodes it if ClickHouse refuses)
    into `events`, and through the Python decoder alone into `python`: same rows, same
    dead letters. Returns how many went through the raw path."""
    client = connect(f"chdb://{tmp_path / 'chdb'}")
    try:
        for statement in ddl("events") + ddl("python"):
            client.command(statement)
        raw_batches = 0
        for offset, value in enumerate(messages):
            batch = [(0, offset, value, 0)]
            work = _prepare(impl, decode, "t", batch)
            raw_batches += work.raw is not None
            if _deliver(client, "events", work) is None:
                _deliver(client, "events", _prepare(impl, decode, "t", batch, allow_raw=False))
            _deliver(client, "python", _prepare(impl, decode, "t", batch, allow_raw=False))
        for table in ("{}", "{}_dead"):
            columns = ("* EXCEPT metadata, mapSort(metadata)" if table == "{}" else
                       "partition, offset, reason")
            select = f"SELECT {columns} FROM {table} ORDER BY offset"
            ours = query(tmp_path / "chdb", select.format("events"))
            assert ours == query(tmp_path / "chdb", select.format("python")) and ours
        return raw_batches
    finally:
        client.close()


def test_clickhouse_stores_json_exactly_as_python_would(tmp_path):
    """ClickHouse's JSON reader is lenient (a null is the default, "5" is 5): messages with
    odd values must land as the Python decoder decides, whichever path took them."""
    import random

    from perflab.stream._events import event

    rng = random.Random(11)
    messages = [event_bytes(n, bad_every=1)[0] for n in range(len(BAD_KINDS))]
    messages += [event_bytes(n)[0] for n in range(20)]
    messages += [_json_mutated(rng, event(n)) for n in range(400)]
    raw = _raw_against_python(tmp_path, messages, IMPLS[DEFAULT], DECODERS["structs"]())
    assert raw > 20  # the raw path was taken, not only the fallback


def test_clickhouse_stores_protobuf_exactly_as_python_would(tmp_path, monkeypatch):
    """ClickHouse's protobuf reader is lenient: fuzzed messages must land as Python decides.

    Each message goes alone through the processor's raw path (ClickHouse parses
    it, Python decodes it if refused) into `events`, and through the Python
    decoder alone into `python`: same rows, same dead letters.
    """
    import dataclasses
    import random

    from perflab.stream._events import event
    from perflab.stream._protobuf import encode_event

    rng = random.Random(7)
    messages = [event_bytes(n, bad_every=1, fmt="protobuf")[0] for n in range(len(BAD_KINDS))]
    good = encode_event(event(1))
    messages += [good, good + b"\x0a\x03abc", good + b"\x22\x0b\x0a\x06source\x12\x01X",
                 good + b"\xf8\x01\x05"]  # a field twice, a map key twice, an unknown field
    messages += [_mutated(rng, encode_event(event(n))) for n in range(300)]
    impl = dataclasses.replace(IMPLS[DEFAULT], decoder="protobuf")
    elsewhere = tmp_path / "cwd"  # chDB must keep the schema in its data directory
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    raw = _raw_against_python(tmp_path, messages, impl, DECODERS["protobuf"]())
    assert raw > 20  # the raw path was taken, not only the fallback
    assert list(elsewhere.iterdir()) == []


def test_a_row_clickhouse_refuses_becomes_a_dead_letter_not_a_stall(tmp_path):
    """The sink's safety net: a decoded row ClickHouse cannot take is dead-lettered alone."""
    batch = [(0, n, event_bytes(n)[0], 0) for n in range(3)]
    rows = DECODERS["dicts"]()("t", batch).rows.splitlines()
    rows[1] = rows[1].replace(b'"user_id": ', b'"user_id": -')  # as if a decoder let it through
    client = connect(f"chdb://{tmp_path}")
    try:
        for statement in ddl("events"):
            client.command(statement)
        work = _Work(3, rows=b"\n".join(rows) + b"\n", rows_count=3)
        assert _deliver(client, "events", work) == (2, 1)
        assert client.scalar("SELECT count() FROM events") == 2
        assert client.scalar("SELECT count() FROM events_dead WHERE offset = 1 AND "
                             "reason LIKE 'refused by ClickHouse%'") == 1
        compact = DECODERS["structs"]()("t", [(0, 5, event_bytes(5)[0], 0)])
        bad = compact.rows.replace(b',"evt-', b',-1,"evt-', 1)  # one field too many
        assert _deliver(client, "events", _Work(1, rows=bad, rows_count=1,
                                                rows_format=compact.rows_format)) == (0, 1)
        assert client.scalar("SELECT count() FROM events_dead WHERE offset = 5") == 1
    finally:
        client.close()


# One step with worker processes, and the default (whose overlap keeps a batch in flight)
@pytest.mark.parametrize("impl", ["big-batches", DEFAULT])
def test_kill_mid_run_then_restart_loses_and_doubles_nothing(tmp_path, brokers, impl):
    count = 60_000
    topic = new_topic(brokers, count)
    # Small batches make the run take seconds, so a kill 1 s in lands midway.
    args = run_args(brokers, topic, tmp_path, "--impl", impl, "--batch-size", "100")
    first = stream(*args, "--until-idle", "30")
    assert first.stderr is not None
    for line in first.stderr:  # the group has settled: batches are flowing now
        if "assigned" in line:
            break
    time.sleep(1.0)
    doomed = [first.pid, *_children_of(first.pid)]
    for pid in doomed:  # no goodbye: SIGKILL for the processor and its workers
        os.kill(pid, signal.SIGKILL)
    first.communicate()
    time.sleep(0.5)
    partial = int(query(tmp_path, "SELECT count() FROM events FINAL")[0])
    assert 0 < partial < count, "the first run should have been killed midway"
    # the restart takes big batches: only where it starts from matters here
    second = finish(stream(*args, "--batch-size", "5000", "--until-idle", "4"), timeout=180)
    assert second["consumed"] < count  # it resumed from the committed offsets
    assert query(tmp_path, "SELECT count() FROM events FINAL") == [str(count)]
    assert query(tmp_path, "SELECT uniqExact(partition, offset), min(offset), max(offset) "
                           "FROM events") == [f"{count}\t0\t{count // 4 - 1}"]


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError):
                pass
    return found


def test_restart_continues_from_committed_offsets(tmp_path, brokers):
    count = 8_000
    topic = new_topic(brokers, count)
    args = run_args(brokers, topic, tmp_path, "--group", "resume", "--workers", "0",
                    "--batch-size", "1000")
    first = finish(stream(*args, "--max-messages", "2500"))  # not a whole number of batches
    second = finish(stream(*args, "--until-idle", "3"))
    assert first["consumed"] == 2500  # --max-messages reads no more than it asks for
    assert first["consumed"] + second["consumed"] == count
    assert query(tmp_path, "SELECT count() FROM events FINAL") == [str(count)]


def test_two_processors_in_one_group_share_the_partitions(tmp_path, brokers):
    count = 20_000
    topic = new_topic(brokers, count)
    procs = [stream(*run_args(brokers, topic, tmp_path / name, "--group", "shared",
                              "--workers", "0", "--batch-size", "500", "--until-idle", "6"))
             for name in ("a", "b")]
    summaries = [finish(p, timeout=180) for p in procs]
    assert all(s["consumed"] > 0 for s in summaries), summaries
    keys = [set(query(tmp_path / name, "SELECT partition, offset FROM events"))
            for name in ("a", "b")]
    assert len(keys[0] | keys[1]) == count  # every message in one of the two sinks


def test_replay_source_and_bad_input(tmp_path):
    replay = tmp_path / "events.replay"
    gen = stream("produce", "--replay", str(replay), "--count", "2000", "--bad-ratio", "0.01")
    gen.communicate(timeout=60)
    assert gen.returncode == 0
    summary = finish(stream("run", "--topic", "t", "--source", f"replay:{replay}",
                            "--clickhouse", f"chdb://{tmp_path / 'ch'}", "--json",
                            "--create-table"))
    assert (summary["consumed"], summary["inserted"], summary["dead"]) == (2000, 1980, 20)

    replay.write_bytes(replay.read_bytes()[:-5])
    proc = stream("run", "--topic", "t", "--source", f"replay:{replay}",
                  "--clickhouse", f"chdb://{tmp_path / 'ch2'}", "--workers", "0", "--create-table")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1].startswith(f"error: {replay}:2000:")

    proc = stream("run", "--topic", "t", "--source", f"replay:{tmp_path / 'nope'}",
                  "--clickhouse", f"chdb://{tmp_path / 'ch3'}", "--create-table")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "nope" in err and "Traceback" not in err


def test_usage_errors(tmp_path):
    for args in (["produce", "--count", "5"], ["run", "--topic", "t", "--source", "kafka:x"],
                 ["run", "--topic", "t", "--clickhouse", "ftp://x"],
                 ["run", "--topic", "t", "--brokers", "127.0.0.1:1", "-X", "nokey"],
                 ["run", "--topic", "t", "--brokers", "127.0.0.1:1", "--workers", "0",
                  "--clickhouse", f"chdb://{tmp_path}", "-X", "bogus.key=1"]):
        proc = stream(*args)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and err.startswith("error:"), (args, err)


def test_the_lag_counts_what_a_consumer_has_not_fetched(brokers):
    """librdkafka stops fetching while its queue holds enough: the watermarks its fetches
    bring stop with it, and the lag must still count what the broker holds."""
    from confluent_kafka import Producer

    from perflab.services.kafka import CLIENT_DEFAULTS
    from perflab.stream._source import KafkaSource

    topic = new_topic(brokers, 2000, partitions=2)
    source = KafkaSource(brokers, [topic], f"g-{uuid.uuid4().hex[:8]}",
                         extra={"queued.min.messages": 100})
    try:
        batch: list = []
        while not batch:
            batch = list(source.poll_batch(50, 1.0))
        source.ack(batch, topic)
        # one record a batch: the broker's answer is the log's end, whatever its batching
        producer = Producer({"bootstrap.servers": brokers, "linger.ms": 0,
                             "batch.num.messages": 1, **CLIENT_DEFAULTS})
        for i in range(500):
            producer.produce(topic, b'{"late": true}', partition=i % 2)
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 15
        while source.lag() != 2500 - len(batch) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert source.lag() == 2500 - len(batch), source.lag_by_partition()
    finally:
        source.close()


def test_after_a_restart_the_lag_counts_from_the_committed_offsets(brokers):
    """A member that takes over partitions the group has read knows where it left off: its
    lag is what is left, not the partitions' whole logs, before its first batch."""
    from perflab.stream._source import KafkaSource

    topic, group = new_topic(brokers, 2000, partitions=2), f"g-{uuid.uuid4().hex[:8]}"
    first = KafkaSource(brokers, [topic], group)
    try:
        read, deadline = 0, time.monotonic() + 30
        while read < 2000:
            assert time.monotonic() < deadline, f"{read} of 2000 read in 30 s"
            batch = first.poll_batch(2000 - read, 1.0)
            first.ack(batch, topic)
            read += len(batch)
    finally:
        first.close()  # commits the stored offsets
    second = KafkaSource(brokers, [topic], group)
    try:
        deadline = time.monotonic() + 15
        while len(second.lag_by_partition()) < 2 and time.monotonic() < deadline:
            assert not second.poll_batch(100, 0.2)  # nothing left to read
        assert second.lag_by_partition() == {(topic, 0): 0, (topic, 1): 0}
    finally:
        second.close()


def test_the_rate_counts_from_the_first_message_not_from_the_wait_for_a_topic(tmp_path, brokers):
    """A regex that matches no topic yet hands the consumer events, not messages: the
    processing window opens at the first message, and the wait is start-up."""
    topic = f"late-{uuid.uuid4().hex[:8]}"
    proc = stream("run", "--brokers", brokers, "--topic-regex", f"^{topic}", "--clickhouse",
                  f"chdb://{tmp_path}", "--group", f"g-{uuid.uuid4().hex[:8]}", "--json",
                  "--create-table", *FAST_JOIN, "--max-messages", "3000", "--workers", "0")
    time.sleep(6)
    produce(brokers, topic, 3000, 2)
    summary = finish(proc)
    assert summary["consumed"] == 3000
    assert summary["startup_s"] > 1.0 and summary["startup_s"] > summary["seconds"], summary
