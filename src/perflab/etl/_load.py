"""`load()`: one CSV input into one table, from the catalog to the summary.

    open the input and read its header -> connect -> (create the table) -> read
    the table's columns and map the file's onto them -> check the journal (new
    load, resume, or refuse) -> plan parts -> load them (in-process, or one forked
    worker per part) -> merge the rejects -> a summary whose counts reconcile.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from perflab.errors import InputError, PerflabError, ServiceError, UsageError
from perflab.etl._catalog import columns as table_columns
from perflab.etl._catalog import map_columns, primary_key, quote_table
from perflab.etl._csv import Dialect
from perflab.etl._impl import Impl
from perflab.etl._journal import (
    CREATE_SQL,
    INSERT_SQL,
    JOURNAL_TABLE,
    SELECT_SQL,
    UPGRADE_SQL,
    Progress,
    append_file,
    load_id,
    plan_sql,
    resume_points,
)
from perflab.etl._loader import LoadSpec, PartResult, load_part, load_transform, rejects_part
from perflab.etl._reader import Part, split_ranges
from perflab.etl._source import Header, Source, read_header, sample_rows
from perflab.etl._upsert import plan_upsert

PROGRESS_EVERY_S = 0.1  # the parent's progress line, while it waits for the workers
# A stream's part ends where its data does: unknown until read (then journalled).
STREAM_END = 2**62

__all__ = ["LoadOptions", "Summary", "load"]

@dataclass(frozen=True)
class LoadOptions:
    path: Path | str  # a file, or "-" for standard input
    table: str
    dsn: str
    impl: Impl
    workers: int = 2
    batch_rows: int = 100_000
    rejects: Path | None = None
    max_rejects: int | None = None
    truncate: bool = False
    forget: bool = False  # drop this file's journal (--truncate, for the 2nd file on)
    resume: bool = False
    transform: str | None = None
    progress: TextIO | None = None
    dialect: Dialect = field(default_factory=Dialect)
    columns: tuple[str, ...] | None = None  # --columns: the file's column names
    ignore_extra: bool = False
    on_conflict: str | None = None  # "nothing" | "update"
    conflict_columns: tuple[str, ...] | None = None
    create_table: bool = False
    ddl_out: TextIO | None = None  # where --create-table prints the DDL it ran

    def __post_init__(self) -> None:
        """The options alone, checked (pure): no LoadOptions exists that cannot work."""
        for name, value, least in (("--workers", self.workers, 1),
                                   ("--batch-rows", self.batch_rows, 1),
                                   ("--max-rejects", self.max_rejects, 0)):
            if value is not None and value < least:
                raise UsageError(f"{name} must be at least {least}, not {value}")
        if not self.table or not all(p.strip() for p in self.table.split(".")):
            raise UsageError(f"--table must name a table, not {self.table!r}")
        if self.resume and str(self.path) == "-":
            raise UsageError("--resume cannot apply to standard input: a pipe cannot be read "
                             "again", hint="load from a file (or a .gz/.zst file) to resume")
        if self.resume and (self.truncate or self.forget):
            # --truncate empties the table and forgets the journal --resume would go on from.
            raise UsageError("--resume and --truncate contradict each other",
                             hint="--resume to continue a load, --truncate to start over")
        if self.conflict_columns and not self.on_conflict:
            raise UsageError("--conflict-columns needs --on-conflict nothing|update")
        names = [n.strip() for n in self.columns or ()]
        twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if twice is not None and not self.ignore_extra:  # ignored fields may share a name
            raise UsageError(f"--columns names {twice!r} twice")


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
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_skipped: int = 0  # --on-conflict nothing: rows whose key was already there
    columns: tuple[str, ...] = ()  # the table columns loaded, in the file's order

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["rows_per_s"] = self.rows_read / self.seconds if self.seconds else 0.0
        return out


def _prepare_journal(conn: Any, opts: LoadOptions, load: str, quoted: str) -> list[Any]:
    conn.execute(CREATE_SQL)
    upgraded = conn.execute("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                            "AND attname = 'rows_skipped'", (JOURNAL_TABLE,)).fetchone()
    if upgraded is None:  # ALTER locks the journal whole: only when the columns are missing
        conn.execute(UPGRADE_SQL)
    if opts.truncate:
        conn.execute(f"TRUNCATE {quoted}")
    if opts.truncate or opts.forget:
        conn.execute(f"DELETE FROM {JOURNAL_TABLE} WHERE load_id = %s", (load,))
    rows = conn.execute(SELECT_SQL, (load,)).fetchall()
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


def _create_table(conn: Any, opts: LoadOptions, source: Source, header: Header) -> None:
    """--create-table: infer the table from the header and a sample, print the DDL."""
    from psycopg import sql

    from perflab.etl._infer import infer_ddl

    quoted = quote_table(conn, opts.table)
    exists = conn.execute("SELECT to_regclass(%s)", (quoted,)).fetchone()[0]
    if exists is not None:
        return
    rows = sample_rows(source, opts.dialect, header)
    names = list(opts.columns or header.names or [])
    if not names:
        width = max((len(r) for r in rows), default=0)
        names = [f"column{i + 1}" for i in range(width)]
    if not names:
        raise InputError("--create-table: the file has no columns to infer from",
                         path=source.name)
    ddl = infer_ddl(quoted, [sql.Identifier(n.strip()).as_string(conn) for n in names], rows)
    conn.execute(ddl)
    conn.commit()
    if opts.ddl_out is not None:
        print(ddl + ";", file=opts.ddl_out)


def load(opts: LoadOptions) -> Summary:
    import psycopg

    source = Source(str(opts.path))  # the options themselves were checked when made
    load_transform(opts.transform)  # fail early on a bad --transform
    name = "stdin.csv" if source.path is None else source.path.name
    where = source.path.parent if source.path is not None else Path.cwd()
    rejects = opts.rejects or where / f"{name}.rejects.csv"
    journal_file = rejects.with_name(rejects.name + ".journal")
    started = time.perf_counter()
    header = read_header(source, opts.dialect)
    try:
        conn = psycopg.connect(opts.dsn)
    except psycopg.Error as exc:
        raise ServiceError(f"cannot connect to PostgreSQL: {exc}".strip()) from exc
    with conn:
        if opts.create_table:
            _create_table(conn, opts, source, header)
        quoted, table = table_columns(conn, opts.table)
        names = opts.columns or header.names
        mapping = map_columns(names, table, ignore_extra=opts.ignore_extra,
                              where=source.name, table_name=opts.table)
        upsert = None
        if opts.on_conflict:
            upsert = plan_upsert(opts.on_conflict, quoted, mapping.fields,
                                 opts.conflict_columns, primary_key(conn, quoted))
        load = load_id(source.path, opts.table)
        journal = _prepare_journal(conn, opts, load, quoted)
        if journal:
            points = resume_points(journal)
        else:
            parts = opts.workers if opts.impl.parallel and source.splittable else 1
            if source.splittable:
                assert source.path is not None
                plan = split_ranges(source.path, parts, header.start, opts.dialect, header.line)
            else:  # a stream: one part, read in order (see _source)
                plan = [Part(0, header.start, STREAM_END, header.line)]
            with conn.cursor() as cur:
                cur.executemany(INSERT_SQL, plan_sql(load, plan))
            conn.commit()
            points = [Progress(p) for p in plan]
            for i in range(len(points)):
                rejects_part(rejects, i).unlink(missing_ok=True)
    # A compressed file's windows go to several connections from one reader (_fanout);
    # a pipe keeps one, since a moved cut would need to read it again.
    fan = opts.workers if source.kind in ("gzip", "zstd") and opts.impl.parallel else 1
    spec = LoadSpec(source, quoted, mapping, opts.dialect, opts.dsn, opts.impl,
                    opts.batch_rows, load, rejects, journal_file, opts.max_rejects,
                    opts.transform, upsert, stream_workers=fan)
    before = (sum(p.rows for p in points), sum(p.rejected for p in points),
              sum(p.updated for p in points), sum(p.skipped for p in points))
    total = source.end() or 0  # a stream's size is unknown: no share, no ETA to show
    bar = _ProgressLine(opts.progress if source.splittable else None,
                        total - sum(p.offset - p.part.start for p in points))
    todo = [p for p in points if p.offset < p.part.end]
    try:
        results = _run_parts(spec, todo, bar) if todo else []
    except PerflabError as exc:
        _journal_note(journal_file, load, "failed", str(exc))
        raise
    if not source.splittable and results:
        _close_stream_plan(opts.dsn, load, points)
    loaded = before[0] + sum(r.rows_loaded for r in results)
    rejected = before[1] + sum(r.rows_rejected for r in results)
    updated = before[2] + sum(r.rows_updated for r in results)
    skipped = before[3] + sum(r.rows_skipped for r in results)
    bar.update(1, loaded, final=True)
    rejects_path = _merge_rejects(rejects, len(points), rejected)
    summary = Summary(
        file=source.name, table=opts.table, impl=opts.impl.name,
        rows_read=loaded + rejected + skipped, rows_loaded=loaded, rows_rejected=rejected,
        seconds=time.perf_counter() - started,
        read_s=sum(r.read_s for r in results), load_s=sum(r.load_s for r in results),
        parts=len(points), chunks=sum(r.chunks for r in results), rejects=rejects_path,
        resumed=bool(journal), rows_inserted=loaded - updated, rows_updated=updated,
        rows_skipped=skipped, columns=tuple(c.name for c in mapping.fields),
    )
    _journal_note(journal_file, load, "done", summary.as_json())
    return summary


def _close_stream_plan(dsn: str, load: str, points: list[Progress]) -> None:
    """A stream's part has no known end until it is read: record it, so a rerun is refused
    as "already loaded" instead of resumed past the end."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        for p in points:
            conn.execute(f"UPDATE {JOURNAL_TABLE} SET end_offset = %s WHERE load_id = %s "
                         "AND part = %s AND chunk = -1", (p.offset, load, p.part.index))


def _journal_note(path: Path, load: str, status: str, detail: Any) -> None:
    with contextlib.suppress(OSError):
        append_file(path, {"load_id": load, "status": status, "detail": detail,
                           "pid": os.getpid(), "argv": sys.argv[1:]})
