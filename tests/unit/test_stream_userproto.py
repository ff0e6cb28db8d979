"""Protobuf of the user's schema as the dicts the table maps (pure: upb, no broker)."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from perflab.errors import InputError, UsageError
from perflab.stream._decode import BadMessage
from perflab.stream._userproto import protobuf_parser, read_descriptor_set

F = descriptor_pb2.FieldDescriptorProto


def schema(syntax: str) -> tuple[bytes, object]:
    proto = descriptor_pb2.FileDescriptorProto(name=f"{syntax}.proto", package="t", syntax=syntax)
    kind = proto.enum_type.add(name="Kind")
    kind.value.add(name="KIND_A", number=0)
    kind.value.add(name="KIND_B", number=1)
    msg = proto.message_type.add(name="M")
    entry = msg.nested_type.add(name="AttrsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_UINT32, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    label = F.LABEL_REQUIRED if syntax == "proto2" else F.LABEL_OPTIONAL
    msg.field.add(name="id", number=1, type=F.TYPE_UINT64, label=label)
    msg.field.add(name="kind", number=2, type=F.TYPE_ENUM, label=F.LABEL_OPTIONAL,
                  type_name=".t.Kind")
    msg.field.add(name="attrs", number=3, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                  type_name=".t.M.AttrsEntry")
    msg.field.add(name="blob", number=4, type=F.TYPE_BYTES, label=F.LABEL_OPTIONAL)
    msg.field.add(name="child", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                  type_name=".t.M")
    msg.field.add(name="nums", number=6, type=F.TYPE_SINT32, label=F.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("t.M"))
    return descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString(), cls


def test_a_message_becomes_the_dict_its_json_would_be():
    data, cls = schema("proto3")
    parse = protobuf_parser(data, "t.M")
    msg = cls(id=7, kind=1, attrs={4: "x"}, blob=b"ok", nums=[-1, 2])
    msg.child.id = 8
    assert parse(msg.SerializeToString()) == {
        "id": 7, "kind": "KIND_B", "attrs": {"4": "x"}, "blob": "ok", "nums": [-1, 2],
        "child": {"id": 8, "kind": "KIND_A", "attrs": {}, "blob": "", "nums": []}}
    # proto3 scalars without presence are their zero; an unset message is absent
    assert "child" not in parse(cls(id=1).SerializeToString())


def test_proto2_presence_and_bad_bytes():
    data, cls = schema("proto2")
    parse = protobuf_parser(data, "t.M")
    assert parse(cls(id=1).SerializeToString()) == {"id": 1, "attrs": {}, "nums": []}
    with pytest.raises(BadMessage, match="missing field id"):
        parse(cls(kind=1).SerializePartialToString())
    with pytest.raises(BadMessage, match="invalid protobuf"):
        parse(b"\xff\xff\xff")
    with pytest.raises(BadMessage, match="invalid UTF-8"):
        parse(cls(id=1, blob=b"\xff").SerializeToString())


def test_schema_errors_are_said_before_any_message(tmp_path):
    data, _ = schema("proto3")
    with pytest.raises(UsageError) as caught:
        protobuf_parser(data, "t.Nope")
    assert caught.value.hint == "one of: t.M"
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\xff\xff")
    with pytest.raises(InputError, match="not a FileDescriptorSet"):
        read_descriptor_set(bad)
    with pytest.raises(InputError, match="cannot read"):
        read_descriptor_set(tmp_path / "missing.pb")
