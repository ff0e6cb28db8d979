"""ClickHouse column types as validators (pure): a JSON value in, the value to insert out.

`converter("Nullable(Decimal(9, 2))")` parses ClickHouse's type string (as
`system.columns` spells it) once, at start-up, into a function that takes a
value decoded from JSON (or protobuf) and returns what the JSONEachRow body
carries for that column, or raises `BadValue` with the reason. ClickHouse's own
JSON reader wraps an integer past its column's range, truncates extra decimal
places and pads or cuts nothing consistently; here every value that does not fit
its column exactly is refused, so a dead letter names it instead.

What each family takes:

- (U)Int8..256: a JSON integer, or a string of decimal digits (64-bit ids often
  travel quoted); never a bool or a float. 128/256-bit values are sent quoted.
- Float32/64: a number (a Float32 must be finite in its range); Decimal(P, S):
  a number or a decimal string with at most S decimal places and P - S integer digits.
- String: a string; FixedString(N): a string of at most N UTF-8 bytes.
- Bool: true or false. UUID: a string uuid.UUID reads, sent in canonical form.
- Date/Date32: "YYYY-MM-DD", or days since 1970-01-01.
- DateTime/DateTime64(P): an ISO 8601 string (without an offset: in the
  column's time zone, UTC if it names none), or epoch seconds as a number;
  an integer for DateTime64(P) counts its ticks (10**-P s), as ClickHouse's
  own integer literals do. Sent as ISO text in UTC (the insert sets
  date_time_input_format = 'best_effort' to read the offset).
- Enum8/16: a name, or the number of one. Nullable(T): null or T.
- Array(T): a list; Map(K, V): an object (its keys read as K); Tuple(...): a
  list, or an object for a named tuple.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["INSERT_SETTINGS", "BadValue", "Convert", "TypeNode", "UnsupportedType", "converter",
           "is_nullable", "parse_type"]

Convert = Callable[[Any], Any]
# What the bodies these converters write need from ClickHouse's reader
INSERT_SETTINGS = {"date_time_input_format": "best_effort"}


class BadValue(ValueError):
    """A value its column cannot hold exactly; the text is the reason."""


class UnsupportedType(ValueError):
    """A type string this module cannot parse or check (said at start-up)."""


@dataclass(frozen=True)
class TypeNode:
    """One parsed type: its name and arguments (types, numbers, strings, enum members)."""

    name: str
    args: tuple[Any, ...] = ()  # TypeNode | int | str | (name, TypeNode) | (name, int)

    def __str__(self) -> str:
        if not self.args:
            return self.name
        parts = []
        for arg in self.args:
            if isinstance(arg, tuple):
                parts.append(f"{arg[0]!r} = {arg[1]}" if isinstance(arg[1], int)
                             else f"{arg[0]} {arg[1]}")
            else:
                parts.append(repr(arg) if isinstance(arg, str) else str(arg))
        return f"{self.name}({', '.join(parts)})"


# -- the type grammar -----------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<num>-?\d+)|(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<name>[A-Za-z_]\w*)"
                    r"|(?P<quoted>`(?:[^`\\]|\\.)*`)|(?P<punct>[(),=]))")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise UnsupportedType(f"cannot read type {text!r} at {pos + 1}")
            kind = m.lastgroup
            assert kind is not None
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, punct: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (punct is not None and token != ("punct", punct)):
            raise UnsupportedType(f"cannot read type {self.text!r}: expected {punct or 'more'}")
        self.i += 1
        return token

    def node(self) -> TypeNode:
        kind, name = self.take()
        if kind != "name":
            raise UnsupportedType(f"cannot read type {self.text!r}: {name!r} is not a type")
        if self.peek() != ("punct", "("):
            return TypeNode(name)
        self.take("(")
        args: list[Any] = []
        while self.peek() != ("punct", ")"):
            args.append(self.arg())
            if self.peek() == ("punct", ","):
                self.take(",")
        self.take(")")
        return TypeNode(name, tuple(args))

    def arg(self) -> Any:
        kind, value = self.peek() or ("", "")
        if kind == "num":
            self.i += 1
            return int(value)
        if kind == "str":
            self.i += 1
            text = _unquote(value)
            if self.peek() == ("punct", "="):  # an enum member
                self.take("=")
                number = self.take()
                if number[0] != "num":
                    raise UnsupportedType(f"cannot read type {self.text!r}: enum value")
                return (text, int(number[1]))
            return text
        if kind in ("name", "quoted"):
            after = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
            if kind == "quoted" or (after is not None and after[0] == "name"):
                self.i += 1  # a named tuple element: `name Type`
                return (value.strip("`") if kind == "quoted" else value, self.node())
            return self.node()
        raise UnsupportedType(f"cannot read type {self.text!r}")


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", token[1:-1])


def parse_type(text: str) -> TypeNode:
    parser = _Parser(text)
    node = parser.node()
    if parser.peek() is not None:
        raise UnsupportedType(f"cannot read type {text!r}: trailing {parser.peek()[1]!r}")  # type: ignore[index]
    return node


def is_nullable(text: str) -> bool:
    node = parse_type(text)
    while node.name == "LowCardinality":
        node = node.args[0]
    return node.name == "Nullable"


# -- converters -----------------------------------------------------------------------------

def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)


def _expected(what: str, value: Any) -> BadValue:
    return BadValue(f"expected {what}, got {_kind(value)}")


_DIGITS = re.compile(r"-?\d+\Z")


def _integer(name: str, bits: int, signed: bool) -> Convert:
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    quoted = bits > 64  # beyond what every JSON reader takes as a number

    def convert(value: Any) -> Any:
        if type(value) is not int:
            if type(value) is str and _DIGITS.match(value) and len(value) < 100:
                value = int(value)
            else:
                raise _expected(f"an integer for {name}", value)
        if not low <= value <= high:
            raise BadValue(f"{value} is out of range for {name} [{low}, {high}]")
        return str(value) if quoted else value

    return convert


FLOAT32_MAX = 3.4028234663852886e38


def _float(name: str) -> Convert:
    limit = FLOAT32_MAX if name == "Float32" else math.inf

    def convert(value: Any) -> Any:
        if type(value) is int:
            try:
                value = float(value)
            except OverflowError:  # JSON integers have no bound: 10**400
                raise BadValue(f"{str(value)[:40]}... is out of range for {name}") from None
        elif type(value) is not float:
            raise _expected(f"a number for {name}", value)
        if math.isfinite(value) and abs(value) > limit:
            raise BadValue(f"{value} is out of range for {name}")
        return value

    return convert


def _decimal(precision: int, scale: int) -> Convert:
    if not 1 <= precision <= 76 or not 0 <= scale <= precision:
        raise UnsupportedType(f"Decimal({precision}, {scale}): precision or scale out of range")
    name = f"Decimal({precision}, {scale})"
    quantum = decimal.Decimal(1).scaleb(-scale)
    limit = decimal.Decimal(10) ** (precision - scale)
    context = decimal.Context(prec=200)

    def convert(value: Any) -> Any:
        if type(value) in (int, str):
            text = str(value)
        elif type(value) is float:
            text = repr(value)  # the shortest text that reads back as this float
        else:
            raise _expected(f"a number or a decimal string for {name}", value)
        try:
            number = context.create_decimal(text.strip()) if len(text) < 200 else None
        except decimal.InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise BadValue(f"{text[:40]!r} is not a decimal number")
        if number and number.adjusted() >= precision - scale:  # before quantize: 1e308
            raise BadValue(f"{text} is out of range for {name}")  # has too many digits for it
        exact = number.quantize(quantum, context=context)
        if exact != number:
            raise BadValue(f"{text} has more than {scale} decimal places for {name}")
        if exact.copy_abs() >= limit:  # copy_abs: abs() would round to 28 digits
            raise BadValue(f"{text} is out of range for {name}")
        return f"{exact:f}"

    return convert


def _string(value: Any) -> Any:
    if type(value) is not str:
        raise _expected("a string", value)
    return value


def _fixed_string(size: int) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not str:
            raise _expected(f"a string for FixedString({size})", value)
        if len(value) > size or (not value.isascii() and len(value.encode()) > size):
            raise BadValue(f"{len(value.encode())} bytes do not fit FixedString({size})")
        return value

    return convert


def _bool(value: Any) -> Any:
    if type(value) is not bool:
        raise _expected("true or false", value)
    return value


def _uuid(value: Any) -> Any:
    if type(value) is not str:
        raise _expected("a UUID string", value)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadValue(f"{value[:40]!r} is not a UUID") from None


EPOCH = datetime.date(1970, 1, 1)
DATE_RANGES = {"Date": (EPOCH, datetime.date(2149, 6, 6)),
               "Date32": (datetime.date(1900, 1, 1), datetime.date(2299, 12, 31))}


def _date(name: str) -> Convert:
    low, high = DATE_RANGES[name]

    def convert(value: Any) -> Any:
        if type(value) is int:
            try:
                day = EPOCH + datetime.timedelta(days=value)
            except OverflowError:
                raise BadValue(f"{value} days is out of range for {name}") from None
        elif type(value) is str:
            try:
                if len(value) != 10:
                    raise ValueError(value)
                day = datetime.date.fromisoformat(value)
            except ValueError:
                raise BadValue(f"{value[:40]!r} is not a date (YYYY-MM-DD)") from None
        else:
            raise _expected(f"a date string or a day number for {name}", value)
        if not low <= day <= high:
            raise BadValue(f"{day} is out of range for {name} [{low}, {high}]")
        return day.isoformat()

    return convert


_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?)?"
                  r"\s*(Z|[+-]\d\d(?::?\d\d)?)?\Z")
MIN_S = -2_208_988_800  # 1900-01-01T00:00:00Z: DateTime64's first second
MAX_S = 10_413_791_999  # 2299-12-31T23:59:59Z: its last
INT64_MAX = (1 << 63) - 1
_UTC = datetime.UTC


def _zone(name: str | None) -> datetime.tzinfo:
    if name is None:
        return _UTC
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UnsupportedType(f"unknown time zone {name!r}") from None


def _ticks_of_text(text: str, precision: int, zone: datetime.tzinfo) -> int:
    """An ISO 8601 string as ticks (10**-precision s) since the epoch, exactly."""
    m = _ISO.match(text.strip()) if len(text) < 64 else None
    if m is None:
        raise BadValue(f"{text[:40]!r} is not an ISO 8601 date and time")
    year, month, day, hour, minute, second = (int(g or 0) for g in m.groups()[:6])
    fraction, offset = m.group(7) or "", m.group(8)
    if len(fraction.rstrip("0")) > precision:
        raise BadValue(f"{text!r} has more than {precision} fractional digits")
    try:
        naive = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise BadValue(f"{text!r}: {exc}") from None
    if offset is None:  # the column's zone says what the wall clock meant
        shift = naive.replace(tzinfo=zone).utcoffset() or datetime.timedelta()
    elif offset == "Z":
        shift = datetime.timedelta()
    else:
        digits = offset[1:].replace(":", "")
        shift = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        shift = -shift if offset[0] == "-" else shift
    seconds: int = (naive - shift - datetime.datetime(1970, 1, 1)) // datetime.timedelta(seconds=1)
    ticks = seconds * int(10**precision)
    if precision:
        ticks += int(fraction.ljust(9, "0")[:precision]) if fraction else 0
    return ticks


def _iso_utc(ticks: int, precision: int) -> str:
    seconds, part = divmod(ticks, 10**precision)
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.year < 1000:
        text = text.zfill(19)
    return f"{text}.{part:0{precision}d}Z" if precision else f"{text}Z"


def _datetime(name: str, precision: int, zone_name: str | None) -> Convert:
    zone = _zone(zone_name)
    if precision == -1:  # DateTime: whole seconds in UInt32
        scale, low, high = 1, 0, (1 << 32) - 1
        precision = 0
    else:
        if not 0 <= precision <= 9:
            raise UnsupportedType(f"{name}: precision out of range")
        scale = 10**precision
        low, high = MIN_S * scale, min((MAX_S + 1) * scale - 1, INT64_MAX)
    label = name

    def convert(value: Any) -> Any:
        if type(value) is str:
            ticks = _ticks_of_text(value, precision, zone)
        elif type(value) is int:
            ticks = value if label.startswith("DateTime64") else value * scale
        elif type(value) is float:
            if not math.isfinite(value):
                raise BadValue(f"{value} is not a time")
            exact = decimal.Decimal(repr(value)) * scale
            if exact != exact.to_integral_value():
                raise BadValue(f"{value} has more than {precision} fractional digits of a second")
            ticks = int(exact)
        else:
            raise _expected(f"an ISO 8601 string or epoch seconds for {label}", value)
        if not low <= ticks <= high:
            raise BadValue(f"{value!r} is out of range for {label}")
        return _iso_utc(ticks, precision)

    return convert


def _enum(name: str, members: tuple[Any, ...]) -> Convert:
    by_name = {member[0]: member[0] for member in members}
    by_number = {member[1]: member[0] for member in members}

    def convert(value: Any) -> Any:
        if type(value) is str and value in by_name:
            return value
        if type(value) is int and value in by_number:
            return by_number[value]
        if type(value) in (str, int):
            raise BadValue(f"{value!r} is not a member of {name}")
        raise _expected(f"an enum name or number for {name}", value)

    return convert


def _nullable(inner: Convert) -> Convert:
    def convert(value: Any) -> Any:
        return None if value is None else inner(value)

    return convert


def _array(inner: Convert) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not list:
            raise _expected("an array", value)
        out = []
        for i, item in enumerate(value):
            try:
                out.append(inner(item))
            except BadValue as exc:
                raise BadValue(f"[{i}]: {exc}") from None
        return out

    return convert


def _map(key: Convert, inner: Convert) -> Convert:
    texts = key is _string and inner is _string  # Map(String, String): check, do not copy

    def convert(value: Any) -> Any:
        if type(value) is not dict:
            raise _expected("an object", value)
        if texts and all(type(v) is str for v in value.values()):
            return value  # JSON object keys are strings already
        out = {}
        for k, v in value.items():
            try:
                name = str(key(k))
                out[name] = inner(v)
            except BadValue as exc:
                raise BadValue(f"[{k!r}]: {exc}") from None
        return out

    return convert


def _tuple(elements: list[tuple[str | None, Convert, bool]]) -> Convert:
    named = all(name is not None for name, _, _ in elements)

    def convert(value: Any) -> Any:
        if type(value) is dict and named:
            items = []
            for name, _, nullable in elements:
                if name not in value and not nullable:
                    raise BadValue(f"missing element {name}")
                items.append(value.get(name))
        elif type(value) is list:
            if len(value) != len(elements):
                raise BadValue(f"expected {len(elements)} elements, got {len(value)}")
            items = value
        else:
            raise _expected("an object or an array" if named else "an array", value)
        out = []
        for i, ((name, inner, _), item) in enumerate(zip(elements, items, strict=True)):
            try:
                out.append(inner(item))
            except BadValue as exc:
                raise BadValue(f"{'.' + name if name else f'[{i}]'}: {exc}") from None
        if named:
            return {name: item for (name, _, _), item in zip(elements, out, strict=True)}
        return out

    return convert


_INTS = {f"{prefix}Int{bits}": (bits, prefix == "") for prefix in ("", "U")
         for bits in (8, 16, 32, 64, 128, 256)}
_DECIMAL_BITS = {"Decimal32": 9, "Decimal64": 18, "Decimal128": 38, "Decimal256": 76}


def _map_key(node: TypeNode) -> Convert:
    """JSON object keys are strings: an integer key type reads them as numbers."""
    inner = _build(node)
    if _strip(node).name in _INTS:
        def convert(key: Any) -> Any:
            if type(key) is str and _DIGITS.match(key):
                return inner(int(key))
            raise BadValue(f"key {key!r} is not an integer")

        return convert
    return inner


def _strip(node: TypeNode) -> TypeNode:
    while node.name == "LowCardinality":
        node = node.args[0]
    return node


def _build(node: TypeNode) -> Convert:
    name, args = node.name, node.args
    if name in _INTS:
        return _integer(name, *_INTS[name])
    if name in ("Float32", "Float64"):
        return _float(name)
    if name == "Decimal" and len(args) in (1, 2) and all(isinstance(a, int) for a in args):
        return _decimal(args[0], args[1] if len(args) == 2 else 0)
    if name in _DECIMAL_BITS and len(args) == 1 and isinstance(args[0], int):
        return _decimal(_DECIMAL_BITS[name], args[0])
    if name == "String":
        return _string
    if name == "FixedString" and len(args) == 1 and isinstance(args[0], int):
        return _fixed_string(args[0])
    if name == "Bool":
        return _bool
    if name == "UUID":
        return _uuid
    if name in DATE_RANGES:
        return _date(name)
    if name == "DateTime" and len(args) <= 1:
        return _datetime(str(node), -1, args[0] if args else None)
    if name == "DateTime64" and 1 <= len(args) <= 2 and isinstance(args[0], int):
        return _datetime(str(node), args[0], args[1] if len(args) == 2 else None)
    if name in ("Enum8", "Enum16", "Enum") and args and all(
            isinstance(a, tuple) and isinstance(a[1], int) for a in args):
        return _enum(str(node), args)
    if name in ("LowCardinality", "Nullable") and len(args) == 1 and isinstance(args[0],
                                                                               TypeNode):
        inner = _build(args[0])
        return _nullable(inner) if name == "Nullable" else inner
    if name == "Array" and len(args) == 1 and isinstance(args[0], TypeNode):
        return _array(_build(args[0]))
    if name == "Map" and len(args) == 2 and all(isinstance(a, TypeNode) for a in args):
        return _map(_map_key(args[0]), _build(args[1]))
    if name == "Tuple" and args:
        elements = []
        for arg in args:
            label, sub = arg if isinstance(arg, tuple) else (None, arg)
            if not isinstance(sub, TypeNode):
                raise UnsupportedType(f"cannot check {node}")
            elements.append((label, _build(sub), _strip(sub).name == "Nullable"))
        return _tuple(elements)
    raise UnsupportedType(f"type {node} is not supported")


def converter(text: str) -> Convert:
    """The validator and encoder of one column type, as system.columns spells it."""
    return _build(parse_type(text))
