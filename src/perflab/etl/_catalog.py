"""The target table from the catalog, and the file's columns mapped onto it.

    columns()      every column: type, NOT NULL, default/identity/generated, enum labels
    primary_key()  the key `--on-conflict` uses when `--conflict-columns` is not given
    map_columns()  the file's column names (header or --columns) onto table columns,
                   case-insensitively, as `COPY t (cols) FROM` takes them: absent columns
                   get their defaults, so the mapping costs nothing per row
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from perflab.errors import UsageError
from perflab.etl._types import Column

__all__ = ["Mapping", "columns", "map_columns", "primary_key"]

CATALOG_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', a.attgenerated <> '',
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e
        WHERE e.enumtypid = CASE WHEN t.typtype = 'e' THEN t.oid ELSE t.typelem END)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum"""

PRIMARY_KEY_SQL = """
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indrelid = to_regclass(%s) AND i.indisprimary
ORDER BY array_position(i.indkey::int[], a.attnum::int)"""


def quote_table(conn: Any, table: str) -> str:
    from psycopg import sql

    return sql.Identifier(*table.split(".")).as_string(conn)


def columns(conn: Any, table: str) -> tuple[str, tuple[Column, ...]]:
    """The quoted table name and its columns; UsageError if there is no such table."""
    from psycopg import sql

    quoted = quote_table(conn, table)
    rows = conn.execute(CATALOG_SQL, (quoted,)).fetchall()
    if not rows:
        raise UsageError(f"table {table!r} does not exist",
                         hint="create it first, or pass --create-table")
    return quoted, tuple(
        Column(name, pg_type, not_null, sql.Identifier(name).as_string(conn),
               has_default=bool(default), generated=bool(generated),
               labels=tuple(labels) if labels is not None else None)
        for name, pg_type, not_null, default, generated, labels in rows
    )


def primary_key(conn: Any, quoted: str) -> tuple[str, ...]:
    return tuple(name for (name,) in conn.execute(PRIMARY_KEY_SQL, (quoted,)).fetchall())


@dataclass(frozen=True)
class Mapping:
    """The file's fields onto the table: `fields` are the kept ones, in file order."""

    fields: tuple[Column, ...]
    drop: tuple[int, ...] = ()  # 0-based positions of file fields with no table column

    def keep(self, values: list[str | None]) -> list[str | None]:
        if not self.drop:
            return values
        gone = set(self.drop)
        return [v for i, v in enumerate(values) if i not in gone]


def _find(name: str, table: Sequence[Column]) -> Column | None:
    exact = [c for c in table if c.name == name]
    if exact:
        return exact[0]
    folded = [c for c in table if c.name.casefold() == name.casefold()]
    if len(folded) > 1:
        raise UsageError(f"file column {name!r} matches table columns "
                         f"{', '.join(repr(c.name) for c in folded)}: name one exactly")
    return folded[0] if folded else None


def map_columns(names: Sequence[str] | None, table: Sequence[Column], *, ignore_extra: bool,
                where: str, table_name: str) -> Mapping:
    """Map file column names onto the table; None: the file has every column, in order."""
    if names is None:
        mapped: list[Column] = [c for c in table if not c.generated]
        return Mapping(tuple(mapped))
    kept: list[Column] = []
    drop: list[int] = []
    seen: dict[str, str] = {}
    for i, name in enumerate(names):
        column = _find(name.strip(), table)
        if column is None:
            if ignore_extra:
                drop.append(i)
                continue
            raise UsageError(f"{where}: file column {name!r} (field {i + 1}) has no column in "
                             f"table {table_name}",
                             hint="--ignore-extra to skip it, or --columns to rename")
        if column.name in seen:
            raise UsageError(f"{where}: file columns {seen[column.name]!r} and {name!r} both "
                             f"map to column {column.name!r}")
        if column.generated:
            raise UsageError(f"{where}: column {column.name!r} is generated; it cannot be "
                             "loaded", hint="--ignore-extra to skip it")
        seen[column.name] = name
        kept.append(column)
    missing = [c.name for c in table
               if c.name not in seen and c.not_null and not c.has_default]
    if missing:
        raise UsageError(f"{where}: table {table_name} column(s) {', '.join(missing)} are "
                         "NOT NULL without a default, and absent from the file")
    if not kept:
        raise UsageError(f"{where}: no file column matches a column of table {table_name}")
    return Mapping(tuple(kept), tuple(drop))
