"""`--on-conflict nothing|update`: each chunk through a staging table, then INSERT ... ON CONFLICT.

COPY cannot resolve conflicts, so a chunk is copied into a temporary table with
the file's columns (same types, same NOT NULLs: the checks and the server's
verdicts are those of the target), then merged in the chunk's own transaction,
so the journal still commits it exactly once. `RETURNING (xmax = 0)` tells an
inserted row from an updated one. With `update`, a key repeated inside one chunk
keeps its last row (a row cannot be updated twice by one statement); the earlier
ones count as updated, as they would have been one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from perflab.errors import UsageError
from perflab.etl._types import Column

__all__ = ["Upsert", "plan_upsert"]

STAGE = "perflab_etl_stage"
ORDER = "perflab_etl_ord"


@dataclass(frozen=True)
class Upsert:
    mode: str  # "nothing" | "update"
    table: str  # quoted
    columns: tuple[Column, ...]  # the file's columns
    keys: tuple[Column, ...]
    stage: str = STAGE

    def prepare(self, conn: Any) -> None:
        """The staging table, once per connection (temporary: gone with the session)."""
        names = ", ".join(c.quoted for c in self.columns)
        conn.execute(f"DROP TABLE IF EXISTS pg_temp.{STAGE}")
        conn.execute(f"CREATE TEMP TABLE {STAGE} AS SELECT {names} FROM {self.table} "
                     "WITH NO DATA")
        for c in self.columns:
            if c.not_null:
                conn.execute(f"ALTER TABLE {STAGE} ALTER COLUMN {c.quoted} SET NOT NULL")
        conn.execute(f"ALTER TABLE {STAGE} ADD COLUMN {ORDER} bigint "
                     "GENERATED ALWAYS AS IDENTITY")
        conn.commit()

    def merge_sql(self) -> str:
        names = ", ".join(c.quoted for c in self.columns)
        keys = ", ".join(c.quoted for c in self.keys)
        rows = f"SELECT {names} FROM {STAGE}"
        if self.mode == "update":
            same = " AND ".join(f"t.{c.quoted} = s.{c.quoted}" for c in self.keys)
            rows = (f"SELECT {', '.join('s.' + c.quoted for c in self.columns)} FROM {STAGE} s "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {STAGE} t WHERE {same} "
                    f"AND t.{ORDER} > s.{ORDER})")
            others = [c for c in self.columns if c not in self.keys]
            action = ("DO UPDATE SET " + ", ".join(f"{c.quoted} = EXCLUDED.{c.quoted}"
                                                   for c in others)) if others else "DO NOTHING"
        else:
            rows += f" ORDER BY {ORDER}"
            action = "DO NOTHING"
        return (f"WITH merged AS (INSERT INTO {self.table} ({names}) {rows} "
                f"ON CONFLICT ({keys}) {action} RETURNING (xmax = 0) AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
                "FROM merged")

    def merge(self, cur: Any, staged: int) -> tuple[int, int]:
        """Merge the staged rows, empty the stage; (inserted, updated) of `staged`."""
        inserted, updated = cur.execute(self.merge_sql()).fetchone()
        if self.mode == "update":
            updated = staged - inserted  # a key repeated in the chunk: its earlier rows too
        cur.execute(f"TRUNCATE {STAGE}")
        return int(inserted), int(updated)


def plan_upsert(mode: str, table: str, columns: Sequence[Column], names: Sequence[str] | None,
                primary: Sequence[str]) -> Upsert:
    """Check the key against the file's columns; `names` is --conflict-columns."""
    wanted = list(names) if names else list(primary)
    if not wanted:
        raise UsageError(f"--on-conflict needs a key: table {table} has no primary key",
                         hint="name the unique columns with --conflict-columns a,b")
    keys: list[Column] = []
    for name in wanted:
        found = [c for c in columns if c.name == name or c.name.casefold() == name.casefold()]
        if not found:
            raise UsageError(f"conflict column {name!r} is not among the file's columns")
        keys.append(found[0])
    if mode == "update" and all(c in keys for c in columns):
        mode = "nothing"  # nothing to update: a conflicting row is skipped
    return Upsert(mode, table, tuple(columns), tuple(keys))
