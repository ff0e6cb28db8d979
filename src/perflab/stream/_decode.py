"""Decode, validate and transform messages into ClickHouse rows: the pure core.

Three JSON decoders, one per rung of the ladder, all with the same rules and output
(and a fourth for `--format protobuf`, in `_protobuf.py`):

- `DictDecoder`: `json.loads` into dicts and checks by hand (the guide's "before");
- `PooledDecoder`: the same, filling one reused message object (the guide's
  `sync.Pool`). CPython cannot reuse the dicts `json.loads` builds, so the pool
  saves one small object per message and nothing else: it is measured, not assumed;
- `StructDecoder`: msgspec decodes straight into typed structs, validating as it
  goes, and encodes rows without building dicts; its structs are not tracked by
  the cyclic GC (`gc=False`), so they never trigger a collection.

A message is (partition, offset, value, timestamp_ms). A good one becomes a row
of `events` (see `_schema.py`); a bad one a row of `events_dead` with the reason.
The transform: five keys of `data` become columns, the rest are dropped, and
`amount_cents` is derived.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Protocol

import msgspec

__all__ = ["COMPACT", "DECODERS", "ROW_COLUMNS", "BadMessage", "Decoded", "Decoder", "Message",
           "Row", "dead_row"]

Message = tuple[int, int, bytes | None, int]  # partition, offset, value, timestamp ms
RAW_LIMIT = 2048  # bytes of a bad message kept in the dead-letter table
COMPACT = "JSONCompactEachRow"  # the format of `Row` lines
# ClickHouse's column ranges: its JSON reader wraps an integer past them silently.
UINT64_MAX = 2**64 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class BadMessage(ValueError):
    """A message that cannot become a row; its text is the dead-letter reason."""


class Decoded:
    """One batch's output: the bodies for `events` (in `rows_format`) and `events_dead`."""

    __slots__ = ("dead", "dead_count", "origins", "rows", "rows_count", "rows_format",
                 "settings")

    def __init__(self, rows: bytes, rows_count: int, dead: bytes, dead_count: int,
                 rows_format: str = "JSONEachRow") -> None:
        self.rows, self.rows_count, self.rows_format = rows, rows_count, rows_format
        self.dead, self.dead_count = dead, dead_count
        # The message of each row line, where the row itself does not say (user tables)
        self.origins: list[Message] | None = None
        self.settings: dict[str, int | str] = {}  # insert settings the rows need


class Decoder(Protocol):
    def __call__(self, topic: str, batch: Sequence[Message]) -> Decoded: ...


def dead_row(topic: str, message: Message, reason: str) -> dict[str, object]:
    partition, offset, value, _ = message
    raw = (value or b"")[:RAW_LIMIT].decode("utf-8", "backslashreplace")
    return {"topic": topic, "partition": partition, "offset": offset, "reason": reason,
            "raw": raw}


# -- stdlib dicts ---------------------------------------------------------------------------

_DATA_FIELDS = (("user_id", int), ("event_type", str), ("amount", float), ("country", str),
                ("page", str))


