"""The target table decides: its columns, read from ClickHouse, map each message onto a row.

`Target` is what `system.columns` says of a table, with the mapping from
message keys to columns (by name, or `--map column=a.b.c`, or a TOML file of
such lines). `TableDecoder` turns a batch of messages into JSONEachRow rows
for it (and dead letters), checking each value as its column stores it
(`_types.py`). A column the message lacks takes its DEFAULT (the key is left
out of the row, and ClickHouse fills it in), or NULL when Nullable; any other
missing column makes the message a dead letter ("missing field x").
MATERIALIZED and ALIAS columns are ClickHouse's to compute and are never sent.

Where a row came from goes into the source columns (`_topic`, `_partition`,
`_offset` by default) when the table has them, so a ReplacingMergeTree keyed
by them absorbs redelivery. A table without them gets the block-level
alternative: each insert carries an `insert_deduplication_token` made of its
topic/partition/offset range, so a batch sent again is dropped by ClickHouse
(Replicated tables, or MergeTree with non_replicated_deduplication_window).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from perflab.errors import InputError, ServiceError, UsageError
from perflab.stream._decode import BadMessage, DeadRow, Decoded, Message, dead_row
from perflab.stream._types import (
    INSERT_SETTINGS,
    BadValue,
    Convert,
    UnsupportedType,
    converter,
    is_nullable,
)

if TYPE_CHECKING:
    from perflab.services.clickhouse import ClickHouse

__all__ = ["SOURCE_COLUMNS", "Column", "TableDecoder", "TableSpec", "Target", "parse_mapping",
           "read_mapping", "split_table"]

SOURCE_COLUMNS = ("_topic", "_partition", "_offset")
Parse = Callable[[bytes], Any]  # message bytes -> decoded object (dict); raises BadMessage
_MISSING = object()


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    default_kind: str  # "" | DEFAULT | MATERIALIZED | ALIAS | EPHEMERAL
    path: tuple[str, ...]  # the keys that lead to its value in a message
    convert: Convert
    nullable: bool

    @property
    def optional(self) -> bool:
        return self.default_kind == "DEFAULT" or self.nullable


@dataclass(frozen=True)
class Target:
    """A table as the decoder sees it: the columns it fills and the source columns present."""

    table: str
    columns: tuple[Column, ...]
    source: tuple[str | None, str | None, str | None] = (None, None, None)
    strict: bool = False
    top_keys: frozenset[str] = field(default_factory=frozenset)

    @property
    def dedup_token(self) -> bool:
        """True when nothing in a row says where it came from: the insert must."""
        return self.source[2] is None


def split_table(name: str) -> tuple[str | None, str]:
    """`DB.TABLE` -> (DB, TABLE); `TABLE` -> (None, TABLE)."""
    database, dot, table = name.partition(".")
    return (database, table) if dot else (None, name)


def parse_mapping(items: Sequence[str], where: str = "--map") -> dict[str, tuple[str, ...]]:
    """`column=a.b.c` items as {column: ("a", "b", "c")}."""
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        column, sep, path = (part.strip() for part in item.partition("="))
        keys = tuple(path.split(".")) if path else ()
        if not sep or not column or not keys or not all(keys):
            raise UsageError(f"{where} {item!r}: expected COLUMN=KEY[.KEY...]")
        out[column] = keys
    return out


def read_mapping(path: Path) -> dict[str, tuple[str, ...]]:
    """A TOML file of `column = "a.b.c"` lines (optionally under a [columns] table)."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read mapping: {exc.strerror}", path=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's error has no line attributes: they are in its text, "(at line L, column C)"
        import re

        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line, column = (int(where[1]), int(where[2])) if where else (None, None)
        raise InputError(f"invalid TOML: {str(exc).split(' (at ')[0]}", path=str(path),
                         line=line, column=column) from exc
    columns = data.get("columns", data)
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise InputError('expected lines of column = "key.key"', path=str(path))
    return parse_mapping([f"{k}={v}" for k, v in columns.items()], where=str(path))


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class TableSpec:
    """What `perflab stream run` was told about the table, and what ClickHouse said of it.

    Plain data, so a worker process receives it and builds the same Target.
    """

    table: str
    mapping: tuple[tuple[str, tuple[str, ...]], ...] = ()
    source_columns: tuple[str, ...] = SOURCE_COLUMNS
    strict: bool = False
    columns: tuple[tuple[str, str, str], ...] = ()  # (name, type, default_kind), by position
    proto: tuple[bytes, str] | None = None  # (FileDescriptorSet, message name): protobuf input

    def described(self, sink: ClickHouse) -> TableSpec:
        """This spec with the table's columns read from system.columns (and checked)."""
        database, name = split_table(self.table)
        db = _literal(database) if database else "currentDatabase()"
        rows = sink.rows("SELECT name, type, default_kind FROM system.columns WHERE "
                         f"database = {db} AND table = {_literal(name)} ORDER BY position")
        if not rows:
            raise ServiceError(f"table {self.table} not found in ClickHouse ({sink.target})",
                               hint="create it first, or --create-table for the guide's events")
        spec = replace(self, columns=tuple((str(a), str(b), str(c)) for a, b, c in rows))
        spec.target()  # every column's type is checked now, not at the first message
        if spec.proto is not None:
            spec.parser()
        return spec

    def target(self) -> Target:
        mapping = dict(self.mapping)
        names = {column[0] for column in self.columns}
        unknown = sorted(set(mapping) - names)
        if unknown:
            raise UsageError(f"--map names columns {self.table} does not have: "
                             f"{', '.join(unknown)}")
        topic_col, partition_col, offset_col = (c if c in names else None
                                                for c in self.source_columns)
        source = {c for c in (topic_col, partition_col, offset_col) if c}
        columns = []
        for column, kind, default_kind in self.columns:
            if default_kind in ("MATERIALIZED", "ALIAS") or column in source:
                continue
            try:
                convert, nullable = converter(kind), is_nullable(kind)
            except UnsupportedType as exc:
                if default_kind in ("DEFAULT", "EPHEMERAL") and column not in mapping:
                    continue  # ClickHouse fills it; no message could reach it anyway
                raise UsageError(f"column {column}: {exc}") from None
            columns.append(Column(column, kind, default_kind, mapping.get(column, (column,)),
                                  convert, nullable))
        return Target(self.table, tuple(columns), (topic_col, partition_col, offset_col),
                      self.strict, frozenset(c.path[0] for c in columns))

    def parser(self) -> Parse | None:
        """How a message's bytes become a dict: None for JSON (the decoder's default)."""
        if self.proto is None:
            return None
        from perflab.stream._userproto import protobuf_parser

        parse: Parse = protobuf_parser(*self.proto)
        return parse


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if type(obj) is not dict:
            return _MISSING
        obj = obj.get(key, _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj


def _parse_json() -> Parse:
    decode = msgspec.json.Decoder().decode

    def parse(value: bytes) -> Any:
        try:
            obj = decode(value)
            if not value.isascii():
                value.decode()  # msgspec passes invalid UTF-8 inside strings through
        except msgspec.DecodeError as exc:
            raise BadMessage(f"invalid JSON: {exc}") from None
        except UnicodeDecodeError as exc:
            raise BadMessage(f"invalid UTF-8 at byte {exc.start}") from None
        return obj

    return parse


class TableDecoder:
    """Messages -> rows of any table, by its Target; JSON unless given another `parse`."""

    def __init__(self, target: Target, parse: Parse | None = None) -> None:
        self.target = target
        self._parse = parse or _parse_json()
        self._plan = [(c.name, c.path[0], c.path[1:], c.convert, c.default_kind == "DEFAULT",
                       c.nullable) for c in target.columns]
        self._encode = msgspec.json.Encoder().encode_lines
        self._bugs: set[str] = set()  # the kinds of unexpected exception reported so far
        # JSON is read through the table's Struct first; what it does not take, row() decides.
        self._typed = None
        if parse is None:
            from perflab.stream._typed import typed_reader

            self._typed = typed_reader(target)

    def _report_bug(self, exc: Exception) -> None:
        """Say loudly, once per kind of exception, that a check failed as no bad value
        should make it fail: the dead letters' reasons then say which messages it cost."""
        kind = type(exc).__name__
        if kind in self._bugs:
            return
        self._bugs.add(kind)
        import sys
        import traceback

        print(f"perflab stream: a column's check failed unexpectedly ({kind}: {exc}); its "
              "messages go to the dead letters, reason 'could not check the message'. "
              "Please report it:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)

    def row(self, topic: str, message: Message) -> dict[str, Any]:
        """One message as a row, or BadMessage with the reason."""
        value = message[2]
        if value is None:
            raise BadMessage("empty message")
        obj = self._parse(value)
        if type(obj) is not dict:
            raise BadMessage(f"not an object: {type(obj).__name__}")
        target = self.target
        if target.strict:
            extra = sorted(set(obj) - target.top_keys)
            if extra:
                raise BadMessage(f"unknown field {extra[0]}")
        row: dict[str, Any] = {}
        # (name, first key, the rest of the path, convert, DEFAULT, Nullable), made once
        for name, key, rest, convert, has_default, nullable in self._plan:
            found = obj.get(key, _MISSING)
            if rest and found is not _MISSING:
                found = _dig(found, rest)
            if found is _MISSING:
                if has_default:
                    continue
                if nullable:
                    row[name] = None
                    continue
                raise BadMessage(f"missing field {'.'.join((key, *rest))}")
            try:
                row[name] = convert(found)
            except BadValue as exc:
                raise BadMessage(f"column {name}: {exc}") from None
        return self._with_source(row, topic, message)

    def _with_source(self, row: dict[str, Any], topic: str, message: Message) -> dict[str, Any]:
        topic_col, partition_col, offset_col = self.target.source
        if topic_col:
            row[topic_col] = topic
        if partition_col:
            row[partition_col] = message[0]
        if offset_col:
            row[offset_col] = message[1]
        return row

    def __call__(self, topic: str, batch: Sequence[Message]) -> Decoded:
        rows: list[dict[str, Any]] = []
        dead: list[DeadRow] = []
        origins: list[Message] = []
        typed = self._typed
        for message in batch:
            value = message[2]
            row = typed(value) if typed is not None and value is not None else None
            if row is not None:
                rows.append(self._with_source(row, topic, message))
                origins.append(message)
                continue
            try:
                rows.append(self.row(topic, message))
            except BadMessage as exc:
                dead.append(DeadRow(**dead_row(topic, message, str(exc))))  # type: ignore[arg-type]
                continue
            except Exception as exc:  # a validator's bug: one message, not a stopped stream
                self._report_bug(exc)
                reason = f"could not check the message: {type(exc).__name__}: {exc}"
                dead.append(DeadRow(**dead_row(topic, message, reason)))  # type: ignore[arg-type]
                continue
            origins.append(message)
        settings: dict[str, int | str] = dict(INSERT_SETTINGS)
        if self.target.dedup_token and origins:
            settings["insert_deduplication_token"] = dedup_token(topic, origins)
        out = Decoded(self._encode(rows), len(rows), self._encode(dead), len(dead))
        out.origins, out.settings = origins, settings
        return out


def dedup_token(topic: str, messages: Sequence[Message]) -> str:
    """The topic/partition/offset range of a batch: the same batch, the same token."""
    ranges: dict[int, list[int]] = {}
    for partition, offset, _, _ in messages:
        span = ranges.setdefault(partition, [offset, offset])
        span[0], span[1] = min(span[0], offset), max(span[1], offset)
    parts = ",".join(f"{p}:{lo}-{hi}" for p, (lo, hi) in sorted(ranges.items()))
    return f"{topic}/{parts}/{len(messages)}"
