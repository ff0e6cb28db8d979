"""The ClickHouse side: tables, and the raw paths where ClickHouse parses the messages.

Re-delivered messages are harmless: every table is a ReplacingMergeTree keyed
by (topic, partition, offset), so a message inserted twice is one row after a
merge, and `SELECT count() FROM events FINAL` counts each message once.

The raw paths (the ladder's last steps) send each message's bytes untouched,
wrapped with where it came from, into a Null table; a materialized view turns
them into `events` rows inside ClickHouse, with ClickHouse's own parser. A
batch ClickHouse rejects is decoded again by the Python decoder, which sends
each bad message to `events_dead` with its reason; so ClickHouse must refuse
at least what Python refuses.

- JSON: `{"topic":..,"partition":..,"offset":..,"m":<message>}` lines, read with
  strict settings (below). Before wrapping, msgspec checks that each message is
  exactly one JSON value (no trailing bytes that could close the wrapper and
  forge a row) whose numbers are JSON numbers (ClickHouse reads "5" as 5), building
  only two small structs.
- Protobuf: each message as field 4 of an `Envelope` (fields 1-3: topic,
  partition, offset), length-delimited. The message is a length-bounded field
  of its own, so no bytes of it can reach the envelope's fields. Python passes
  on only complete messages in canonical form (`_protobuf.frame_envelopes`):
  ClickHouse ignores `required`, and reads some other messages otherwise than
  upb. The view refuses a batch with invalid UTF-8 in a kept string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

import msgspec

from perflab.stream._decode import INT64_MAX, INT64_MIN, UINT64_MAX, Message
from perflab.stream._source import KafkaBatch

__all__ = ["RAW_PATHS", "ddl", "dead_ddl", "dead_table", "frame_raw", "raw_format"]

EVENT_COLUMNS = """
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64,
    id String,
    timestamp_ms Int64,
    ts DateTime64(3) MATERIALIZED fromUnixTimestamp64Milli(timestamp_ms),
    user_id UInt64,
    event_type LowCardinality(String),
    amount Float64,
    amount_cents Int64,
    country LowCardinality(String),
    page String,
    metadata Map(String, String)
"""

# The integers are read wider than their columns and narrowed with accurateCast, which
# throws on overflow: ClickHouse's JSON reader would wrap an overflowing integer silently.
RAW_MESSAGE = ("Tuple(id String, timestamp Int128, data Tuple(user_id UInt256, "
               "event_type String, amount Float64, country String, page String), "
               "metadata Map(String, String))")

# ClickHouse's JSON reader is lenient by default; these make it refuse what the
# Python decoders refuse (a missing key, a null, an object or number where a string
# belongs). A quoted number where a number belongs it reads as the number, whatever the
# settings: the framing's check (_Numbers) leaves such a message to Python.
RAW_SETTINGS = {
    "input_format_null_as_default": 0,
    "input_format_json_defaults_for_missing_elements_in_named_tuple": 0,
    "input_format_json_ignore_unknown_keys_in_named_tuple": 1,
    "input_format_json_read_numbers_as_strings": 0,
    "input_format_json_read_bools_as_strings": 0,
    "input_format_json_read_bools_as_numbers": 0,
    "input_format_json_read_objects_as_strings": 0,
    "input_format_json_read_arrays_as_strings": 0,
    "input_format_allow_errors_num": 0,
}


# The events' schema as perflab.stream._protobuf builds it for Python, and the envelope
# (given to ClickHouse by the client: ClickHouse.schema_settings).
PROTOBUF_SCHEMA = (
    'syntax = "proto2"; package perflab; '
    "message EventData { required uint64 user_id = 1; required string event_type = 2; "
    "required double amount = 3; required string country = 4; required string page = 5; "
    "map<string, string> extra = 6; } "
    "message Event { required string id = 1; required int64 timestamp = 2; "
    "required EventData data = 3; map<string, string> metadata = 4; } "
    "message Envelope { required string topic = 1; required fixed32 partition = 2; "
    "required fixed64 offset = 3; required Event m = 4; }")
PROTOBUF_MESSAGE = ("Tuple(id String, timestamp Int64, data Tuple(user_id UInt64, "
                    "event_type String, amount Float64, country String, page String), "
                    "metadata Map(String, String))")
# upb does not check proto2 strings on parse (the Python decoder does), so the view must
# refuse invalid UTF-8 in the strings a row keeps
_TEXTS = ("m.id", "m.data.event_type", "m.data.country", "m.data.page")
PROTOBUF_REFUSED = " OR ".join(
    [f"NOT isValidUTF8({name})" for name in _TEXTS]
    + [f"NOT arrayAll(s -> isValidUTF8(s), {part}(m.metadata))"
       for part in ("mapKeys", "mapValues")])


def dead_table(table: str) -> str:
    return f"{table}_dead"


@dataclass(frozen=True)
class RawPath:
    """How messages of one wire format reach ClickHouse's own parser."""

    format: str  # ClickHouse's input format
    suffix: str  # of the Null table the view reads, after the events table's name
    settings: Mapping[str, int | str]
    frame: Callable[[str, Sequence[Message]], bytes | None]  # None: Python must decode
    schema: tuple[str, str] | None = None  # (.proto text, root message) for the format

    def table(self, events: str) -> str:
        return events + self.suffix


def raw_format(decoder: str) -> str:
    """The key of RAW_PATHS for a decoder: what the messages are on the wire."""
    return "protobuf" if decoder == "protobuf" else "json"


def _quote(name: str) -> str:
    from perflab.services.clickhouse import quote_table

    return quote_table(name)


