"""The events as protobuf (`--format protobuf`): the same fields, 11% fewer bytes here.

The schema is built at import time from a descriptor (no protoc step, no
generated code to keep in step). proto2 with `required` fields, so a message
missing one fails to parse, as a JSON event missing a key is refused; the rest
of `data` (referrer, user agent, ...) travels in an `extra` map of strings.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from perflab.stream._decode import COMPACT, BadMessage, DeadRow, Decoded, Message, Row, dead_row

__all__ = ["Event", "EventData", "ProtobufDecoder", "bad_event", "encode_event", "frame_envelopes",
           "varint"]

_F = descriptor_pb2.FieldDescriptorProto
_KNOWN = ("user_id", "event_type", "amount", "country", "page")


def _field(msg: Any, name: str, number: int, kind: int, *, label: int = _F.LABEL_REQUIRED,
           type_name: str = "") -> None:
    field = msg.field.add(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name


def _string_map(parent: Any, name: str, number: int, scope: str) -> None:
    entry = parent.nested_type.add(name=f"{name.title()}Entry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    _field(entry, "value", 2, _F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    _field(parent, name, number, _F.TYPE_MESSAGE, label=_F.LABEL_REPEATED,
           type_name=f".perflab.{scope}.{entry.name}")


def _build() -> Any:
    proto = descriptor_pb2.FileDescriptorProto(name="perflab/stream/event.proto",
                                               package="perflab", syntax="proto2")
    data = proto.message_type.add(name="EventData")
    _field(data, "user_id", 1, _F.TYPE_UINT64)
    _field(data, "event_type", 2, _F.TYPE_STRING)
    _field(data, "amount", 3, _F.TYPE_DOUBLE)
    _field(data, "country", 4, _F.TYPE_STRING)
    _field(data, "page", 5, _F.TYPE_STRING)
    _string_map(data, "extra", 6, "EventData")
    event = proto.message_type.add(name="Event")
    _field(event, "id", 1, _F.TYPE_STRING)
    _field(event, "timestamp", 2, _F.TYPE_INT64)
    _field(event, "data", 3, _F.TYPE_MESSAGE, type_name=".perflab.EventData")
    _string_map(event, "metadata", 4, "Event")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(f"perflab.{name}"))
                 for name in ("Event", "EventData"))


Event, EventData = _build()


def encode_event(ev: dict[str, Any]) -> bytes:
    data = ev["data"]
    msg = Event(id=ev["id"], timestamp=ev["timestamp"], metadata=ev["metadata"])
    for key in _KNOWN:
        setattr(msg.data, key, data[key])
    msg.data.extra.update({k: str(v) for k, v in data.items() if k not in _KNOWN})
    return bytes(msg.SerializeToString())


def bad_event(ev: dict[str, Any], kind: str) -> bytes:
    """A malformed protobuf message of each of `_events.BAD_KINDS`, as JSON has them."""
    good = encode_event(ev)
    if kind == "invalid JSON":  # corrupt wire format
        return good[:-7]
    if kind == "not an object":
        return b"\xff\xff\xff\xff"
    if kind == "invalid UTF-8":
        return good.replace(b"evt-", b"evt\xff", 1)
    partial = Event(id=ev["id"], timestamp=ev["timestamp"], metadata=ev["metadata"])
    data = EventData(event_type="x", country="DE", page="/", amount=1.0)
    if kind == "mistyped field":  # amount sent as a string (wire type 2, not fixed64)
        data.user_id = 1
        data.ClearField("amount")
        body = bytes(data.SerializePartialToString()) + b"\x1a\x0512,50"
    else:  # missing field: no user_id
        body = bytes(data.SerializePartialToString())
    return bytes(partial.SerializePartialToString()) + b"\x1a" + varint(len(body)) + body


def varint(n: int) -> bytes:
    """`n` as a protobuf base-128 varint."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


