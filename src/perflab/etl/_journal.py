"""Exactly-once chunks: what is committed, recorded where it cannot disagree with the data.

Each chunk of rows is committed in one transaction together with its row in
`perflab_etl_journal`, in the target database: after a crash, the journal
says exactly which lines are in, never more or less. The plan (how the file
was split among workers) is journalled first, so `--resume` continues every
part from its last committed offset with the same split. A JSON-lines copy
next to the rejects file is for people (and for the error message).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perflab.etl._reader import Part

__all__ = ["JOURNAL_TABLE", "Progress", "load_id", "plan_sql", "resume_points"]

JOURNAL_TABLE = "perflab_etl_journal"

CREATE_SQL = f"""CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} (
    load_id text NOT NULL,
    part int NOT NULL,
    chunk int NOT NULL,          -- -1: the plan row of the part
    end_offset bigint NOT NULL,  -- byte offset after the chunk's last row (plan: part end)
    end_line bigint NOT NULL,    -- line number after the chunk (plan: part start line)
    rows_loaded bigint NOT NULL,
    rows_rejected bigint NOT NULL,
    rejects_size bigint NOT NULL, -- the part's rejects file size after this chunk
    start_offset bigint NOT NULL DEFAULT 0,
    committed_at timestamptz NOT NULL DEFAULT now(),
    rows_updated bigint NOT NULL DEFAULT 0,  -- upsert: of rows_loaded, rows that updated
    rows_skipped bigint NOT NULL DEFAULT 0,  -- upsert: rows skipped on a conflict
    PRIMARY KEY (load_id, part, chunk)
)"""
# A journal made by an earlier perflab lacks the upsert counts.
UPGRADE_SQL = (f"ALTER TABLE {JOURNAL_TABLE} ADD COLUMN IF NOT EXISTS rows_updated bigint "
               f"NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS rows_skipped bigint NOT NULL "
               f"DEFAULT 0")
SELECT_SQL = (f"SELECT load_id, part, chunk, end_offset, end_line, rows_loaded, rows_rejected, "
              f"rejects_size, start_offset, rows_updated, rows_skipped FROM {JOURNAL_TABLE} "
              f"WHERE load_id = %s")

INSERT_SQL = f"""INSERT INTO {JOURNAL_TABLE}
    (load_id, part, chunk, end_offset, end_line, rows_loaded, rows_rejected, rejects_size,
     start_offset, rows_updated, rows_skipped)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"""


def load_id(path: Path | None, table: str) -> str:
    """Same file (path, size, mtime) into the same table: the same load.

    Standard input is never the same load twice: a fresh id, never resumable.
    """
    if path is None:
        import os
        import time

        key = f"stdin|{os.getpid()}|{time.time_ns()}|{table}"
        return "stdin-" + hashlib.sha1(key.encode()).hexdigest()[:10]
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{table}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def plan_sql(load: str, parts: Sequence[Part]) -> list[tuple[Any, ...]]:
    """Journal rows recording the split (chunk -1 per part)."""
    return [(load, p.index, -1, p.end, p.line, 0, 0, 0, p.start, 0, 0) for p in parts]


class Progress:
    """Where one part stands: its next offset, line and counts."""

    __slots__ = ("chunk", "line", "offset", "part", "rejected", "rejects_size", "rows",
                 "skipped", "updated")

    def __init__(self, part: Part) -> None:
        self.part = part
        self.chunk = 0
        self.offset = part.start
        self.line = part.line
        self.rows = 0
        self.rejected = 0
        self.rejects_size = 0
        self.updated = 0
        self.skipped = 0


def resume_points(rows: Sequence[tuple[Any, ...]]) -> list[Progress]:
    """From the journal rows of one load, each part's plan and where it stopped."""
    plans = {r[1]: Part(r[1], r[8], r[3], r[4]) for r in rows if r[2] == -1}
    points = {i: Progress(p) for i, p in plans.items()}
    for (_, part, chunk, end_offset, end_line, loaded, rejected, rejects_size, _,
         updated, skipped) in sorted(rows):
        if chunk < 0:
            continue
        point = points[part]
        point.chunk = chunk + 1
        point.offset = end_offset
        point.line = end_line
        point.rows += loaded
        point.rejected += rejected
        point.rejects_size = rejects_size
        point.updated += updated
        point.skipped += skipped
    return [points[i] for i in sorted(points)]


def append_file(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
