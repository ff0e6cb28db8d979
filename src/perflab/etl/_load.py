"""`load()`: one CSV file into one table, from the catalog to the summary.

    connect -> read the table's columns -> check the journal (new load, resume,
    or refuse) -> plan parts -> load them (in-process, or one forked worker per
    part) -> merge the rejects -> a summary whose counts reconcile exactly.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from perflab.errors import InputError, PerflabError, ServiceError, UsageError
from perflab.etl._impl import Impl
from perflab.etl._journal import (
    CREATE_SQL,
    INSERT_SQL,
    JOURNAL_TABLE,
    Progress,
    append_file,
    load_id,
    plan_sql,
    resume_points,
)
from perflab.etl._loader import LoadSpec, PartResult, load_part, load_transform, rejects_part
from perflab.etl._reader import data_start, split_ranges
from perflab.etl._types import Column

PROGRESS_EVERY_S = 0.1  # the parent's progress line, while it waits for the workers

__all__ = ["LoadOptions", "Summary", "load"]

CATALOG_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum"""


@dataclass(frozen=True)
class LoadOptions:
    path: Path
    table: str
    dsn: str
    impl: Impl
    workers: int = 2
    batch_rows: int = 100_000
    rejects: Path | None = None
    max_rejects: int | None = None
    truncate: bool = False
    resume: bool = False
    transform: str | None = None
    progress: TextIO | None = None


@dataclass(frozen=True)
class Summary:
    file: str
    table: str
    impl: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    seconds: float
    read_s: float
    load_s: float
    parts: int
    chunks: int
    rejects: str | None
    resumed: bool

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["rows_per_s"] = self.rows_read / self.seconds if self.seconds else 0.0
        return out


def _columns(conn: Any, table: str) -> tuple[str, tuple[Column, ...]]:
    from psycopg import sql

    quoted = sql.Identifier(*table.split(".")).as_string(conn)
    rows = conn.execute(CATALOG_SQL, (quoted,)).fetchall()
    if not rows:
        raise UsageError(f"table {table!r} does not exist", hint="create it first")
    columns = tuple(
        Column(name, pg_type, not_null, sql.Identifier(name).as_string(conn))
        for name, pg_type, not_null in rows
    )
    return quoted, columns


def _prepare_journal(conn: Any, opts: LoadOptions, load: str, quoted: str) -> list[Any]:
    conn.execute(CREATE_SQL)
    if opts.truncate:
        conn.execute(f"TRUNCATE {quoted}")
        conn.execute(f"DELETE FROM {JOURNAL_TABLE} WHERE load_id = %s", (load,))
    rows = conn.execute(
        f"SELECT load_id, part, chunk, end_offset, end_line, rows_loaded, rows_rejected, "
        f"rejects_size, start_offset FROM {JOURNAL_TABLE} WHERE load_id = %s", (load,)
    ).fetchall()
    conn.commit()
    if rows and not opts.resume:
        points = resume_points(rows)
        done = all(p.offset >= p.part.end for p in points)
        state = "was already loaded" if done else "was partly loaded"
        raise UsageError(f"{opts.path} {state} into {opts.table} (load {load})",
                         hint="--resume to continue, or --truncate to start over")
    if opts.resume and not rows:
        raise UsageError(f"nothing to resume: no journal of {opts.path} into {opts.table}")
    return list(rows)


class _ProgressLine:
    """Rows/s and ETA on a terminal, from the bytes the parts have committed."""

    def __init__(self, stream: TextIO | None, total_bytes: int) -> None:
        self.stream = stream if stream is not None and stream.isatty() else None
        self.total = max(total_bytes, 1)
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done_bytes: int, rows: int, final: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not final and now - self.last < 0.5:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        share = done_bytes / self.total
        eta = elapsed / share - elapsed if share > 0 else 0.0
        self.stream.write(f"\r\033[K{share:6.1%}  {rows:,} rows  {rows / elapsed:,.0f} rows/s"
                          f"  ETA {eta:.0f} s")
        if final:
            self.stream.write("\n")
        self.stream.flush()


def _run_parts(spec: LoadSpec, points: list[Progress], bar: _ProgressLine) -> list[PartResult]:
    if len(points) == 1:
        start = points[0].offset

        def tick(result: PartResult, point: Progress) -> None:
            bar.update(point.offset - start, point.rows)

        return [load_part(spec, points[0], tick)]
    return _run_forked(spec, points, bar)