_VARINTS = [varint(n) for n in range(1 << 14)]  # every number a 2-byte varint holds
# The tags, (field << 3) | wire type, of _schema.PROTOBUF_SCHEMA's Envelope
_TOPIC, _PARTITION, _OFFSET, _MESSAGE = 0x0A, 0x15, 0x19, 0x22


def frame_envelopes(topic: str, batch: Sequence[Message]) -> bytes | None:
    """The batch as length-delimited Envelopes for ClickHouse, or None if Python must decode.

    Only complete messages in canonical form go to ClickHouse: upb parses each
    one, and its re-encoded size, unknown fields dropped, must be the message's
    size (re-encoding also checks the required fields). ClickHouse ignores
    `required`, and fuzzing found messages its reader reads otherwise than upb:
    a field sent twice, a map key sent twice, corrupt bytes upb still parses
    (into other values). Each of those is longer than its canonical form, so
    it goes to the Python decoder. Invalid UTF-8, which upb
    lets through, the view in _schema.py refuses.
    """
    from google.protobuf.message import DecodeError, EncodeError

    name = topic.encode()
    head = bytes([_TOPIC]) + varint(len(name)) + name
    pack = struct.Struct(f"<{len(head)}sBIBQB").pack
    fixed = len(head) + 15  # the envelope's bytes before the message's length
    parse, varints = Event.FromString, _VARINTS
    parts: list[bytes] = []
    append = parts.append
    for partition, offset, value, _ in batch:
        if value is None:
            return None
        try:
            event = parse(value)
            event.DiscardUnknownFields()
            if event.ByteSize() != len(value):
                return None
        except (DecodeError, EncodeError):  # corrupt, or a required field missing
            return None
        size = len(value)
        length = varints[size] if size < 16384 else varint(size)
        total = fixed + len(length) + size
        append(varints[total] if total < 16384 else varint(total))
        append(pack(head, _PARTITION, partition, _OFFSET, offset, _MESSAGE))
        append(length)
        append(value)
    return b"".join(parts)


class ProtobufDecoder:
    """The structs step's work, from protobuf: upb parses, msgspec encodes the rows."""

    def __init__(self) -> None:
        import msgspec

        self._encode = msgspec.json.Encoder().encode_lines

    def __call__(self, topic: str, batch: Sequence[Message]) -> Decoded:
        from google.protobuf.message import DecodeError

        rows: list[Row] = []
        dead: list[DeadRow] = []
        for message in batch:
            partition, offset, value, _ = message
            ev = Event()
            try:
                if value is None:
                    raise BadMessage("empty message")
                ev.ParseFromString(value)
                if not ev.IsInitialized():
                    missing = ", ".join(ev.FindInitializationErrors())
                    raise BadMessage(f"missing field {missing}")
                data = ev.data
                # proto2 strings are not checked on parse: invalid UTF-8 comes back as bytes,
                # or raises when a map is read
                metadata = dict(ev.metadata)
                texts = (ev.id, data.event_type, data.country, data.page, *metadata.values())
                if any(type(text) is not str for text in texts) or any(
                        type(key) is not str for key in metadata):
                    raise BadMessage("invalid UTF-8 in a string field")
            except UnicodeDecodeError:
                reason = "invalid UTF-8 in a string field"
                dead.append(DeadRow(**dead_row(topic, message, reason)))  # type: ignore[arg-type]
                continue
            except (BadMessage, DecodeError) as exc:
                reason = str(exc) if isinstance(exc, BadMessage) else f"invalid protobuf: {exc}"
                dead.append(DeadRow(**dead_row(topic, message, reason)))  # type: ignore[arg-type]
                continue
            rows.append(Row(topic, partition, offset, ev.id, ev.timestamp, data.user_id,
                            data.event_type, data.amount, int(data.amount * 100), data.country,
                            data.page, metadata))
        return Decoded(self._encode(rows), len(rows), self._encode(dead), len(dead), COMPACT)
