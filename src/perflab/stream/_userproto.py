"""Protobuf messages of the user's own schema, decoded with upb into dicts the table maps.

The schema arrives as a FileDescriptorSet (`protoc --include_imports
--descriptor_set_out=FILE`, or `--proto FILE.proto`, compiled here with
grpcio-tools' protoc when that is installed: perflab does not depend on it).
A decoded message becomes the dict its JSON form would be, keyed by the
fields' proto names: nested messages are dicts, repeated fields lists, maps
objects (their keys as text, as JSON has them), enums their value's name.
A field with presence (proto2, proto3 `optional`, a message) that is not set
is absent, so the table's DEFAULT or NULL applies or the message is a dead
letter ("missing field x"); a proto3 scalar without presence is its zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perflab.errors import InputError, ToolUnavailable, UsageError
from perflab.stream._decode import BadMessage

__all__ = ["compile_proto", "protobuf_parser", "read_descriptor_set"]


def read_descriptor_set(path: Path) -> bytes:
    from google.protobuf import descriptor_pb2
    from google.protobuf.message import DecodeError

    try:
        data = path.read_bytes()
        descriptor_pb2.FileDescriptorSet.FromString(data)
    except OSError as exc:
        raise InputError(f"cannot read descriptor set: {exc.strerror}", path=str(path)) from exc
    except DecodeError as exc:
        raise InputError(f"not a FileDescriptorSet: {exc}", path=str(path)) from exc
    return data


def compile_proto(path: Path) -> bytes:
    """A .proto file as a FileDescriptorSet, with grpcio-tools' bundled protoc."""
    import tempfile

    try:
        from grpc_tools import protoc  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ToolUnavailable(
            "--proto needs protoc: grpcio-tools is not installed",
            hint="pip install grpcio-tools, or give --descriptor-set FILE made with "
                 "protoc --include_imports --descriptor_set_out=FILE") from None
    if not path.is_file():
        raise InputError("no such .proto file", path=str(path))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        code = protoc.main(["protoc", f"-I{path.parent}", "--include_imports",
                            f"--descriptor_set_out={out}", str(path)])
        if code != 0 or not out.exists():
            raise InputError("protoc could not compile it (its message is above)", path=str(path))
        return out.read_bytes()


def _message_class(descriptor_set: bytes, name: str) -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set)
    pool = descriptor_pool.DescriptorPool()
    try:
        for file in files.file:
            pool.Add(file)
        descriptor = pool.FindMessageTypeByName(name)
    except (KeyError, TypeError) as exc:
        known = [m.name if not f.package else f"{f.package}.{m.name}"
                 for f in files.file for m in f.message_type]
        raise UsageError(f"--message {name!r}: not in the schema",
                         hint=f"one of: {', '.join(known)}") from exc
    return message_factory.GetMessageClass(descriptor)


def _text(value: Any) -> str:
    if type(value) is bytes:
        try:
            return value.decode()
        except UnicodeDecodeError as exc:
            raise BadMessage(f"invalid UTF-8 at byte {exc.start} of a string field") from None
    return str(value)


def _as_dict(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        name = field.name
        value = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[name] = {_text(k): _value(value_field, v) for k, v in value.items()}
        elif field.is_repeated:
            out[name] = [_value(field, v) for v in value]
        elif field.has_presence and not message.HasField(name):
            continue
        else:
            out[name] = _value(field, value)
    return out


def _value(field: Any, value: Any) -> Any:
    if field.message_type is not None:
        return _as_dict(value)
    if field.enum_type is not None:
        member = field.enum_type.values_by_number.get(value)
        return member.name if member is not None else value
    if field.type == field.TYPE_STRING:
        return _text(value)
    if field.type == field.TYPE_BYTES:
        return _text(value)  # a String column holds text here: bytes must be UTF-8
    return value


def protobuf_parser(descriptor_set: bytes, name: str) -> Any:
    """message bytes -> dict, for TableDecoder; BadMessage for what upb cannot parse."""
    from google.protobuf.message import DecodeError

    cls = _message_class(descriptor_set, name)

    def parse(value: bytes) -> dict[str, Any]:
        message = cls()
        try:
            message.ParseFromString(value)
        except DecodeError as exc:
            raise BadMessage(f"invalid protobuf: {exc}") from None
        if not message.IsInitialized():
            raise BadMessage(f"missing field {', '.join(message.FindInitializationErrors())}")
        try:
            return _as_dict(message)
        except UnicodeDecodeError as exc:  # a proto2 map's invalid UTF-8 raises when read
            raise BadMessage(f"invalid UTF-8 at byte {exc.start} of a string field") from None

    return parse
