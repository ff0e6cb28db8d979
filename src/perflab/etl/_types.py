"""Pure core: the target table's columns, and validating CSV fields against them.

Types come from the PostgreSQL catalog (`format_type`), so the loader checks
every field the way the server would, before sending: a bad row is rejected
with its line and reason instead of failing a whole COPY. Fields stay strings:
the server converts text input itself, so validation only has to prove it will
accept it (building Python ints and dates per field would cost for nothing).

A check refuses only what the server certainly refuses. Where the server's input
syntax is wider than a check can model (dates in other styles, intervals, rare
address forms), the value is passed on: if the server then refuses a chunk, the
loader isolates the row (`_loader.isolate`), so it is still rejected alone, with
the server's reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Column", "RowError", "checks_for", "validate_row", "validator_for"]


class RowError(ValueError):
    """A field or row the server would refuse; `column` is 1-based, 0 for the whole row."""

    def __init__(self, reason: str, column: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as format_type() prints it: "bigint", "character varying(80)", "numeric(8,2)"
    not_null: bool = False
    quoted: str = ""  # the name as an SQL identifier, quoted by psycopg
    has_default: bool = False  # DEFAULT, serial, identity or generated: may be absent
    generated: bool = False  # GENERATED ALWAYS AS (...) STORED: never in a file
    labels: tuple[str, ...] | None = None  # an enum's labels (or its array element's)


Check = Callable[[str], None]

_INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_INT = re.compile(r"[ \t]*[+-]?[0-9]+[ \t]*")
_NUMERIC = re.compile(r"[ \t]*[+-]?(?:([0-9]*)(?:\.([0-9]*))?)(?:[eE][+-]?[0-9]+)?[ \t]*")
_BOOL = frozenset({"t", "f", "true", "false", "y", "n", "yes", "no", "on", "off", "1", "0"})


def _int_check(low: int, high: int) -> Check:
    def check(value: str) -> None:
        if not _INT.fullmatch(value):
            raise ValueError(f"invalid integer {value!r}")
        if len(value) > 4 and not low <= int(value) <= high:
            raise ValueError(f"integer {value} out of range")
    return check


def _numeric_check(precision: int | None, scale: int) -> Check:
    def check(value: str) -> None:
        m = _NUMERIC.fullmatch(value)
        if not m or not (m.group(1) or m.group(2)):
            raise ValueError(f"invalid number {value!r}")
        if precision is not None and "e" not in value.lower():
            whole = (m.group(1) or "").lstrip("0")
            if len(whole) > precision - scale:
                raise ValueError(f"number {value} too large for numeric({precision},{scale})")
    return check


def _float_check(value: str) -> None:
    try:
        float(value)
    except ValueError:
        raise ValueError(f"invalid number {value!r}") from None


def _length_check(limit: int, padded: bool) -> Check:
    def check(value: str) -> None:
        size = len(value.rstrip(" ") if padded else value)
        if size > limit:
            raise ValueError(f"value of {len(value)} characters too long for length {limit}")
    return check


def _bool_check(value: str) -> None:
    if value.strip().lower() not in _BOOL:
        raise ValueError(f"invalid boolean {value!r}")


_DATE_PART = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?=$|[ T\s])")
_TIME_PART = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?")
_SPECIAL_TIMES = frozenset({"infinity", "-infinity", "+infinity", "epoch", "now", "today",
                            "tomorrow", "yesterday", "allballs"})


def _time_fields_ok(text: str) -> bool:
    m = _TIME_PART.match(text)
    if not m:
        return True  # another style: the server decides
    hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
    if hour == 24:
        return minute == 0 and second == 0
    return hour < 24 and minute < 60 and second <= 60


def _date_ok(value: str) -> bool:
    """False only for an ISO date that cannot exist (2023-02-29, month 13)."""
    m = _DATE_PART.match(value)
    if not m:
        return True
    try:
        dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return int(m[1]) == 0  # year 0 is the server's to refuse with its own message
    return True


def _date_check(value: str) -> None:
    if value.strip().lower() in _SPECIAL_TIMES:
        return
    if not _date_ok(value) or not any(c.isdigit() for c in value):
        raise ValueError(f"invalid date {value!r}")


def _timestamp_check(value: str) -> None:
    text = value.strip()
    if text.lower() in _SPECIAL_TIMES:
        return
    if not any(c.isdigit() for c in text) or not _date_ok(text):
        raise ValueError(f"invalid timestamp {value!r}")
    m = _DATE_PART.match(text)
    if m and not _time_fields_ok(text[m.end():].lstrip(" T")):
        raise ValueError(f"invalid timestamp {value!r}")


def _time_check(value: str) -> None:
    text = value.strip()
    if text.lower() in _SPECIAL_TIMES:
        return
    if not any(c.isdigit() for c in text) or not _time_fields_ok(text):
        raise ValueError(f"invalid time {value!r}")


def _interval_check(value: str) -> None:
    text = value.strip().lower()
    if text in ("infinity", "-infinity", "+infinity"):
        return
    if not any(c.isdigit() for c in text):
        raise ValueError(f"invalid interval {value!r}")


_UUID = re.compile(r"\{?[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}\}?")


def _uuid_check(value: str) -> None:
    if not _UUID.fullmatch(value) or value.startswith("{") != value.endswith("}"):
        raise ValueError(f"invalid uuid {value!r}")


def _json_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json_check(binary: bool) -> Check:
    def check(value: str) -> None:
        import json

        try:
            json.loads(value, parse_constant=_json_constant)
        except ValueError as exc:
            raise ValueError(f"invalid json: {exc}") from None
        if binary and "\\u0000" in value:
            raise ValueError("invalid jsonb: \\u0000 cannot be stored in jsonb")
    return check


_ABBREVIATED_NET = re.compile(r"\d{1,3}(?:\.\d{1,3}){0,3}(?:/\d{1,2})?")


def _net_check(cidr: bool) -> Check:
    def check(value: str) -> None:
        import ipaddress

        text = value.strip()
        try:
            if cidr:
                ipaddress.ip_network(text, strict=True)
            else:
                ipaddress.ip_interface(text)
        except ValueError as exc:
            if "has host bits set" in str(exc):
                raise ValueError(f"invalid cidr {value!r}: bits set right of the mask") from None
            if _ABBREVIATED_NET.fullmatch(text) and all(
                    int(n) < 256 for n in text.split("/")[0].split(".")):
                return  # 10/8, 10.1.2: the server's abbreviated forms, its to judge
            raise ValueError(f"invalid {'cidr' if cidr else 'inet'} {value!r}") from None
    return check


_BYTEA_HEX = re.compile(r"\\x(?:\s*[0-9a-fA-F]{2})*\s*")
_BYTEA_ESCAPE = re.compile(r"(?:[^\\]|\\\\|\\[0-3][0-7]{2})*")


def _bytea_check(value: str) -> None:
    if value.startswith("\\x"):
        if not _BYTEA_HEX.fullmatch(value):
            raise ValueError(f"invalid hex bytea {value[:40]!r}")
    elif not _BYTEA_ESCAPE.fullmatch(value):
        raise ValueError(f"invalid bytea escape in {value[:40]!r}")


def _enum_check(labels: frozenset[str], type_name: str) -> Check:
    def check(value: str) -> None:
        if value not in labels:
            raise ValueError(f"invalid input value for enum {type_name}: {value!r}")
    return check


def _array_check(element: Check) -> Check:
    """PostgreSQL's array literal: `{a,"b c",NULL,{nested}}`, each element checked."""
    def check(value: str) -> None:
        text = value.strip()
        if text.startswith("["):
            return  # dimension decoration ([1:3]={...}): the server's to judge
        if not (text.startswith("{") and text.endswith("}")):
            raise ValueError(f"malformed array literal {value[:40]!r}")
        for item in _array_items(text, value):
            if item is not None:
                try:
                    element(item)
                except ValueError as exc:
                    raise ValueError(f"array element: {exc}") from None
    return check


