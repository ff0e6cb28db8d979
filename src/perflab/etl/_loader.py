"""The load: parse and validate (pure, in `make_chunks`), send (I/O, in `send_chunk`).

A part (the whole file, or one worker's byte range) is cut into chunks of
`batch_rows` rows. Each chunk is committed in one transaction with its
journal row, after its rejects are written, so the journal, the table and the
rejects file always agree: `--resume` continues exactly where the commits end.

Workers are forked processes, one per part, each with its own connection; a
worker's failure comes back to the parent as a message, never silently.
"""

from __future__ import annotations

import csv
import importlib
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.errors import InputError, ServiceError, UsageError
from perflab.etl._fastpath import row_pattern, rows_pattern
from perflab.etl._impl import Impl
from perflab.etl._journal import INSERT_SQL, Progress, append_file
from perflab.etl._reader import TextCursor, iter_rows, open_range
from perflab.etl._types import Column, RowError, validate_row, validator_for

__all__ = ["Chunk", "LoadSpec", "PartResult", "load_part", "make_chunks"]

# Rows of one executemany call: the guide's preallocated batch.
EXECUTEMANY_BATCH = 1000
# Bytes of raw CSV handed to one copy.write call.
COPY_WRITE_BYTES = 256 * 1024
# Raw rows are sent as UTF-8; bytes that were not UTF-8 only ever reach a reject.
_SURROGATES = ("utf-8", "surrogateescape")
# Chunks parsed ahead of the sender in pipeline mode: bounded, so memory is too.
PIPELINE_DEPTH = 2
# Server checks: a row whose field an input function refuses is skipped, with a notice
# naming its line in the chunk (exact until a row spans several lines) and the column.
SERVER_CHECKS = "ON_ERROR ignore, LOG_VERBOSITY verbose"
_SKIPPED = re.compile(r'skipping row due to data type incompatibility at line (\d+) '
                      r'for column "(.*?)": ')
# How far back from a window's end to look for a newline that ends a row.
BOUNDARY_TRIES = 1000

Transform = Callable[[list[str]], list[str]]


@dataclass(frozen=True)
class LoadSpec:
    """Everything a worker needs; plain data, so it crosses a fork unchanged."""

    path: Path
    table: str  # already quoted for SQL
    columns: tuple[Column, ...]
    dsn: str
    impl: Impl
    batch_rows: int
    load_id: str
    rejects: Path
    journal: Path  # the human-readable copy of the journal, next to the rejects file
    max_rejects: int | None = None
    transform: str | None = None  # module:function


@dataclass
class Chunk:
    rows: list[list[str | None]] = field(default_factory=list)  # for INSERT / write_row
    raw: list[str] = field(default_factory=list)  # for COPY ... CSV
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # line, reason, raw
    payload: bytes | memoryview = b""  # the raw rows as bytes, once the chunk is complete
    count_on_server: bool = False  # loaded = COPY's row count (rows matched in bulk)
    server_checks: bool = False  # payload unchecked: the server skips and names bad rows
    server_rows: int = 0
    end_offset: int = 0
    end_line: int = 0
    read_s: float = 0.0

    @property
    def loaded(self) -> int:
        if self.count_on_server:
            return self.server_rows
        return len(self.rows) + len(self.raw)


@dataclass
class PartResult:
    part: int
    rows_loaded: int = 0
    rows_rejected: int = 0
    chunks: int = 0
    read_s: float = 0.0
    load_s: float = 0.0


def load_transform(ref: str | None) -> Transform | None:
    if not ref:
        return None
    module, _, name = ref.partition(":")
    try:
        func: Transform = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UsageError(f"--transform {ref!r}: {exc}") from exc
    return func


