"""`--create-table`: a table inferred from the header and a sample of rows.

Each column takes the narrowest type every non-NULL sample value fits, in the
order integer -> bigint -> numeric -> text, or boolean, date, timestamp; a
column with no value in the sample is text. The checks are the loader's own
(`_types`), so a sampled value the inferred type accepts is one the load
accepts. A later row that does not fit is rejected, like any bad row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from perflab.etl._types import validator_for

__all__ = ["infer_ddl", "infer_types"]

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMERIC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?")
_BOOLEAN = frozenset({"true", "false", "t", "f"})


def _fits(kind: str, value: str) -> bool:
    text = value.strip()
    if kind in ("integer", "bigint"):
        if not _INTEGER.fullmatch(text):
            return False
        limit = 2**31 if kind == "integer" else 2**63
        return -limit <= int(text) < limit
    if kind == "numeric":
        return bool(_NUMERIC.fullmatch(text))
    if kind == "boolean":
        return text.lower() in _BOOLEAN
    pattern = _DATE if kind == "date" else _TIMESTAMP
    if not pattern.fullmatch(text):
        return False
    try:
        validator_for(kind)(text)
    except ValueError:
        return False
    return True


_LADDERS = (("integer", "bigint", "numeric"), ("boolean",), ("date",),
            ("timestamp without time zone",))


def infer_types(width: int, rows: Sequence[Sequence[str | None]]) -> list[str]:
    out: list[str] = []
    for i in range(width):
        values = [v for r in rows if i < len(r) and (v := r[i])]
        chosen = "text"
        if values:
            for ladder in _LADDERS:
                found = next((k for k in ladder if all(_fits(k, v) for v in values)), None)
                if found is not None:
                    chosen = found
                    break
        out.append("timestamp" if chosen == "timestamp without time zone" else chosen)
    return out


def infer_ddl(table: str, quoted_names: Sequence[str],
              rows: Sequence[Sequence[str | None]]) -> str:
    """`CREATE TABLE IF NOT EXISTS ...` for these (already quoted) column names."""
    types = infer_types(len(quoted_names), rows)
    body = ",\n    ".join(f"{n} {t}" for n, t in zip(quoted_names, types, strict=True))
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n)"
