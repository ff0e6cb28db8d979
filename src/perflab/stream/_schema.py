"""The ClickHouse side: tables, and the raw path where ClickHouse parses the messages.

Re-delivered messages are harmless: every table is a ReplacingMergeTree keyed
by (topic, partition, offset), so a message inserted twice is one row after a
merge, and `SELECT count() FROM events FINAL` counts each message once.

The raw path (the ladder's last step) sends each message's bytes untouched,
wrapped as `{"topic":..,"partition":..,"offset":..,"m":<message>}` lines into
a Null table; a materialized view turns them into `events` rows inside
ClickHouse, with ClickHouse's own JSON parser (strict settings below). Before
wrapping, msgspec checks that each message is exactly one JSON value (no
trailing bytes that could close the wrapper and forge a row) without building
any object; a batch ClickHouse rejects is decoded again by the Python decoder,
which sends each bad message to `events_dead` with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from perflab.stream._decode import Message

__all__ = ["RAW_SETTINGS", "ddl", "dead_table", "frame_raw", "raw_table"]

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
# Python decoders refuse (a missing key, an object or number where a string belongs).
RAW_SETTINGS = {
    "input_format_json_defaults_for_missing_elements_in_named_tuple": 0,
    "input_format_json_ignore_unknown_keys_in_named_tuple": 1,
    "input_format_json_read_numbers_as_strings": 0,
    "input_format_json_read_bools_as_strings": 0,
    "input_format_json_read_bools_as_numbers": 0,
    "input_format_json_read_objects_as_strings": 0,
    "input_format_json_read_arrays_as_strings": 0,
    "input_format_allow_errors_num": 0,
}


def dead_table(table: str) -> str:
    return f"{table}_dead"


def raw_table(table: str) -> str:
    return f"{table}_raw"


def _quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def ddl(table: str) -> list[str]:
    """CREATE statements for `table`, its dead letters and its raw path (idempotent)."""
    events, dead, raw = _quote(table), _quote(dead_table(table)), _quote(raw_table(table))
    view = _quote(f"{table}_raw_mv")
    key = "ENGINE = ReplacingMergeTree ORDER BY (topic, partition, offset)"
    return [
        f"CREATE TABLE IF NOT EXISTS {events} ({EVENT_COLUMNS}) {key}",
        f"CREATE TABLE IF NOT EXISTS {dead} (topic LowCardinality(String), partition UInt32, "
        f"offset UInt64, reason String, raw String) {key}",
        f"CREATE TABLE IF NOT EXISTS {raw} (topic String, partition UInt32, offset UInt64, "
        f"m {RAW_MESSAGE}) ENGINE = Null",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {events} AS SELECT topic, "
        "partition, offset, m.id AS id, accurateCast(m.timestamp, 'Int64') AS timestamp_ms, "
        "accurateCast(m.data.user_id, 'UInt64') AS user_id, "
        "m.data.event_type AS event_type, m.data.amount AS amount, "
        "toInt64(m.data.amount * 100) AS amount_cents, m.data.country AS country, "
        f"m.data.page AS page, m.metadata AS metadata FROM {raw}",
    ]


_check_one_value = msgspec.json.Decoder(msgspec.Raw).decode


def frame_raw(topic: str, batch: Sequence[Message]) -> bytes | None:
    """The batch as wrapper lines for the raw table, or None if a message needs Python."""
    head = msgspec.json.encode(topic)
    parts: list[bytes] = []
    append = parts.append
    for partition, offset, value, _ in batch:
        if value is None:
            return None
        try:
            _check_one_value(value)
            if not value.isascii():
                value.decode()
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        append(b'{"topic":%b,"partition":%d,"offset":%d,"m":%b}\n'
               % (head, partition, offset, value))
    return b"".join(parts)