def make_chunks(spec: LoadSpec, point: Progress, transform: Transform | None) -> Iterator[Chunk]:
    """Parse and validate one part from where it stands; yield chunks ready to send."""
    columns = spec.columns
    checks = [validator_for(c.type) for c in columns]
    raw_mode = spec.impl.method == "copy_raw" and transform is None
    pattern = row_pattern(columns) if raw_mode and spec.impl.fast_path else None
    part = point.part
    offset, line = point.offset, point.line
    with open_range(spec.path, offset, part.end, spec.impl.buffer_size) as text:
        rows = iter_rows(iter(text), line, pattern.fullmatch if pattern else None)
        while True:
            started = time.perf_counter()
            chunk = Chunk()
            taken = 0
            for line, fields, raw, error in rows:
                taken += 1
                if not raw_mode:  # raw chunks count their bytes once, at the end
                    offset += len(raw) if raw.isascii() else len(raw.encode(*_SURROGATES))
                if error is None and fields is not None:
                    try:
                        if transform is not None:
                            fields = transform(fields)
                        validate_row(fields, columns, checks)
                    except RowError as exc:
                        where = f" (column {exc.column})" if exc.column else ""
                        error = exc.reason + where
                    except Exception as exc:  # a user's transform: its failure rejects the row
                        error = f"transform failed: {type(exc).__name__}: {exc}"
                if error is not None:
                    chunk.rejects.append((line, error, raw))
                elif raw_mode:
                    chunk.raw.append(raw)  # fields is None: the fast path already accepted it
                else:
                    chunk.rows.append([value or None for value in fields or ()])
                if taken >= spec.batch_rows:
                    break
            if taken == 0:
                return
            if raw_mode:
                chunk.payload = "".join(chunk.raw).encode(*_SURROGATES)
                offset += len(chunk.payload) + sum(
                    len(r[2].encode(*_SURROGATES)) for r in chunk.rejects)
            chunk.end_offset = offset
            chunk.end_line = line + raw.count("\n") + (0 if raw.endswith("\n") else 1)
            chunk.read_s = time.perf_counter() - started
            yield chunk
            if taken < spec.batch_rows:
                return


def block_chunks(spec: LoadSpec, point: Progress) -> Iterator[Chunk]:
    """Beyond the guide: valid rows matched many at a time, in C, with no Python per row.

    One regex, `(?:ROW\\n)*`, consumes the longest run of certainly-valid rows
    from the text window; only where it stops does Python take one row through
    csv.reader and the exact checks. Rows are counted by the server (COPY's row
    count) and lines with `str.count`; a chunk holds about `batch_rows` lines.
    """
    columns = spec.columns
    checks = [validator_for(c.type) for c in columns]
    many = rows_pattern(columns)
    assert many is not None
    part = point.part
    offset, line = point.offset, point.line
    with open_range(spec.path, offset, part.end, spec.impl.buffer_size) as text:
        cursor = TextCursor(text)
        consumed: list[str] = []

        def feed() -> Iterator[str]:
            while (nxt := cursor.next_line()) is not None:
                consumed.append(nxt)
                yield nxt

        reader = csv.reader(feed(), strict=True)
        while True:
            started = time.perf_counter()
            chunk = Chunk()
            lines = 0
            while lines < spec.batch_rows:
                if not cursor.complete_line_ahead() and cursor.pos >= len(cursor.buf):
                    break  # the end of the part
                start = cursor.pos
                matched = many.match(cursor.buf, start)  # `(...)*` always matches, maybe empty
                end = matched.end() if matched else start
                if end > start:
                    piece = cursor.buf[start:end]
                    chunk.raw.append(piece)
                    lines += piece.count("\n")
                    cursor.pos = end
                    continue
                try:  # one row the fast pattern does not vouch for: the exact path
                    fields: list[str] | None = next(reader)
                    error = None
                except StopIteration:
                    if not consumed:
                        break
                    fields, error = None, "bad quoting: unterminated quoted field"
                except csv.Error as exc:
                    fields, error = None, f"bad quoting: {exc}"
                raw = "".join(consumed)
                row_line = line + lines
                lines += len(consumed)
                consumed.clear()
                if error is None:
                    try:
                        validate_row(fields or [], columns, checks)
                    except RowError as exc:
                        where = f" (column {exc.column})" if exc.column else ""
                        error = exc.reason + where
                if error is None:
                    chunk.raw.append(raw if raw.endswith("\n") else raw + "\n")
                else:
                    chunk.rejects.append((row_line, error, raw))
            if lines == 0:
                return
            chunk.payload = "".join(chunk.raw).encode(*_SURROGATES)
            chunk.raw = []  # the payload is what is sent; rows are counted by the server
            offset += len(chunk.payload) + sum(
                len(r[2].encode(*_SURROGATES)) for r in chunk.rejects)
            line += lines
            chunk.end_offset, chunk.end_line = offset, line
            chunk.read_s = time.perf_counter() - started
            chunk.count_on_server = True
            yield chunk