DEAD_KEY = "ENGINE = ReplacingMergeTree ORDER BY (topic, partition, offset)"


def dead_ddl(table: str) -> str:
    """The dead letters of `table`: where each came from, why, its first 2 KB, and when."""
    return (f"CREATE TABLE IF NOT EXISTS {_quote(dead_table(table))} "
            "(topic LowCardinality(String), partition UInt32, offset UInt64, reason String, "
            f"raw String, received_at DateTime64(3) DEFAULT now64(3)) {DEAD_KEY}")


def ddl(table: str) -> list[str]:
    """CREATE statements for `table`, its dead letters and its raw paths (idempotent)."""
    events = _quote(table)
    key = "ENGINE = ReplacingMergeTree ORDER BY (topic, partition, offset)"
    return [
        f"CREATE TABLE IF NOT EXISTS {events} ({EVENT_COLUMNS}) {key}",
        dead_ddl(table),
        *_raw_path(events, _quote(RAW_PATHS["json"].table(table)), _quote(f"{table}_raw_mv"),
                   RAW_MESSAGE, "accurateCast(m.timestamp, 'Int64')",
                   "accurateCast(m.data.user_id, 'UInt64')"),
        # throwIf refuses the whole batch: Python then decodes it and names each bad message
        *_raw_path(events, _quote(RAW_PATHS["protobuf"].table(table)),
                   _quote(f"{table}_raw_pb_mv"), PROTOBUF_MESSAGE, "m.timestamp",
                   "m.data.user_id", f" WHERE throwIf({PROTOBUF_REFUSED}, "
                   "'a message the Python decoder must judge') = 0"),
    ]


def _raw_path(events: str, raw: str, view: str, message: str, timestamp: str, user_id: str,
              where: str = "") -> list[str]:
    """A raw path's Null table, and the view that fills `events` from it."""
    return [
        f"CREATE TABLE IF NOT EXISTS {raw} (topic String, partition UInt32, offset UInt64, "
        f"m {message}) ENGINE = Null",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {events} AS SELECT topic, "
        f"partition, offset, m.id AS id, {timestamp} AS timestamp_ms, {user_id} AS user_id, "
        "m.data.event_type AS event_type, m.data.amount AS amount, "
        "toInt64(m.data.amount * 100) AS amount_cents, m.data.country AS country, "
        f"m.data.page AS page, m.metadata AS metadata FROM {raw}{where}",
    ]


class _NumbersData(msgspec.Struct, gc=False):
    user_id: Annotated[int, msgspec.Meta(ge=0)]  # <= UINT64_MAX: checked after (int64 bounds)
    amount: float


class _Numbers(msgspec.Struct, gc=False):
    """What the framing checks of a message: the numbers are JSON numbers, not strings.

    Decoding into it also checks that the message is exactly one JSON value (no
    trailing bytes that could close the wrapper and forge a row); the other keys are
    skipped in C, their types left to ClickHouse's strict reader."""

    # ClickHouse reads the integers wide (Int128, UInt256) and narrows them with accurateCast,
    # but a number past the wide type wraps as it is read: the bounds keep such to Python.
    timestamp: Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
    data: _NumbersData


_check_message = msgspec.json.Decoder(_Numbers).decode


def frame_raw(topic: str, batch: Sequence[Message]) -> bytes | None:
    """The batch as wrapper lines for the raw table, or None if a message needs Python.

    Each line is three pieces (the head with partition and offset, the message, the
    closing brace) joined once: the message's bytes are copied once, into the body. A
    KafkaBatch is read as librdkafka's messages, with no tuple a message
    (benchmarks/stream_framing.py)."""
    head = b'{"topic":%b,"partition":%%d,"offset":%%d,"m":' % (
        msgspec.json.encode(topic).replace(b"%", b"%%"))
    if isinstance(batch, KafkaBatch):
        return _frame_kafka(head, batch)
    pieces: list[bytes] = []
    extend = pieces.extend
    for partition, offset, value, _ in batch:
        if value is None or not _frameable(value):
            return None
        extend((head % (partition, offset), value, b"}\n"))
    return b"".join(pieces)


def _frameable(value: bytes) -> bool:
    """One JSON value with JSON numbers (_Numbers), valid UTF-8 (msgspec passes invalid
    UTF-8 inside strings)."""
    try:
        if _check_message(value).data.user_id > UINT64_MAX:
            return False
        if not value.isascii():
            value.decode()
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    return True


def _frame_kafka(head: bytes, batch: KafkaBatch) -> bytes | None:
    pieces: list[bytes] = []
    extend = pieces.extend
    last: dict[int, int] = {}
    check = _check_message
    for m in batch.messages:
        value = m.value()
        if value is None:
            return None
        try:  # _frameable, inlined: this loop is the raw path's Python cost a message
            if check(value).data.user_id > UINT64_MAX:
                return None
            if not value.isascii():
                value.decode()
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        partition, offset = m.partition(), m.offset()
        extend((head % (partition, offset), value, b"}\n"))
        last[partition] = offset
    batch.last = last  # the offsets to store once the batch is in (KafkaSource.ack)
    return b"".join(pieces)


def _frame_protobuf(topic: str, batch: Sequence[Message]) -> bytes | None:
    from perflab.stream._protobuf import frame_envelopes  # protobuf loads only when asked

    return frame_envelopes(topic, batch)


RAW_PATHS = {
    "json": RawPath("JSONEachRow", "_raw", RAW_SETTINGS, frame_raw),
    "protobuf": RawPath("Protobuf", "_raw_pb", {}, _frame_protobuf,
                        (PROTOBUF_SCHEMA, "Envelope")),
}