def _array_items(text: str, value: str) -> list[str | None]:
    items: list[str | None] = []
    depth, i, size = 0, 0, len(text)
    while i < size:
        c = text[i]
        if c == "{":
            depth += 1
            i += 1
        elif c == "}":
            depth -= 1
            i += 1
            if depth < 0 or (depth == 0 and text[i:].strip()):
                raise ValueError(f"malformed array literal {value[:40]!r}")
        elif c in ", \t\n":
            i += 1
        elif c == '"':
            j, out = i + 1, []
            while j < size and text[j] != '"':
                if text[j] == "\\" and j + 1 < size:
                    j += 1
                out.append(text[j])
                j += 1
            if j >= size:
                raise ValueError(f"malformed array literal {value[:40]!r}")
            items.append("".join(out))
            i = j + 1
        else:
            j = i
            while j < size and text[j] not in ",{}":
                j += 1
            token = text[i:j].strip()
            items.append(None if token.upper() == "NULL" else token.replace("\\", ""))
            i = j
    if depth != 0:
        raise ValueError(f"malformed array literal {value[:40]!r}")
    return items


def _no_check(value: str) -> None:
    return None


_MODIFIERS = re.compile(r"\((\d+)(?:,(\d+))?\)")


def validator_for(pg_type: str, labels: tuple[str, ...] | None = None) -> Check:
    """A check for one column type, as `format_type()` names it."""
    if pg_type.endswith("[]"):
        return _array_check(validator_for(pg_type[:-2], labels))
    if labels is not None:
        return _enum_check(frozenset(labels), pg_type)
    base = _MODIFIERS.sub("", pg_type).strip()
    mods = _MODIFIERS.search(pg_type)
    if base in _INT_RANGES:
        return _int_check(*_INT_RANGES[base])
    if base == "numeric":
        precision = int(mods.group(1)) if mods else None
        scale = int(mods.group(2) or 0) if mods else 0
        return _numeric_check(precision, scale)
    if base in ("real", "double precision"):
        return _float_check
    if base in ("character varying", "character") and mods:
        return _length_check(int(mods.group(1)), padded=base == "character")
    if base == "boolean":
        return _bool_check
    if base == "date":
        return _date_check
    if base.startswith("timestamp"):
        return _timestamp_check
    if base.startswith("time"):
        return _time_check
    if base == "interval" or base.startswith("interval "):
        return _interval_check
    if base == "uuid":
        return _uuid_check
    if base in ("json", "jsonb"):
        return _json_check(base == "jsonb")
    if base in ("inet", "cidr"):
        return _net_check(base == "cidr")
    if base == "bytea":
        return _bytea_check
    return _no_check  # text, varchar without a limit, and types the server checks itself


def checks_for(columns: Sequence[Column]) -> list[Check]:
    return [validator_for(c.type, c.labels) for c in columns]


def validate_row(
    fields: Sequence[str | None], columns: Sequence[Column], checks: Sequence[Check]
) -> None:
    """Raise RowError for the first problem; None is NULL, "" an empty string."""
    if len(fields) != len(columns):
        raise RowError(f"expected {len(columns)} fields, found {len(fields)}")
    for index, (value, column, check) in enumerate(zip(fields, columns, checks, strict=True), 1):
        if value is None:
            if column.not_null:
                raise RowError(f"NULL in NOT NULL column {column.name}", index)
            continue
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                bad = next(i for i, c in enumerate(value) if "\udc80" <= c <= "\udcff")
                raise RowError(f"invalid byte 0x{ord(value[bad]) - 0xDC00:02x} in column "
                               f"{column.name} (not valid in the file's encoding)",
                               index) from None
        try:
            check(value)
        except ValueError as exc:
            raise RowError(f"{column.name}: {exc}", index) from None