def row_boundary(data: bytes | bytearray, end: int | None = None) -> int | None:
    """Where the last complete row of `data[:end]` ends, or None if none is found.

    The data starts at a row boundary, and a newline ends a row exactly when an
    even number of quotes precedes it (a doubled quote inside a field counts two).
    """
    newline = data.rfind(b"\n", 0, len(data) if end is None else end)
    quotes = data.count(b'"', 0, newline)
    for _ in range(BOUNDARY_TRIES):
        if newline < 0:
            return None
        if quotes % 2 == 0:
            return newline + 1
        previous = data.rfind(b"\n", 0, newline)
        quotes -= data.count(b'"', previous + 1, newline)
        newline = previous
    return None


def server_chunks(spec: LoadSpec, point: Progress) -> Iterator[Chunk]:
    """Beyond the guide: raw bytes cut at row boundaries; PostgreSQL checks the rows.

    No Python per row at all. `point` is read afresh for every chunk: the caller
    advances it, also past a chunk the server refused whole and the exact path redid.
    """
    part = point.part
    window_size = spec.batch_rows * 256  # a first guess; then the measured row size
    # One buffer, reused: each chunk is sent before the next is read, and fresh
    # memory for every window cost more in page faults than the read itself.
    buffer = bytearray(min(window_size, part.end - point.offset))
    with spec.path.open("rb", buffering=0) as f:
        while point.offset < part.end:
            started = time.perf_counter()
            wanted = min(window_size, part.end - point.offset)
            if wanted > len(buffer):
                buffer = bytearray(wanted)
            f.seek(point.offset)
            size = f.readinto(memoryview(buffer)[:wanted])
            window = memoryview(buffer)[:size]
            at_end = point.offset + size >= part.end
            cut = size if at_end else row_boundary(buffer, size)
            if cut is None:  # no row ends in the window: a huge row, or broken quoting
                yield next(exact_chunks(spec, point))
                continue
            lines = buffer.count(b"\n", 0, cut) + (0 if buffer[cut - 1] == 10 else 1)
            window_size = max(4096, spec.batch_rows * cut // lines)
            yield Chunk(payload=window[:cut], count_on_server=True, server_checks=True,
                        end_offset=point.offset + cut, end_line=point.line + lines,
                        read_s=time.perf_counter() - started)


def exact_chunks(spec: LoadSpec, point: Progress) -> Iterator[Chunk]:
    """The chunks of the Python checks, from `point` on: the regex blocks where they apply."""
    if row_pattern(spec.columns) is not None:
        return block_chunks(spec, point)
    return make_chunks(spec, point, None)


def skipped_rows(spec: LoadSpec, payload: bytes | memoryview, first_line: int,
                 skipped: dict[int, str]) -> list[tuple[int, str, str]]:
    """The rows the server skipped, as rejects: line, the exact checks' reason, raw text.

    `skipped` maps the server's line number of each row (1-based in the chunk) to the
    column it named. That number is the row's line only while no earlier row spans
    several lines (the server counts newlines inside quotes loosely): past such a
    row the chunk is refused, and the exact path decides. Only chunks with skipped
    rows pay for this parse.
    """
    checks = [validator_for(c.type) for c in spec.columns]
    pieces = bytes(payload).decode(*_SURROGATES).split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for text in lines:
            consumed.append(text)
            yield text

    rejects: list[tuple[int, str, str]] = []
    rows = enumerate(csv.reader(feed(), strict=True), start=1)
    try:
        for read, fields in rows:
            if len(rejects) == len(skipped):
                break
            if len(consumed) > 1:
                raise _Refused("a row of several lines: the server's line numbers are loose")
            if read in skipped:
                try:
                    validate_row(fields, spec.columns, checks)
                    reason = f"refused by PostgreSQL (column {skipped[read]})"
                except RowError as exc:
                    reason = exc.reason + (f" (column {exc.column})" if exc.column else "")
                rejects.append((first_line + read - 1, reason, consumed[0]))
            consumed.clear()
    except csv.Error as exc:  # quoting the server let pass: the exact path decides the rows
        raise _Refused(f"bad quoting: {exc}") from exc
    return rejects


class _Refused(Exception):
    """The server refused a server-checked chunk whole, or its notices did not add up.

    Control flow inside `load_part` only (the exact path takes the chunk over): it never
    reaches a user, so it stays outside the PerflabError tree.
    """


def server_checks_usable(conn: Any) -> bool:
    """ON_ERROR needs PostgreSQL 17; the notices are read in English."""
    messages = conn.execute("SHOW lc_messages").fetchone()[0]
    conn.rollback()
    return bool(conn.info.server_version >= 170000 and (
        messages in ("C", "POSIX") or messages.lower().startswith("en")))


def _pipelined(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """Run the parser in a thread, `PIPELINE_DEPTH` chunks ahead; its failure is re-raised here."""
    handoff: queue.Queue[Chunk | BaseException | None] = queue.Queue(PIPELINE_DEPTH)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        handoff.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(None)
        except BaseException as exc:  # handed back to the consumer, never lost
            handoff.put(exc)

    worker = threading.Thread(target=produce, name="etl-parse", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _write_rejects(path: Path, rejects: Sequence[tuple[int, str, str]]) -> int:
    """Append the chunk's rejects; return the file size to journal."""
    with path.open("a", encoding="utf-8", errors="surrogateescape", newline="") as f:
        if rejects:
            csv.writer(f).writerows(rejects)
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def _insert_sql(spec: LoadSpec) -> str:
    names = ", ".join(c.quoted for c in spec.columns)
    marks = ", ".join(["%s"] * len(spec.columns))
    return f"INSERT INTO {spec.table} ({names}) VALUES ({marks})"


def _copy_sql(spec: LoadSpec, csv_format: bool, extra: str = "") -> str:
    names = ", ".join(c.quoted for c in spec.columns)
    options = f" (FORMAT csv{', ' + extra if extra else ''})" if csv_format else ""
    return f"COPY {spec.table} ({names}) FROM STDIN{options}"


def _write(copy: Any, payload: bytes | memoryview) -> None:
    view = memoryview(payload)
    for start in range(0, len(view), COPY_WRITE_BYTES):
        copy.write(view[start:start + COPY_WRITE_BYTES])


def _copy_checked(conn: Any, cur: Any, spec: LoadSpec, chunk: Chunk, first_line: int) -> None:
    """COPY with the server's checks; the rows it skipped become the chunk's rejects."""
    import psycopg

    skipped: dict[int, str] = {}

    def on_notice(diag: Any) -> None:
        if found := _SKIPPED.match(diag.message_primary or ""):
            skipped[int(found[1])] = found[2]

    conn.add_notice_handler(on_notice)
    try:
        with cur.copy(_copy_sql(spec, csv_format=True, extra=SERVER_CHECKS)) as copy:
            _write(copy, chunk.payload)
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        raise _Refused(str(exc)) from exc  # field count, quoting, encoding, NOT NULL
    finally:
        conn.remove_notice_handler(on_notice)
    chunk.server_rows = cur.rowcount
    if skipped:
        chunk.rejects = skipped_rows(spec, chunk.payload, first_line, skipped)
        if len(chunk.rejects) != len(skipped):
            raise _Refused(f"{len(skipped)} rows skipped, {len(chunk.rejects)} found")


def send_chunk(conn: Any, spec: LoadSpec, chunk: Chunk, point: Progress, rejects: Path) -> float:
    """Send one chunk and commit it with its journal row; return the seconds spent."""
    started = time.perf_counter()
    method = spec.impl.method
    with conn.cursor() as cur:
        if method == "insert":  # autocommit: each row its own transaction, as the guide's "before"
            sql = _insert_sql(spec)
            for row in chunk.rows:
                cur.execute(sql, row)
        elif method == "executemany":
            sql = _insert_sql(spec)
            batch: list[list[str | None]] = []
            for row in chunk.rows:
                batch.append(row)
                if len(batch) == EXECUTEMANY_BATCH:
                    cur.executemany(sql, batch)
                    batch.clear()  # reused, not reallocated
            if batch:
                cur.executemany(sql, batch)
        elif chunk.server_checks:
            _copy_checked(conn, cur, spec, chunk, point.line)
        elif chunk.payload:
            with cur.copy(_copy_sql(spec, csv_format=True)) as copy:
                _write(copy, chunk.payload)
            chunk.server_rows = cur.rowcount
        elif chunk.rows:
            with cur.copy(_copy_sql(spec, csv_format=False)) as copy:
                for row in chunk.rows:
                    copy.write_row(row)
        rejects_size = _write_rejects(rejects, chunk.rejects)
        cur.execute(INSERT_SQL, (spec.load_id, point.part.index, point.chunk, chunk.end_offset,
                                 chunk.end_line, chunk.loaded, len(chunk.rejects), rejects_size,
                                 point.part.start))
    if not conn.autocommit:
        conn.commit()
    append_file(spec.journal, {"load_id": spec.load_id, "part": point.part.index,
                               "chunk": point.chunk, "lines": [point.line, chunk.end_line],
                               "loaded": chunk.loaded, "rejected": len(chunk.rejects)})
    return time.perf_counter() - started


def rejects_part(rejects: Path, part: int) -> Path:
    return rejects.with_name(f"{rejects.name}.part{part}")


def load_part(
    spec: LoadSpec,
    point: Progress,
    on_chunk: Callable[[PartResult, Progress], None] | None = None,
) -> PartResult:
    """Load one part from where it stands. Runs in a worker process (or in-process)."""
    import psycopg

    transform = load_transform(spec.transform)
    part_rejects = rejects_part(spec.rejects, point.part.index)
    with part_rejects.open("a"):
        pass
    os.truncate(part_rejects, point.rejects_size)  # drop rejects of a chunk that never committed
    result = PartResult(point.part.index)
    try:
        conn = psycopg.connect(spec.dsn, autocommit=spec.impl.method == "insert")
    except psycopg.Error as exc:
        raise ServiceError(f"cannot connect to PostgreSQL: {exc}") from exc
    with conn:
        raw = spec.impl.method == "copy_raw" and transform is None
        if raw and spec.impl.server_checks and server_checks_usable(conn):
            chunks = server_chunks(spec, point)
        elif raw and spec.impl.fast_path and spec.impl.blocks:
            chunks = exact_chunks(spec, point)
        else:
            chunks = make_chunks(spec, point, transform)
        if spec.impl.pipeline:
            chunks = _pipelined(chunks)
        for chunk in chunks:
            result.read_s += chunk.read_s
            try:
                try:
                    result.load_s += send_chunk(conn, spec, chunk, point, part_rejects)
                except _Refused:  # nothing of it committed: the exact path redoes it
                    conn.rollback()
                    chunk = next(exact_chunks(spec, point))
                    result.read_s += chunk.read_s
                    result.load_s += send_chunk(conn, spec, chunk, point, part_rejects)
            except psycopg.Error as exc:
                first = exc.diag.message_primary or str(exc)
                raise ServiceError(
                    f"PostgreSQL refused chunk {point.chunk} of part {point.part.index} "
                    f"(lines {point.line}-{chunk.end_line - 1}): {first}",
                    hint="lines before it are committed; fix the cause and rerun with --resume",
                ) from exc
            result.rows_loaded += chunk.loaded
            result.rows_rejected += len(chunk.rejects)
            result.chunks += 1
            point.chunk += 1
            point.offset, point.line = chunk.end_offset, chunk.end_line
            point.rows += chunk.loaded
            point.rejected += len(chunk.rejects)
            if on_chunk is not None:
                on_chunk(result, point)
            if spec.max_rejects is not None and point.rejected > spec.max_rejects:
                raise InputError(
                    f"more than {spec.max_rejects} rejected rows (--max-rejects); "
                    f"see {spec.rejects}", path=str(spec.path), line=chunk.end_line - 1)
    return result
