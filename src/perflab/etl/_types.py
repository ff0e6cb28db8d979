"""Pure core: the target table's columns, and validating CSV fields against them.

Types come from the PostgreSQL catalog (`format_type`), so the loader checks
every field the way the server would, before sending: a bad row is rejected
with its line and reason instead of failing a whole COPY. Fields stay strings:
the server converts text input itself, so validation only has to prove it will
accept it (building Python ints and dates per field would cost for nothing).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Column", "RowError", "validate_row", "validator_for"]


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


def _date_check(value: str) -> None:
    try:
        dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"invalid date {value!r}") from None


def _timestamp_check(value: str) -> None:
    try:
        dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"invalid timestamp {value!r}") from None


def _no_check(value: str) -> None:
    return None


_MODIFIERS = re.compile(r"\((\d+)(?:,(\d+))?\)")


def validator_for(pg_type: str) -> Check:
    """A check for one column type, as `format_type()` names it."""
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
    return _no_check  # text, varchar without a limit, and types the server checks itself


def validate_row(
    fields: Sequence[str], columns: Sequence[Column], checks: Sequence[Check]
) -> None:
    """Raise RowError for the first problem; empty fields are NULL."""
    if len(fields) != len(columns):
        raise RowError(f"expected {len(columns)} fields, found {len(fields)}")
    for index, (value, column, check) in enumerate(zip(fields, columns, checks, strict=True), 1):
        if not value:
            if column.not_null:
                raise RowError(f"NULL in NOT NULL column {column.name}", index)
            continue
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise RowError(f"invalid UTF-8 in column {column.name}", index) from None
        try:
            check(value)
        except ValueError as exc:
            raise RowError(f"{column.name}: {exc}", index) from None
