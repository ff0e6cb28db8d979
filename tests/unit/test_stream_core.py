"""The stream processor's pure core: decoders agree, framing is safe, replay files are checked."""

from __future__ import annotations

import json

import pytest

from perflab.errors import InputError
from perflab.stream._decode import COMPACT, DECODERS, ROW_COLUMNS
from perflab.stream._events import BAD_KINDS, event_bytes, events
from perflab.stream._processor import Summary
from perflab.stream._schema import frame_raw
from perflab.stream._source import RECORD, KafkaBatch, ReplaySource, last_offsets, write_replay
from perflab.stream.case import _lag_trend

JSON_DECODERS = ("dicts", "pooled", "structs")


def _batch(count: int, bad_ratio: float = 0.0, fmt: str = "json"):
    return [(i % 4, i // 4, value, 1_000 + i) for i, value, _ in events(count, bad_ratio, fmt)]


def _decoded(name: str, batch):
    """Rows as dicts, whatever the decoder's row format (objects or compact arrays)."""
    out = DECODERS[name]()("t", batch)
    rows = [json.loads(line) for line in out.rows.splitlines()]
    if out.rows_format == COMPACT:
        rows = [dict(zip(ROW_COLUMNS, row, strict=True)) for row in rows]
    dead = [json.loads(line) for line in out.dead.splitlines()]
    assert (len(rows), len(dead)) == (out.rows_count, out.dead_count)
    return rows, dead


def test_decoders_agree_on_rows_and_dead_letters():
    batch = _batch(500, bad_ratio=0.02)  # every 50th message is bad, each kind in turn
    results = {name: _decoded(name, batch) for name in JSON_DECODERS}
    results["protobuf"] = _decoded("protobuf", _batch(500, bad_ratio=0.02, fmt="protobuf"))
    rows, dead = results["dicts"]
    assert len(rows) == 490 and len(dead) == 10
    for name, (other_rows, other_dead) in results.items():
        assert other_rows == rows, name
        assert [(d["partition"], d["offset"]) for d in other_dead] == [
            (d["partition"], d["offset"]) for d in dead], name
        assert all(d["reason"] for d in other_dead), name


def test_transform_keeps_five_data_keys_and_derives_cents():
    rows, _ = _decoded("structs", _batch(3))
    row = rows[2]
    assert set(row) == {"topic", "partition", "offset", "id", "timestamp_ms", "user_id",
                        "event_type", "amount", "amount_cents", "country", "page", "metadata"}
    assert (row["partition"], row["offset"], row["id"]) == (2, 0, "evt-000000000002")
    assert row["amount_cents"] == int(row["amount"] * 100)
    assert row["metadata"]["producer"] == "perflab"


@pytest.mark.parametrize("name", list(DECODERS))
def test_each_bad_kind_gets_a_reason(name):
    fmt = "protobuf" if name == "protobuf" else "json"
    batch = [(0, n, event_bytes(n, bad_every=1, fmt=fmt)[0], 0) for n in range(len(BAD_KINDS))]
    rows, dead = _decoded(name, batch)
    assert rows == [] and len(dead) == len(BAD_KINDS)
    reasons = " | ".join(d["reason"] for d in dead).lower()
    needles = ("invalid json", "user_id", "amount", "object", "utf-8")
    if fmt == "protobuf":  # no types on the wire: a mistyped field is a missing one
        needles = ("invalid protobuf", "data.user_id", "data.amount", "utf-8")
    for needle in needles:
        assert needle in reasons, (name, needle, reasons)
    empty = DECODERS[name]()("t", [(0, 9, None, 0)])
    assert empty.dead_count == 1


def test_metadata_values_must_be_strings_everywhere():
    good = json.loads(event_bytes(7)[0])
    good["metadata"]["retries"] = 3
    batch = [(0, 0, json.dumps(good).encode(), 0)]
    for name in JSON_DECODERS:
        assert DECODERS[name]()("t", batch).dead_count == 1, name


@pytest.mark.parametrize(("where", "value"), [("data", 2**64), ("data", -1), ("top", 2**63)])
def test_integers_outside_the_columns_are_refused(where, value):
    ev = json.loads(event_bytes(1)[0])
    if where == "data":
        ev["data"]["user_id"] = value
    else:
        ev["timestamp"] = value
    for name in JSON_DECODERS:
        assert DECODERS[name]()("t", [(0, 0, json.dumps(ev).encode(), 0)]).dead_count == 1, name


def test_frame_raw_wraps_each_message_once():
    batch = _batch(10)
    body = frame_raw("t", batch)
    assert body is not None
    lines = [json.loads(line) for line in body.splitlines()]
    assert [(x["partition"], x["offset"]) for x in lines] == [(p, o) for p, o, _, _ in batch]
    assert lines[3]["m"] == json.loads(batch[3][2])


@pytest.mark.parametrize("value", [
    # a value that closes the wrapper and forges a row of its own
    event_bytes(1)[0] + b'}\n{"topic":"t","partition":0,"offset":0,"m":' + event_bytes(2)[0],
    event_bytes(1)[0][:-3],  # truncated
    event_bytes(1)[0].replace(b"evt-", b"evt\xff"),  # invalid UTF-8
    None,
])
def test_frame_raw_leaves_anything_doubtful_to_python(value):
    assert frame_raw("t", [(0, 0, event_bytes(0)[0], 0), (0, 1, value, 0)]) is None


class _Consumed:
    """What the raw path reads of a confluent-kafka Message (a unit test has no broker)."""

    def __init__(self, message):
        self._m = message

    def partition(self):
        return self._m[0]

    def offset(self):
        return self._m[1]

    def value(self):
        return self._m[2]

    def timestamp(self):
        return (1, self._m[3])

    def error(self):
        return None


def test_kafka_batch_frames_as_the_tuples_do_and_makes_tuples_only_on_demand():
    batch = _batch(40)
    lazy = KafkaBatch([_Consumed(m) for m in batch])
    assert len(lazy) == 40 and list(lazy) == batch
    assert lazy[3] == batch[3] and lazy[::16] == batch[::16]
    assert frame_raw("t", lazy) == frame_raw("t", batch)
    assert lazy.last == last_offsets(batch) == {p: max(o for q, o, _, _ in batch if q == p)
                                                  for p in range(4)}
    assert last_offsets(KafkaBatch([_Consumed(m) for m in batch])) == lazy.last


@pytest.mark.parametrize("value", [
    event_bytes(1)[0] + b'}\n{"topic":"t","partition":0,"offset":0,"m":' + event_bytes(2)[0],
    event_bytes(1)[0].replace(b"evt-", b"evt\xff"),
    None,
])
def test_kafka_batch_framing_leaves_anything_doubtful_to_python(value):
    batch = [(0, 0, event_bytes(0)[0], 0), (0, 1, value, 0)]
    assert frame_raw("t", KafkaBatch([_Consumed(m) for m in batch])) is None


def test_frame_raw_escapes_a_percent_in_the_topic():
    body = frame_raw("a%d", _batch(2))
    assert body is not None and json.loads(body.splitlines()[0])["topic"] == "a%d"


def _envelopes(body: bytes) -> list[tuple[str, int, int, bytes]]:
    """(topic, partition, offset, message) of each length-delimited Envelope, read by hand."""
    import struct

    def read_varint(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = body[pos]
            value, shift, pos = value | (byte & 0x7F) << shift, shift + 7, pos + 1
            if byte < 0x80:
                return value, pos

    out, pos = [], 0
    while pos < len(body):
        size, pos = read_varint(pos)
        end = pos + size
        assert body[pos] == 0x0A  # field 1, length-delimited: the topic
        length, pos = read_varint(pos + 1)
        topic, pos = body[pos:pos + length].decode(), pos + length
        assert (body[pos], body[pos + 5], body[pos + 14]) == (0x15, 0x19, 0x22)
        partition, offset = struct.unpack_from("<I", body, pos + 1)[0], struct.unpack_from(
            "<Q", body, pos + 6)[0]
        length, pos = read_varint(pos + 15)
        out.append((topic, partition, offset, body[pos:pos + length]))
        assert pos + length == end
        pos = end
    return out


def test_frame_envelopes_wraps_each_message_with_where_it_came_from():
    from perflab.stream._protobuf import frame_envelopes

    batch = [*_batch(10, fmt="protobuf"), (3, 2**40, event_bytes(11, fmt="protobuf")[0], 0)]
    body = frame_envelopes("perflab-events", batch)
    assert body is not None
    assert _envelopes(body) == [("perflab-events", p, o, v) for p, o, v, _ in batch]


def _protobuf_doubtful() -> list[bytes]:
    good = event_bytes(1, fmt="protobuf")[0]
    bad = [event_bytes(n, bad_every=1, fmt="protobuf")[0] for n in range(len(BAD_KINDS))]
    return [v for v, kind in zip(bad, BAD_KINDS, strict=True) if kind != "invalid UTF-8"] + [
        good + b"\x0a\x03abc",  # id sent twice: ClickHouse reads it empty
        good + b"\x22\x0b\x0a\x06source\x12\x01X",  # a map key sent twice
        good + b"\xf8\x01\x05",  # an unknown field
        b"\x0a\x90\x00" + good[2:],  # not canonical: the id's length as a 2-byte varint
    ]


@pytest.mark.parametrize("value", [*_protobuf_doubtful(), None])
def test_frame_envelopes_leaves_what_clickhouse_may_misread_to_python(value):
    """Only complete messages in canonical form go to ClickHouse's lenient reader."""
    from perflab.stream._protobuf import frame_envelopes

    assert frame_envelopes("t", [(0, 0, event_bytes(0, fmt="protobuf")[0], 0),
                                 (0, 1, value, 0)]) is None


def test_protobuf_decoder_dead_letters_invalid_utf8_in_a_map_key():
    from perflab.stream._protobuf import Event

    ev = Event.FromString(event_bytes(3, fmt="protobuf")[0])
    ev.metadata["zz"] = "eu"
    value = bytes(ev.SerializeToString()).replace(b"\x02zz", b"\x02z\xd8")  # in a key
    out = DECODERS["protobuf"]()("t", [(0, 0, value, 0)])  # raised UnicodeDecodeError before
    assert (out.rows_count, out.dead_count) == (0, 1)
    assert b"invalid UTF-8" in out.dead


def test_replay_roundtrip_and_shards(tmp_path):
    path = tmp_path / "r.replay"
    batch = _batch(40)
    assert write_replay(path, batch) == 40
    source = ReplaySource(path)
    got = source.poll_batch(25, 0) + source.poll_batch(25, 0)
    assert got == batch and source.finished
    shard = ReplaySource(path, (1, 2)).poll_batch(100, 0)
    assert {p for p, _, _, _ in shard} == {1, 3} and len(shard) == 20


def test_truncated_replay_names_file_record_and_byte(tmp_path):
    path = tmp_path / "cut.replay"
    write_replay(path, _batch(3))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(InputError) as err:
        ReplaySource(path).poll_batch(10, 0)
    assert str(err.value).startswith(f"{path}:3:")
    assert "truncated record value" in str(err.value)
    path.write_bytes(data[: RECORD.size - 2])
    with pytest.raises(InputError, match="truncated record header"):
        ReplaySource(path).poll_batch(10, 0)


def test_lag_trend_sums_processes_inside_the_window():
    rising = [[0.0, 0], [1.0, 500], [2.0, 1000], [9.0, 0]]
    flat = [[0.0, 10], [1.0, 12], [2.0, 10]]
    assert _lag_trend([rising], 0.0, 2.0) == pytest.approx(30_000)
    assert _lag_trend([rising, flat], 0.0, 2.0) == pytest.approx(30_000)
    assert _lag_trend([[[5.0, 1]]], 0.0, 2.0) != _lag_trend([[[5.0, 1]]], 0.0, 2.0)  # NaN


def test_merged_summary_costs_the_machine_from_first_message_to_last_batch():
    early = Summary(consumed=100, first_message_at=1.0, last_batch_at=5.0,
                    first_message_busy=10.0, last_batch_busy=12.0)
    late = Summary(consumed=300, first_message_at=2.0, last_batch_at=9.0,
                   first_message_busy=11.0, last_batch_busy=14.0)
    early.merge(late)
    early.finish(started=0.0)
    out = early.as_json()
    assert out["seconds"] == 8.0 and out["msgs_per_s"] == 50.0
    assert out["machine_cpu_per_msg_s"] == pytest.approx((14.0 - 10.0) / 400)


def test_the_impl_sets_the_fetch_backoff_and_a_kafka_setting_given_with_x_wins() -> None:
    from perflab.stream._impl import DEFAULT, IMPLS
    from perflab.stream._processor import Options, kafka_settings

    before, final = IMPLS["no-tuples"], IMPLS[DEFAULT]
    assert kafka_settings(Options("t", "g", "events", before)) == {
        "fetch.queue.backoff.ms": 1000}  # librdkafka's default, said explicitly
    assert kafka_settings(Options("t", "g", "events", final))["fetch.queue.backoff.ms"] == 10
    given = Options("t", "g", "events", final, kafka=(("fetch.queue.backoff.ms", "250"),
                                                      ("client.id", "mine")))
    assert kafka_settings(given) == {"fetch.queue.backoff.ms": "250", "client.id": "mine"}