def _run_forked(spec: LoadSpec, points: list[Progress], bar: _ProgressLine) -> list[PartResult]:
    """One forked worker per part; results and failures come back through a queue."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    done_bytes = ctx.Array("q", len(points), lock=False)
    done_rows = ctx.Array("q", len(points), lock=False)

    def work(point: Progress) -> None:
        start = point.offset

        def tick(result: PartResult, p: Progress) -> None:
            done_bytes[p.part.index] = p.offset - start
            done_rows[p.part.index] = p.rows

        try:
            results.put(("ok", load_part(spec, point, tick)))
        except PerflabError as exc:
            results.put(("error", f"part {point.part.index}: {exc}"))
        except BaseException as exc:
            results.put(("error", f"part {point.part.index}: {type(exc).__name__}: {exc}"))

    procs = [ctx.Process(target=work, args=(p,), name=f"etl-part{p.part.index}") for p in points]
    for proc in procs:
        proc.start()
    out: list[PartResult] = []
    errors: list[str] = []
    while len(out) + len(errors) < len(procs):
        bar.update(sum(done_bytes), sum(done_rows))
        try:  # wakes as soon as a result comes, not at the next tick
            status, payload = results.get(timeout=PROGRESS_EVERY_S)
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and results.empty():
                errors.append("a worker died without a result (killed?)")
                break
            continue
        (out if status == "ok" else errors).append(payload)
    for proc in procs:
        proc.join()
    if errors:
        raise ServiceError(errors[0], hint="committed chunks stay; rerun with --resume")
    return sorted(out, key=lambda r: r.part)


def _merge_rejects(rejects: Path, parts: int, rejected: int) -> str | None:
    pieces = [rejects_part(rejects, i) for i in range(parts)]
    if rejected == 0:
        for piece in pieces:
            piece.unlink(missing_ok=True)
        rejects.unlink(missing_ok=True)
        return None
    with rejects.open("wb") as out:
        out.write(b"line,reason,raw\r\n")
        for piece in pieces:
            with contextlib.suppress(FileNotFoundError), piece.open("rb") as f:
                while block := f.read(1 << 20):
                    out.write(block)
            piece.unlink(missing_ok=True)
    return str(rejects)


def load(opts: LoadOptions) -> Summary:
    import psycopg

    if not opts.path.is_file():
        raise InputError("no such file", path=str(opts.path))
    if opts.workers < 1 or opts.batch_rows < 1:
        raise UsageError("--workers and --batch-rows must be at least 1")
    load_transform(opts.transform)  # fail early on a bad --transform
    rejects = opts.rejects or opts.path.with_name(opts.path.name + ".rejects.csv")
    journal_file = rejects.with_name(rejects.name + ".journal")
    started = time.perf_counter()
    try:
        conn = psycopg.connect(opts.dsn)
    except psycopg.Error as exc:
        raise ServiceError(f"cannot connect to PostgreSQL: {exc}".strip()) from exc
    with conn:
        quoted, columns = _columns(conn, opts.table)
        load = load_id(opts.path, opts.table)
        journal = _prepare_journal(conn, opts, load, quoted)
        if journal:
            points = resume_points(journal)
        else:
            parts = opts.workers if opts.impl.parallel else 1
            plan = split_ranges(opts.path, parts, data_start(opts.path))
            with conn.cursor() as cur:
                cur.executemany(INSERT_SQL, plan_sql(load, plan))
            conn.commit()
            points = [Progress(p) for p in plan]
            for i in range(len(points)):
                rejects_part(rejects, i).unlink(missing_ok=True)
    spec = LoadSpec(opts.path, quoted, columns, opts.dsn, opts.impl, opts.batch_rows, load,
                    rejects, journal_file, opts.max_rejects, opts.transform)
    before_rows = sum(p.rows for p in points)
    before_rejected = sum(p.rejected for p in points)
    bar = _ProgressLine(opts.progress, sum(p.part.end - p.offset for p in points))
    todo = [p for p in points if p.offset < p.part.end]
    try:
        results = _run_parts(spec, todo, bar) if todo else []
    except PerflabError as exc:
        _journal_note(journal_file, load, "failed", str(exc))
        raise
    loaded = before_rows + sum(r.rows_loaded for r in results)
    rejected = before_rejected + sum(r.rows_rejected for r in results)
    bar.update(1, loaded, final=True)
    rejects_path = _merge_rejects(rejects, len(points), rejected)
    summary = Summary(
        file=str(opts.path), table=opts.table, impl=opts.impl.name,
        rows_read=loaded + rejected, rows_loaded=loaded, rows_rejected=rejected,
        seconds=time.perf_counter() - started,
        read_s=sum(r.read_s for r in results), load_s=sum(r.load_s for r in results),
        parts=len(points), chunks=sum(r.chunks for r in results), rejects=rejects_path,
        resumed=bool(journal),
    )
    _journal_note(journal_file, load, "done", summary.as_json())
    return summary


def _journal_note(path: Path, load: str, status: str, detail: Any) -> None:
    with contextlib.suppress(OSError):
        append_file(path, {"load_id": load, "status": status, "detail": detail,
                           "pid": os.getpid(), "argv": sys.argv[1:]})