def _field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise BadMessage(f"missing field {where}{key}")
    value = obj[key]
    ok = (type(value) in (int, float)) if kind is float else (type(value) is kind)
    if not ok:
        raise BadMessage(f"{where}{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _parse(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise BadMessage("empty message")
    try:
        text = value.decode()
    except UnicodeDecodeError as exc:
        raise BadMessage(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise BadMessage(f"invalid JSON: {exc}") from None
    if type(obj) is not dict:
        raise BadMessage(f"not an object: {type(obj).__name__}")
    return obj


def _validated(obj: dict[str, Any]) -> tuple[str, int, dict[str, Any], dict[str, str]]:
    event_id = _field(obj, "id", str, "")
    timestamp = _field(obj, "timestamp", int, "")
    data = _field(obj, "data", dict, "")
    for key, kind in _DATA_FIELDS:
        _field(data, key, kind, "data.")
    if not 0 <= data["user_id"] <= UINT64_MAX:
        raise BadMessage("data.user_id: expected an integer in [0, 2**64)")
    if not INT64_MIN <= timestamp <= INT64_MAX:
        raise BadMessage("timestamp: expected a 64-bit integer")
    metadata = _field(obj, "metadata", dict, "")
    for key, item in metadata.items():
        if type(item) is not str:
            raise BadMessage(f"metadata.{key}: expected str, got {type(item).__name__}")
    return event_id, timestamp, data, metadata


def _row(topic: str, message: Message, event_id: str, timestamp: int, data: dict[str, Any],
         metadata: dict[str, str]) -> dict[str, object]:
    amount = data["amount"]
    return {"topic": topic, "partition": message[0], "offset": message[1], "id": event_id,
            "timestamp_ms": timestamp, "user_id": data["user_id"],
            "event_type": data["event_type"], "amount": amount,
            "amount_cents": int(amount * 100), "country": data["country"],
            "page": data["page"], "metadata": metadata}


def _lines(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


class DictDecoder:
    def __call__(self, topic: str, batch: Sequence[Message]) -> Decoded:
        rows: list[dict[str, object]] = []
        dead: list[dict[str, object]] = []
        for message in batch:
            try:
                rows.append(_row(topic, message, *_validated(_parse(message[2]))))
            except BadMessage as exc:
                dead.append(dead_row(topic, message, str(exc)))
        return Decoded(_lines(rows), len(rows), _lines(dead), len(dead))


class PooledMessage:
    """The guide's pooled `KafkaMessage`: one instance, reset and refilled per message."""

    __slots__ = ("data", "id", "metadata", "timestamp")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.id, self.timestamp = "", 0
        self.data: dict[str, Any] = {}
        self.metadata: dict[str, str] = {}

    def fill(self, obj: dict[str, Any]) -> PooledMessage:
        self.id, self.timestamp, self.data, self.metadata = _validated(obj)
        return self


class PooledDecoder:
    def __init__(self) -> None:
        self._pool = [PooledMessage()]

    def __call__(self, topic: str, batch: Sequence[Message]) -> Decoded:
        rows: list[dict[str, object]] = []
        dead: list[dict[str, object]] = []
        msg = self._pool.pop()
        try:
            for message in batch:
                msg.reset()
                try:
                    msg.fill(_parse(message[2]))
                except BadMessage as exc:
                    dead.append(dead_row(topic, message, str(exc)))
                    continue
                rows.append(_row(topic, message, msg.id, msg.timestamp, msg.data,
                                 msg.metadata))
        finally:
            self._pool.append(msg)
        return Decoded(_lines(rows), len(rows), _lines(dead), len(dead))


# -- msgspec structs ------------------------------------------------------------------------

class EventData(msgspec.Struct, gc=False):
    user_id: Annotated[int, msgspec.Meta(ge=0)]  # msgspec bounds stop at int64: see below
    event_type: str
    amount: float
    country: str
    page: str


class Event(msgspec.Struct, gc=False):
    id: str
    timestamp: Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
    data: EventData
    metadata: dict[str, str]


class Row(msgspec.Struct, gc=False, array_like=True):
    """A row of `events` as a JSON array (JSONCompactEachRow): no key names to write or
    match, a third fewer bytes, and ClickHouse takes the batch faster."""

    topic: str
    partition: int
    offset: int
    id: str
    timestamp_ms: int
    user_id: int
    event_type: str
    amount: float
    amount_cents: int
    country: str
    page: str
    metadata: dict[str, str]


ROW_COLUMNS = Row.__struct_fields__  # the column list a compact insert names


class DeadRow(msgspec.Struct, gc=False):
    topic: str
    partition: int
    offset: int
    reason: str
    raw: str


class StructDecoder:
    def __init__(self) -> None:
        self._decode = msgspec.json.Decoder(Event).decode
        self._encoder = msgspec.json.Encoder()

    def __call__(self, topic: str, batch: Sequence[Message]) -> Decoded:
        rows: list[Row] = []
        dead: list[DeadRow] = []
        decode = self._decode
        for message in batch:
            partition, offset, value, _ = message
            try:
                if value is None:
                    raise BadMessage("empty message")
                ev = decode(value)
                if not value.isascii():
                    value.decode()  # msgspec passes invalid UTF-8 inside strings through
            except (msgspec.ValidationError, BadMessage) as exc:
                dead.append(DeadRow(**dead_row(topic, message, str(exc))))  # type: ignore[arg-type]
                continue
            except msgspec.DecodeError as exc:  # (ValidationError is a subclass: caught above)
                reason = f"invalid JSON: {exc}"
                dead.append(DeadRow(**dead_row(topic, message, reason)))  # type: ignore[arg-type]
                continue
            except UnicodeDecodeError as exc:
                reason = f"invalid UTF-8 at byte {exc.start}"
                dead.append(DeadRow(**dead_row(topic, message, reason)))  # type: ignore[arg-type]
                continue
            data = ev.data
            if data.user_id > UINT64_MAX:
                reason = "data.user_id: expected an integer in [0, 2**64)"
                dead.append(DeadRow(**dead_row(topic, message, reason)))  # type: ignore[arg-type]
                continue
            rows.append(Row(topic, partition, offset, ev.id, ev.timestamp, data.user_id,
                            data.event_type, data.amount, int(data.amount * 100), data.country,
                            data.page, ev.metadata))
        encode = self._encoder.encode_lines
        return Decoded(encode(rows), len(rows), encode(dead), len(dead), COMPACT)


def _protobuf() -> Decoder:
    from perflab.stream._protobuf import ProtobufDecoder  # protobuf loads only when asked

    return ProtobufDecoder()


DECODERS: dict[str, Callable[[], Decoder]] = {
    "dicts": DictDecoder, "pooled": PooledDecoder, "structs": StructDecoder,
    "protobuf": _protobuf,
}
