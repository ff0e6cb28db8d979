"""A table's columns as one msgspec Struct: the fast path of `TableDecoder` for JSON.

Decoding into builtins (`_table._parse_json`) makes a dict of every key of
every message, the many the table never reads included, and then a Python
validator runs for each column. Here the message is decoded straight into a
Struct built at start-up from the target's columns (nested Structs for
`--map a.b.c` paths): msgspec skips the keys no column reads, and checks in C
the types it can check exactly as the column's validator would (Int8..Int64 and
UInt8..UInt32 with their range, finite floats, strings, booleans, Nullable, Array,
Map(String, String)). Any other column is decoded as builtins and given to its
validator, as the dict path does.

It only ever accepts: any message it does not read cleanly (a type msgspec
refuses, a missing field, a validator's BadValue, invalid UTF-8) goes to the
dict path, which decides what the row is and words the reason. So a row
from here is the row the dict path makes of the same message
(tests/unit/test_stream_typed.py checks that on odd values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from perflab.stream._types import FLOAT32_MAX, TypeNode, parse_type

if TYPE_CHECKING:
    from perflab.stream._table import Target

__all__ = ["typed_reader"]

# A message as a row, or None when the dict path must decide.
Reader = Callable[[bytes], "dict[str, Any] | None"]

# UInt64's top does not fit msgspec's int64 bounds: its validator checks it.
_INT_BITS = {f"{prefix}Int{bits}": (bits, prefix == "") for prefix in ("", "U")
             for bits in (8, 16, 32, 64) if prefix == "" or bits < 64}
_FLOAT_MAX = {"Float32": FLOAT32_MAX, "Float64": 1.7976931348623157e308}


def _strip(node: TypeNode) -> TypeNode:
    while node.name == "LowCardinality":
        node = node.args[0]
    return node


def _exact(node: TypeNode) -> Any:
    """The msgspec type that reads a value exactly as the column's validator does (same
    value, and no value the validator refuses), or None when there is none."""
    node = _strip(node)
    name, args = node.name, node.args
    if name in _INT_BITS:
        bits, signed = _INT_BITS[name]
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        return Annotated[int, msgspec.Meta(ge=low, le=high)]
    if name in _FLOAT_MAX:  # finite only: the validator's handling of inf is its own
        return Annotated[float, msgspec.Meta(ge=-_FLOAT_MAX[name], le=_FLOAT_MAX[name])]
    if name == "String":
        return str
    if name == "Bool":
        return bool
    if name == "Nullable" and len(args) == 1 and isinstance(args[0], TypeNode):
        inner = _exact(args[0])
        return None if inner is None else inner | None
    if name == "Array" and len(args) == 1 and isinstance(args[0], TypeNode):
        inner = _exact(args[0])
        return None if inner is None else list[inner]  # type: ignore[valid-type]
    if name == "Map" and len(args) == 2 and all(
            isinstance(a, TypeNode) and _strip(a).name == "String" for a in args):
        return dict[str, str]
    return None


class _Node:
    """One object of the message: its keys that lead to columns (a value, or an object)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}  # key -> msgspec type (Any: the validator decides)
        self.objects: dict[str, _Node] = {}

    def struct(self, name: str, strict: bool) -> type[msgspec.Struct]:
        fields: list[tuple[str, Any, Any]] = []
        rename = {}
        nested = [(key, node.struct(f"{name}_{n}", False))
                  for n, (key, node) in enumerate(self.objects.items())]
        for i, (key, kind) in enumerate([*self.values.items(), *nested]):
            fields.append((f"f{i}", kind | msgspec.UnsetType, msgspec.UNSET))
            rename[f"f{i}"] = key
        return msgspec.defstruct(name, fields, rename=rename, forbid_unknown_fields=strict)

    def attribute(self, path: Sequence[str]) -> str:
        """The attribute path (`f1.f0`) of a key path, once the Struct is made."""
        keys = [*self.values, *self.objects]
        first = f"f{keys.index(path[0])}"
        if len(path) == 1:
            return first
        return first + "." + self.objects[path[0]].attribute(path[1:])


def typed_reader(target: Target) -> Reader | None:
    """A reader for `target`'s JSON messages, or None when its paths cannot be one Struct
    (a key that is both a column's value and an object on another column's path)."""
    root = _Node()
    exact = {column.name: _exact(parse_type(column.type)) for column in target.columns}
    for column in target.columns:
        node = root
        *parents, last = column.path
        for key in parents:
            if key in node.values:
                return None
            node = node.objects.setdefault(key, _Node())
        if last in node.objects or last in node.values:
            return None
        node.values[last] = exact[column.name] or Any
    struct = root.struct("Message", target.strict)
    # (column, its value's getter, its validator when msgspec did not check it, DEFAULT,
    # Nullable), in the table's order
    plan = [(column.name, attrgetter(root.attribute(column.path)),
             None if exact[column.name] else column.convert,
             column.default_kind == "DEFAULT", column.nullable) for column in target.columns]
    decode = msgspec.json.Decoder(struct).decode
    unset = msgspec.UNSET

    def read(value: bytes) -> dict[str, Any] | None:
        try:
            message = decode(value)
            if not value.isascii():
                value.decode()  # msgspec passes invalid UTF-8 inside strings through
            row: dict[str, Any] = {}
            for name, get, convert, has_default, nullable in plan:
                try:
                    found = get(message)
                except AttributeError:  # an object on its path is missing
                    found = unset
                if found is unset:
                    if has_default:
                        continue
                    if not nullable:
                        return None
                    found = None
                elif convert is not None:
                    found = convert(found)
                row[name] = found
            return row
        except Exception:  # any doubt: the dict path decides, and words the reason
            return None

    return read
