"""`perflab stream run --table`: the user's own table, on the real broker (Tansu) and chDB."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.request
import uuid

import pytest
from confluent_kafka import Producer, TopicPartition

from perflab.services import free_port
from perflab.services.clickhouse import connect
from perflab.services.kafka import CLIENT_DEFAULTS, create_topic, local_broker

from .test_stream import FAST_JOIN, _children_of, finish, stream

pytestmark = pytest.mark.integration

ORDERS = """
CREATE TABLE IF NOT EXISTS shop.orders (
    id UInt64, small Int8, big Int256, price Decimal(9, 2), ratio Float32, name String,
    code FixedString(3), city LowCardinality(String), paid Bool, day Date, born Date32,
    at DateTime, at64 DateTime64(3, 'UTC'), uid UUID, status Enum8('new' = 1, 'paid' = 2),
    note Nullable(String), tags Array(String), attrs Map(String, UInt16),
    point Tuple(x Float64, y Float64), zip String, level UInt8 DEFAULT 7,
    total Decimal(12, 2) MATERIALIZED price * 2,
    _topic LowCardinality(String), _partition UInt32, _offset UInt64,
    CONSTRAINT cheap CHECK price < 5000
) ENGINE = ReplacingMergeTree ORDER BY (_topic, _partition, _offset)
"""

GOOD = {"id": 1, "small": -128, "big": str(-(2**255)), "price": "4999.99", "ratio": 0.5,
        "name": "Ada", "code": "AB", "addr": {"city": "Oslo", "zip": "0150"}, "paid": True,
        "day": "2149-06-06", "born": "1900-01-01", "at": 1767225600,
        "at64": "2026-01-01T01:00:00.123+01:00", "uid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "status": 2, "tags": ["a", "b"], "attrs": {"k": 65535}, "point": {"x": 1, "y": 2.5}}

# (change to the good message, the dead-letter reason expected)
BAD = [
    ({"small": 128}, "column small: 128 is out of range for Int8"),
    ({"big": 2**255}, "column big: "), ({"price": "1.005"}, "more than 2 decimal places"),
    ({"ratio": 1e39}, "out of range for Float32"), ({"name": 5}, "column name: expected a string"),
    ({"code": "ABCD"}, "do not fit FixedString(3)"), ({"paid": "yes"}, "expected true or false"),
    ({"day": "2149-06-07"}, "out of range for Date"), ({"born": "1899-12-31"}, "out of range"),
    ({"at": -1}, "column at: -1 is out of range"), ({"at64": "2026-01-01T00:00:00.1234Z"},
                                                   "more than 3 fractional digits"),
    ({"uid": "nope"}, "is not a UUID"), ({"status": "lost"}, "is not a member of Enum8"),
    ({"tags": [1]}, "column tags: [0]: expected a string"),
    ({"attrs": {"k": 65536}}, "column attrs: ['k']: 65536 is out of range for UInt16"),
    ({"point": {"x": 1}}, "missing element y"), ({"id": None}, "column id: expected an integer"),
    ({"addr": {"city": "Oslo"}}, "missing field addr.zip"),
    ({"price": "4999.99", "name": None}, "column name:"),
]


@pytest.fixture(scope="module")
def brokers():
    with local_broker() as broker:
        yield broker.bootstrap


def sql(path, *statements: str) -> list[str]:
    client = connect(f"chdb://{path}")
    try:
        out: list[str] = []
        for statement in statements:
            out = str(client._session.query(statement, "TSV")).split("\n")[:-1]  # type: ignore[attr-defined]
        return out
    finally:
        client.close()


def send(brokers: str, topic: str, values: list[bytes], partitions: int = 2) -> None:
    create_topic(brokers, topic, partitions)
    producer = Producer({"bootstrap.servers": brokers, **CLIENT_DEFAULTS})
    for i, value in enumerate(values):
        producer.produce(topic, value, partition=i % partitions)
    assert producer.flush(30) == 0


def args(brokers: str, topic: str, chdb, *extra: str) -> list[str]:
    return ["run", "--brokers", brokers, "--topic", topic, "--clickhouse", f"chdb://{chdb}",
            "--group", f"g-{uuid.uuid4().hex[:8]}", "--json", *FAST_JOIN, *extra]


def orders(count_good: int) -> tuple[list[bytes], list[str]]:
    """Good messages, then one bad one of each kind in BAD; and the reasons, in order."""
    values = [json.dumps({**GOOD, "id": i}).encode() for i in range(count_good)]
    values += [json.dumps({**GOOD, "id": 900 + n, **change}).encode()
               for n, (change, _) in enumerate(BAD)]
    values.append(json.dumps({**GOOD, "id": 999, "price": "4999.99", "small": 0}).encode()
                  .replace(b'"4999.99"', b'"6000.00"'))  # refused by the table's CHECK
    values += [b"{broken", b"[]", b'{"id": 1, "name": "\xff"}']
    reasons = [reason for _, reason in BAD] + ["refused by ClickHouse", "invalid JSON",
                                               "not an object", "invalid UTF-8"]
    return values, reasons


def test_every_type_family_into_a_table_of_the_users_own(tmp_path, brokers):
    sql(tmp_path, "CREATE DATABASE IF NOT EXISTS shop", ORDERS)
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns]\nzip = "addr.zip"\n')
    values, reasons = orders(40)
    topics = [f"o-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    send(brokers, topics[0], values[::2])
    send(brokers, topics[1], values[1::2])
    summary = finish(stream(*args(brokers, ",".join(topics), tmp_path, "--table", "shop.orders",
                                  "--map", "city=addr.city", "--mapping", str(mapping),
                                  "--until-idle", "2")))
    bad = len(values) - 40
    assert (summary["consumed"], summary["inserted"], summary["dead"]) == (len(values), 40, bad)
    assert sql(tmp_path, "SELECT count(), uniqExact(id), min(level), uniqExact(_topic) "
                         "FROM shop.orders FINAL") == ["40\t40\t7\t2"]
    row = sql(tmp_path, "SELECT small, big, price, total, ratio, name, code, city, zip, paid, "
                        "day, born, at, at64, uid, status, note, tags, attrs, point "
                        "FROM shop.orders FINAL WHERE id = 3")[0].split("\t")
    assert row == ["-128", str(-(2**255)), "4999.99", "9999.98", "0.5", "Ada", "AB\\0", "Oslo",
                   "0150", "true", "2149-06-06", "1900-01-01", "2026-01-01 00:00:00",
                   "2026-01-01 00:00:00.123", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "paid",
                   "\\N", "['a','b']", "{'k':65535}", "(1,2.5)"]
    dead = sql(tmp_path, "SELECT reason, raw FROM shop.orders_dead FINAL")
    assert len(dead) == bad
    got = sorted(line.split("\t")[0].replace("\\'", "'") for line in dead)
    for reason in reasons:
        assert sum(reason in line for line in got) >= 1, (reason, got)
    assert not any('"id": 1,' in line and "Ada" in line and "reason" not in line for line in dead)


def test_protobuf_of_the_users_schema(tmp_path, brokers):
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="shop.proto", package="shop", syntax="proto3")
    addr = proto.message_type.add(name="Address")
    addr.field.add(name="city", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    order = proto.message_type.add(name="Order")
    order.field.add(name="id", number=1, type=f.TYPE_UINT64, label=f.LABEL_OPTIONAL)
    order.field.add(name="small", number=2, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL)
    order.field.add(name="addr", number=3, type=f.TYPE_MESSAGE, label=f.LABEL_OPTIONAL,
                    type_name=".shop.Address")
    order.field.add(name="tags", number=4, type=f.TYPE_STRING, label=f.LABEL_REPEATED)
    descriptor_set = tmp_path / "shop.pb"
    descriptor_set.write_bytes(descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString())
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))

    def msg(**kw) -> bytes:
        m = cls(**{k: v for k, v in kw.items() if k != "city"})
        if "city" in kw:
            m.addr.city = kw["city"]
        return bytes(m.SerializeToString())

    values = [msg(id=i, small=i % 100, city="Oslo", tags=["x"]) for i in range(30)]
    values += [msg(id=100, small=300, city="Oslo"), msg(id=101, small=1), b"\xff\xff\xff"]
    topic = f"pb-{uuid.uuid4().hex[:8]}"
    send(brokers, topic, values)
    sql(tmp_path, "CREATE TABLE pb (id UInt64, small Int8, city String, tags Array(String), "
                  "_partition UInt32, _offset UInt64) ENGINE = ReplacingMergeTree "
                  "ORDER BY (_partition, _offset)")
    summary = finish(stream(*args(brokers, topic, tmp_path, "--table", "pb", "--format",
                                  "protobuf", "--descriptor-set", str(descriptor_set),
                                  "--message", "shop.Order", "--map", "city=addr.city",
                                  "--until-idle", "2")))
    assert (summary["consumed"], summary["inserted"], summary["dead"]) == (33, 30, 3)
    assert sql(tmp_path, "SELECT count(), sum(id), any(city), any(tags) FROM pb FINAL") == \
        [f"30\t{sum(range(30))}\tOslo\t['x']"]
    reasons = sorted(sql(tmp_path, "SELECT reason FROM pb_dead"))
    assert reasons[0].startswith("column small: 300 is out of range for Int8")
    assert reasons[1].startswith("invalid protobuf") and reasons[2] == "missing field addr.city"


def test_a_sink_outage_sends_no_good_message_to_the_dead_letters(tmp_path, brokers):
    """A real MEMORY_LIMIT_EXCEEDED from chDB: retried, then an exit with the offsets kept."""
    sql(tmp_path, "CREATE DATABASE IF NOT EXISTS shop", ORDERS)
    values, _ = orders(600)
    topic = f"out-{uuid.uuid4().hex[:8]}"
    send(brokers, topic, values)
    common = args(brokers, topic, tmp_path, "--table", "shop.orders", "--map", "city=addr.city",
                  "--map", "zip=addr.zip", "--group", "outage", "--batch-size", "100",
                  "--workers", "0")
    first = finish(stream(*common, "--max-messages", "200"))
    assert first["consumed"] == 200 and first["dead"] == 0
    port = free_port()
    down = stream(*common, "--until-idle", "5", "--max-sink-retry", "3", "--metrics-port",
                  str(port), "-s", "max_memory_usage=1000", "-s", "max_untracked_memory=1024")
    scraped = ""
    deadline = time.monotonic() + 30
    while "perflab_stream_sink_retries_total 2" not in scraped and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)\
                .read().decode()
        time.sleep(0.2)
    _, err = down.communicate(timeout=60)
    assert "perflab_stream_sink_retries_total 2" in scraped, scraped
    assert f'perflab_stream_lag{{partition="0",topic="{topic}"}}' in scraped
    assert down.returncode == 2, err
    assert "ClickHouse could not take a batch" in err and "MEMORY_LIMIT_EXCEEDED" in err
    assert "retrying in" in err
    assert sql(tmp_path, "SELECT count() FROM shop.orders_dead") == ["0"]
    last = finish(stream(*common, "--until-idle", "3"))
    assert first["consumed"] + last["consumed"] == len(values)
    assert (first["inserted"] + last["inserted"], last["dead"]) == (600, len(values) - 600)
    assert sql(tmp_path, "SELECT count(), uniqExact(id) FROM shop.orders") == ["600\t600"]
    assert sql(tmp_path, "SELECT count() FROM shop.orders_dead WHERE raw LIKE '%\"Ada\"%' "
                         "AND reason LIKE '%memory%'") == ["0"]


def test_kill_9_and_restart_into_a_users_table_counts_exactly(tmp_path, brokers):
    count = 30_000
    sql(tmp_path, "CREATE TABLE k (id UInt32, v String, _topic String, _partition UInt32, "
                  "_offset UInt64) ENGINE = ReplacingMergeTree ORDER BY (_partition, _offset)")
    topic = f"k-{uuid.uuid4().hex[:8]}"
    send(brokers, topic, [b'{"id": %d, "v": "%s"}' % (i, b"x" * 200) for i in range(count)], 4)
    common = args(brokers, topic, tmp_path, "--table", "k", "--group", "kill",
                  "--batch-size", "50", "--workers", "0")
    first = stream(*common, "--until-idle", "30")
    assert first.stderr is not None
    for line in first.stderr:
        if "assigned" in line:
            break
    time.sleep(1.5)
    for pid in [first.pid, *_children_of(first.pid)]:
        os.kill(pid, signal.SIGKILL)
    first.communicate()
    partial = int(sql(tmp_path, "SELECT count() FROM k FINAL")[0])
    assert 0 < partial < count, "the first run should have been killed midway"
    second = finish(stream(*common, "--batch-size", "2000", "--until-idle", "3"), timeout=120)
    assert second["consumed"] < count
    assert sql(tmp_path, "SELECT count(), uniqExact(id), sum(id) FROM k FINAL") == \
        [f"{count}\t{count}\t{sum(range(count))}"]


def test_a_topic_regex_and_a_dead_letter_topic(tmp_path, brokers):
    from confluent_kafka import Consumer

    prefix = f"rx{uuid.uuid4().hex[:6]}"
    for name in ("a", "b"):
        send(brokers, f"{prefix}.{name}", [b'{"id": %d}' % i for i in range(10)]
             + [b'{"id": 300}', b"nope"], 1)
    sql(tmp_path, "CREATE TABLE r (id UInt8, _topic String, _offset UInt64) "
                  "ENGINE = ReplacingMergeTree ORDER BY (_topic, _offset)")
    run = ["run", "--brokers", brokers, "--clickhouse", f"chdb://{tmp_path}", "--json",
           *FAST_JOIN, "--table", "r"]
    dlt = f"{prefix}-dead"
    create_topic(brokers, dlt, 1)
    summary = finish(stream(*run, "--topic-regex", f"^{prefix}\\.[ab]$", "--until-idle", "3",
                            "--group", f"g-{uuid.uuid4().hex[:6]}", "--dead-letter-topic", dlt))
    assert (summary["consumed"], summary["inserted"], summary["dead"]) == (24, 20, 4)
    assert sql(tmp_path, "SELECT _topic, count() FROM r FINAL GROUP BY _topic ORDER BY 1") == \
        [f"{prefix}.a\t10", f"{prefix}.b\t10"]
    assert sql(tmp_path, "EXISTS TABLE r_dead") == ["0"]  # they went to the topic instead
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"d-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", **CLIENT_DEFAULTS})
    consumer.assign([TopicPartition(dlt, 0, 0)])
    letters: list[dict] = []
    deadline = time.monotonic() + 20
    while len(letters) < 4 and time.monotonic() < deadline:
        letters += [json.loads(m.value()) for m in consumer.consume(10, 1.0) if not m.error()]
    consumer.close()
    assert sorted((d["topic"], d["offset"]) for d in letters) == [
        (f"{prefix}.{t}", o) for t in "ab" for o in (10, 11)]
    assert sorted(d["reason"][:20] for d in letters) == [
        "column id: 300 is ou", "column id: 300 is ou", "invalid JSON: JSON i",
        "invalid JSON: JSON i"]
    for extra, message in ((["--table", "nope"], "table nope not found"),
                           (["--map", "bogus=a.b"], "bogus"),
                           (["--map", "id"], "expected COLUMN=KEY"),
                           (["--format", "protobuf"], "needs --message"),
                           (["--mapping", str(tmp_path / "none.toml")], "none.toml")):
        proc = stream(*run, "--topic", "x", *extra)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and message in err and "Traceback" not in err, err
