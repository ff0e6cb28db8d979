"""The ladder of `perflab etl load`: each variant is the same loader with options switched."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT", "IMPLS", "LADDER", "Impl"]


@dataclass(frozen=True)
class Impl:
    name: str
    description: str
    method: str  # "insert" | "executemany" | "copy" | "copy_raw"
    buffer_size: int = 64 * 1024  # the read buffer in front of the CSV parser
    parallel: bool = True  # split the file among --workers processes
    pipeline: bool = True  # parse+validate in a thread while the main thread sends
    fast_path: bool = True  # one regex per line accepts certainly-valid rows (copy_raw)
    blocks: bool = True  # that regex consumes runs of rows in C, no Python per row
    server_checks: bool = False  # PostgreSQL 17+ checks the types (COPY ... ON_ERROR ignore)


LADDER = (
    Impl("baseline", "csv.reader, one INSERT per row, autocommit", "insert",
         buffer_size=8192, parallel=False, pipeline=False),
    Impl("buffered-64k", "read through a 64 KiB buffer instead of 8 KiB", "insert",
         parallel=False, pipeline=False),
    Impl("batches", "executemany in preallocated 1000-row batches, a transaction per chunk",
         "executemany", parallel=False, pipeline=False),
    Impl("copy", "COPY FROM STDIN, rows encoded by psycopg (C)", "copy",
         parallel=False, pipeline=False),
    Impl("parallel", "--workers processes, a connection each, file split at row boundaries",
         "copy", pipeline=False),
    Impl("pipeline", "per worker: parse+validate in a thread, COPY in another", "copy"),
    Impl("copy-raw", "validated rows forwarded as their raw CSV text (COPY ... CSV)",
         "copy_raw", fast_path=False),
    Impl("fast-path", "one regex per line accepts certainly-valid rows, no csv.reader",
         "copy_raw", blocks=False),
    Impl("block-regex", "that regex consumes whole runs of valid rows in C: no Python per row",
         "copy_raw"),
    Impl("server-checks", "PostgreSQL 17+ checks the types as it parses (COPY ON_ERROR ignore); "
         "a chunk it refuses whole takes the exact path", "copy_raw", pipeline=False,
         server_checks=True),
)
IMPLS = {impl.name: impl for impl in LADDER}
DEFAULT = LADDER[-1].name
