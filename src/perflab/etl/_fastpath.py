"""One regex that accepts a whole CSV line only when the row is certainly valid.

For most rows the loader then needs no `csv.reader` list, no per-field calls:
a single `fullmatch` in C validates the line, and the raw text goes to
`COPY ... (FORMAT csv)` as it is. The pattern is deliberately stricter than
the real checks (`_types`): a bigint of at most 18 digits, a date whose day is
at most 28, a newline only inside a quoted unbounded text... Anything it does not accept takes the
slow path (csv.reader + `validate_row`), which decides exactly. So the fast
path can only skip work, never change a verdict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from perflab.etl._csv import Dialect
from perflab.etl._types import Column

__all__ = ["row_pattern", "row_source", "rows_pattern"]

_MODS = re.compile(r"\((\d+)(?:,(\d+))?\)")
# Digits that always fit, whatever their value.
_INT_DIGITS = {"smallint": 4, "integer": 9, "bigint": 18}
# Surrogates stand for bytes that were not valid in the encoding: never on the fast path.
_NOT_TEXT = r"\r\n\udc80-\udcff"
_DATE = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"


def _text(limit: int | None, not_null: bool, d: Dialect) -> str:
    low = 1 if not_null else 0
    count = f"{{{low},{limit}}}" if limit is not None else ("+" if not_null else "*")
    q, plain = re.escape(d.quote), rf"[^{re.escape(d.delimiter)}{re.escape(d.quote)}{_NOT_TEXT}]"
    if limit is None:
        # Unrolled `(?:x|"")*`: sre runs a character-class repeat in a tight C loop,
        # but enters an alternation once per character. Newlines may be quoted.
        inner = rf"[^{q}\r\udc80-\udcff]"
        quoted = rf"{q}{inner}{count}(?:{q}{q}{inner}*)*{q}"
    else:  # with doubled quotes or newlines, counting is the slow path's job
        quoted = rf"{q}[^{q}{_NOT_TEXT}]{count}{q}"
    return rf"(?:{plain}{count}|{quoted})"


def _field(column: Column, d: Dialect) -> str | None:
    if column.labels is not None or column.type.endswith("[]"):
        return None
    base = _MODS.sub("", column.type).strip()
    mods = _MODS.search(column.type)
    if base in _INT_DIGITS:
        body = rf"-?[0-9]{{1,{_INT_DIGITS[base]}}}"
    elif base == "numeric":
        whole = int(mods.group(1)) - int(mods.group(2) or 0) if mods else 15
        if whole < 1:
            return None
        body = rf"-?[0-9]{{1,{whole}}}(?:\.[0-9]*)?"
    elif base in ("real", "double precision"):
        body = r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?"
    elif base == "boolean":
        body = r"(?:t|f|true|false)"
    elif base == "date":
        body = _DATE
    elif base == "timestamp without time zone":
        body = rf"{_DATE}[ T]{_TIME}"
    elif base in ("character varying", "character"):
        return _text(int(mods.group(1)) if mods else None, column.not_null, d)
    elif base == "text":
        return _text(None, column.not_null, d)
    else:
        return None  # a type the fast path does not know: every row takes the slow path
    return body if column.not_null else f"(?:{body})?"


def row_source(columns: Sequence[Column], d: Dialect) -> str | None:
    """The regex source of one certainly-valid row (no line end), or None.

    None also for a `--null` string or an escape character other than the quote:
    rare dialects, left to the exact path rather than modelled twice.
    """
    if d.null or d.esc != d.quote:
        return None
    fields = [_field(c, d) for c in columns]
    if any(f is None for f in fields):
        return None
    return re.escape(d.delimiter).join(f for f in fields if f is not None)


def row_pattern(columns: Sequence[Column], d: Dialect) -> re.Pattern[str] | None:
    """The whole-line pattern for these columns, or None when there is none."""
    source = row_source(columns, d)
    return None if source is None else re.compile(source + r"(?:\r?\n)?")


def rows_pattern(columns: Sequence[Column], d: Dialect) -> re.Pattern[str] | None:
    """Any run of certainly-valid rows, each ending in a line end: matched in one C call."""
    source = row_source(columns, d)
    return None if source is None else re.compile(rf"(?:{source}\r?\n)*")
