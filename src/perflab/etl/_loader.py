"""The load: parse and validate (pure, in `make_chunks`), send (I/O, in `send_chunk`).

A part (the whole file, or one worker's byte range) is cut into chunks of
`batch_rows` rows. Each chunk is committed in one transaction with its
journal row, after its rejects are written, so the journal, the table and the
rejects file always agree: `--resume` continues exactly where the commits end.

Workers are forked processes, one per part, each with its own connection; a
worker's failure comes back to the parent as a message, never silently.

A chunk the server refuses for a row-level reason is never lost whole: a
server-checked window is redone by the Python checks, and a Python-checked
chunk is halved under savepoints until each bad row stands alone (`isolate`).
"""

from __future__ import annotations

import csv
import importlib
import io
import os
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.errors import InputError, ServiceError, UsageError
from perflab.etl._catalog import Mapping
from perflab.etl._csv import Dialect, csv_rows, row_boundary
from perflab.etl._fastpath import row_pattern, rows_pattern
from perflab.etl._impl import Impl
from perflab.etl._journal import INSERT_SQL, Progress, append_file
from perflab.etl._reader import TextCursor, open_range
from perflab.etl._source import Source
from perflab.etl._types import Column, RowError, checks_for, validate_row
from perflab.etl._upsert import Upsert

__all__ = ["Chunk", "LoadSpec", "PartResult", "load_part", "make_chunks"]

# Rows of one executemany call: the guide's preallocated batch.
EXECUTEMANY_BATCH = 1000
# Bytes of raw CSV handed to one copy.write call.
COPY_WRITE_BYTES = 256 * 1024
# Raw rows are sent as UTF-8; bytes that were not UTF-8 only ever reach a reject.
_SURROGATES = ("utf-8", "surrogateescape")
# Row-level errors: a chunk refused for one of these is split until the row is found.
_ROW_SQLSTATE_CLASSES = ("22", "23")
# Chunks parsed ahead of the sender in pipeline mode: bounded, so memory is too.
PIPELINE_DEPTH = 2
# Server checks: a row whose field an input function refuses is skipped, with a notice
# naming its line in the chunk (exact until a row spans several lines) and the column.
SERVER_CHECKS = "ON_ERROR ignore, LOG_VERBOSITY verbose"
_SKIPPED = re.compile(r'skipping row due to data type incompatibility at line (\d+) '
                      r'for column "(.*?)": ')

Transform = Callable[[list[str]], list[str]]


@dataclass(frozen=True)
class LoadSpec:
    """Everything a worker needs; plain data, so it crosses a fork unchanged."""

    source: Source
    table: str  # already quoted for SQL
    mapping: Mapping  # the file's fields onto table columns (COPY t (cols))
    dialect: Dialect
    dsn: str
    impl: Impl
    batch_rows: int
    load_id: str
    rejects: Path
    journal: Path  # the human-readable copy of the journal, next to the rejects file
    max_rejects: int | None = None
    transform: str | None = None  # module:function
    upsert: Upsert | None = None
    stream_workers: int = 1  # connections one stream's windows are fanned out to (_fanout)

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.mapping.fields

    @property
    def raw_ok(self) -> bool:
        """Rows can be forwarded as their text: no field to drop, no transform."""
        return not self.mapping.drop and self.transform is None

    def nbytes(self, text: str) -> int:
        """Bytes of `text` in the file's encoding (offsets are in the file's bytes)."""
        if text.isascii():
            return len(text)
        return len(text.encode(self.dialect.codec, "surrogateescape"))


@dataclass
class Chunk:
    rows: list[list[str | None]] = field(default_factory=list)  # for INSERT / write_row
    raw_rows: list[str] = field(default_factory=list)  # the text of each of `rows`
    raw: list[str] = field(default_factory=list)  # for COPY ... CSV
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # line, reason, raw
    starts: list[int] = field(default_factory=list)  # first line of each raw piece / row
    payload: bytes | memoryview = b""  # the raw rows as bytes, once the chunk is complete
    count_on_server: bool = False  # loaded = COPY's row count (rows matched in bulk)
    server_checks: bool = False  # payload unchecked: the server skips and names bad rows
    server_rows: int = 0
    final: bool = True  # a server window that ends the part (its last row is complete)
    updated: int = 0  # upsert: rows that updated an existing row
    skipped: int = 0  # upsert: rows skipped on a conflict (--on-conflict nothing)
    end_offset: int = 0
    end_line: int = 0
    start_line: int = 0  # server windows: the line the window starts on
    read_s: float = 0.0

    @property
    def accepted(self) -> int:
        if self.count_on_server:
            return self.server_rows
        return len(self.rows) + len(self.raw)

    @property
    def loaded(self) -> int:
        """Rows in the table because of this chunk: inserted or updated."""
        return self.accepted - self.skipped


@dataclass
class PartResult:
    part: int
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_updated: int = 0
    rows_skipped: int = 0
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


def _text(spec: LoadSpec, point: Progress, data: bytes | None) -> io.TextIOWrapper:
    """The part's text from where it stands, or the text of `data` (a refused window)."""
    if data is not None:
        return open_range(None, 0, None, 0, spec.dialect, io.BytesIO(data))
    if spec.source.splittable:
        return open_range(spec.source.path, point.offset, point.part.end,
                          spec.impl.buffer_size, spec.dialect)
    return open_range(None, 0, None, 0, spec.dialect, spec.source.open(point.offset))


def make_chunks(spec: LoadSpec, point: Progress, transform: Transform | None,
                data: bytes | None = None) -> Iterator[Chunk]:
    """Parse and validate one part from where it stands; yield chunks ready to send."""
    columns = spec.columns
    checks = checks_for(columns)
    raw_mode = spec.impl.method == "copy_raw" and spec.raw_ok
    pattern = row_pattern(columns, spec.dialect) if raw_mode and spec.impl.fast_path else None
    offset, line = point.offset, point.line
    with _text(spec, point, data) as text:
        rows = _rows_with_fast(spec.dialect, iter(text), line,
                               pattern.fullmatch if pattern else None)
        while True:
            started = time.perf_counter()
            chunk = Chunk()
            taken = 0
            raw = ""
            for line, fields, raw, error in rows:
                taken += 1
                offset += spec.nbytes(raw)
                if error is None and fields is not None:
                    try:
                        if spec.mapping.drop:
                            fields = spec.mapping.keep(fields)
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
                    chunk.starts.append(line)
                else:
                    chunk.rows.append(list(fields or ()))
                    chunk.raw_rows.append(raw)
                    chunk.starts.append(line)
                if taken >= spec.batch_rows:
                    break
            if taken == 0:
                return
            if raw_mode:
                chunk.payload = _utf8("".join(chunk.raw))
            chunk.end_offset = offset
            chunk.end_line = line + raw.count("\n") + (0 if raw.endswith("\n") else 1)
            chunk.read_s = time.perf_counter() - started
            yield chunk
            if taken < spec.batch_rows:
                return


def _utf8(text: str) -> bytes:
    """Validated raw rows as UTF-8: every row with an undecodable byte was rejected."""
    if not text.endswith("\n") and text:
        text += "\n"
    return text.encode(*_SURROGATES)


def _rows_with_fast(d: Dialect, lines: Iterator[str], first_line: int,
                    fast: Callable[[str], object] | None) -> Iterator[tuple[int, Any, str, Any]]:
    """`csv_rows`, with `fast` accepting whole lines before any parsing (see _fastpath).

    A line (or lines, while a quote is open) that `fast` refuses goes back in front
    of the stream, and the exact reader takes one row from there.
    """
    if fast is None:
        yield from csv_rows(d, lines, first_line)
        return
    pending: deque[str] = deque()

    def feed() -> Iterator[str]:
        while True:
            nxt = pending.popleft() if pending else next(lines, None)
            if nxt is None:
                return
            yield nxt

    exact = csv_rows(d, feed(), first_line)
    q = d.quote
    line = first_line
    while True:
        text = pending.popleft() if pending else next(lines, None)
        if text is None:
            return
        taken = [text]
        quotes = text.count(q)
        while quotes % 2:  # a quote left open: the row goes on over the next lines
            more = pending.popleft() if pending else next(lines, None)
            if more is None:
                break
            taken.append(more)
            quotes += more.count(q)
        joined = "".join(taken) if len(taken) > 1 else text
        if fast(joined):
            yield line, None, joined, None
            line += len(taken)
            continue
        pending.extendleft(reversed(taken))  # the exact reader parses them, in order
        row = next(exact, None)
        if row is None:
            return
        _, fields, raw, error = row
        yield line, fields, raw, error
        line += raw.count("\n") + (0 if raw.endswith("\n") else 1)


def block_chunks(spec: LoadSpec, point: Progress, data: bytes | None = None) -> Iterator[Chunk]:
    """Beyond the guide: valid rows matched many at a time, in C, with no Python per row.

    One regex, `(?:ROW\\n)*`, consumes the longest run of certainly-valid rows
    from the text window; only where it stops does Python take one row through
    the exact reader and checks. Rows are counted by the server (COPY's row
    count) and lines with `str.count`; a chunk holds about `batch_rows` lines.
    """
    columns = spec.columns
    checks = checks_for(columns)
    many = rows_pattern(columns, spec.dialect)
    assert many is not None
    offset, line = point.offset, point.line
    with _text(spec, point, data) as text:
        cursor = TextCursor(text)

        def feed() -> Iterator[str]:
            while (nxt := cursor.next_line()) is not None:
                yield nxt

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
                    chunk.starts.append(line + lines)
                    lines += piece.count("\n")
                    cursor.pos = end
                    continue
                # One row the fast pattern does not vouch for: the exact path.
                row = next(csv_rows(spec.dialect, feed(), line + lines), None)
                if row is None:
                    break
                row_line, fields, raw, error = row
                lines += raw.count("\n") + (0 if raw.endswith("\n") else 1)
                if error is None:
                    try:
                        validate_row(fields or [], columns, checks)
                    except RowError as exc:
                        where = f" (column {exc.column})" if exc.column else ""
                        error = exc.reason + where
                if error is None:
                    chunk.raw.append(raw if raw.endswith("\n") else raw + "\n")
                    chunk.starts.append(row_line)
                else:
                    chunk.rejects.append((row_line, error, raw))
            if lines == 0:
                return
            text_rows = "".join(chunk.raw)
            chunk.payload = _utf8(text_rows)
            offset += spec.nbytes(text_rows) + sum(spec.nbytes(r[2]) for r in chunk.rejects)
            line += lines
            chunk.end_offset, chunk.end_line = offset, line
            chunk.read_s = time.perf_counter() - started
            chunk.count_on_server = True
            yield chunk


def server_chunks(spec: LoadSpec, point: Progress, follow: bool = True) -> Iterator[Chunk]:
    """Beyond the guide: raw bytes cut at row boundaries; PostgreSQL checks the rows.

    No Python per row at all. The part is read once, in order: each window is the
    bytes left over after the previous cut and the next read, cut after its last
    complete row (quote parity, or the dialect's boundary regex). A compressed file
    or a pipe is read the same way, from its decompressing stream. Never pipelined:
    after each chunk it goes on from `point`, which the caller has advanced. With
    `follow=False` (windows fanned out to several senders, `_fanout`) it goes on after
    each whole window, and each window's bytes are its own (the buffer is reused).

    With `follow=True` a chunk's payload is a view of the buffer: valid until the
    caller asks for the next chunk, when the leftover bytes move to the front.
    """
    part = point.part
    d = spec.dialect
    window_size = spec.batch_rows * 256  # a first guess; then the measured row size
    # One buffer, reused: each chunk is sent before the next is read, and fresh
    # memory for every window cost more in page faults than the read itself.
    buffer = bytearray(window_size)
    held = 0  # bytes at the front of `buffer` left over from the previous window
    end = part.end if spec.source.splittable else None
    offset, line = point.offset, point.line
    stream = spec.source.open(offset)
    with stream:
        eof = False
        while True:
            started = time.perf_counter()
            if len(buffer) < window_size:
                # New memory, never a resize: views of the buffer (the last payload, with
                # follow=True) forbid resizing it, and the old one lives while they do.
                grown = bytearray(window_size)
                grown[:held] = memoryview(buffer)[:held]
                buffer = grown
            want = window_size - held
            if end is not None:
                want = min(want, end - offset - held)
            got = 0
            view = memoryview(buffer)
            while got < want:  # fill the window (a stream may return short reads)
                n = stream.readinto(view[held + got:held + want])
                if not n:
                    eof = True
                    break
                got += n
            size = held + got
            if end is not None and offset + size >= end:
                eof = True
            if size == 0:
                return
            cut = size if eof else row_boundary(d, buffer, size)
            if cut is None:  # no row ends in the window: a huge row, or broken quoting
                if window_size < (64 << 20):  # a larger window first: larger than it holds
                    held, window_size = size, max(window_size, size) * 2
                    continue
                cut = size  # the exact path reads it as it is
            lines = buffer.count(b"\n", 0, cut) + (0 if buffer[cut - 1] == 10 else 1)
            window_size = max(4096, spec.batch_rows * cut // max(lines, 1))
            chunk = Chunk(payload=view[:cut] if follow else bytes(view[:cut]),
                          count_on_server=True, server_checks=True, end_offset=offset + cut,
                          end_line=line + lines, start_line=line, final=eof and cut == size,
                          read_s=time.perf_counter() - started)
            yield chunk
            if not follow:
                point = Progress(point.part)
                point.offset, point.line = offset + cut, line + lines
            # The caller advanced `point` past what it committed: all of the window, or
            # (when the exact path redid it) its complete rows only. Go on from there.
            consumed = point.offset - offset
            if consumed <= 0:  # not one complete row in the window: a larger one, which
                # must hold more than this one did (window_size was just set from the row
                # size, maybe below `size`), or the same window comes round again forever.
                held, window_size = size, max(window_size, size) * 2
                continue
            offset, line = point.offset, point.line
            held = size - consumed
            buffer[:held] = buffer[consumed:size]
            if eof and held == 0:
                return


def exact_chunks(spec: LoadSpec, point: Progress, data: bytes | None = None) -> Iterator[Chunk]:
    """The chunks of the Python checks, from `point` on (or over `data`): regex blocks if any."""
    if spec.raw_ok and row_pattern(spec.columns, spec.dialect) is not None:
        return block_chunks(spec, point, data)
    return make_chunks(spec, point, load_transform(spec.transform), data)


def skipped_rows(spec: LoadSpec, payload: bytes | memoryview, first_line: int,
                 skipped: dict[int, str]) -> list[tuple[int, str, str]]:
    """The rows the server skipped, as rejects: line, the exact checks' reason, raw text.

    `skipped` maps the server's line number of each row (1-based in the chunk) to the
    column it named. That number is the row's line only while no earlier row spans
    several lines (the server counts newlines inside quotes loosely): past such a
    row the chunk is refused, and the exact path decides. Only chunks with skipped
    rows pay for this parse.
    """
    checks = checks_for(spec.columns)
    text = bytes(payload).decode(spec.dialect.codec, "surrogateescape")
    lines = io.StringIO(text, newline="")
    rejects: list[tuple[int, str, str]] = []
    for line, fields, raw, error in csv_rows(spec.dialect, iter(lines), 1):
        if len(rejects) == len(skipped):
            break
        if error is not None:
            raise _Refused(error)  # quoting the server let pass: the exact path decides
        if raw.count("\n") > 1 or (raw.count("\n") == 1 and not raw.endswith("\n")):
            raise _Refused("a row of several lines: the server's line numbers are loose")
        if line in skipped:
            try:
                validate_row(fields or [], spec.columns, checks)
                kind = next((c.type for c in spec.columns if c.name == skipped[line]), "?")
                reason = f"refused by PostgreSQL (column {skipped[line]}, type {kind})"
            except RowError as exc:
                reason = exc.reason + (f" (column {exc.column})" if exc.column else "")
            rejects.append((first_line + line - 1, reason, raw))
    return rejects


def complete_rows(spec: LoadSpec, data: bytes) -> int:
    """Bytes of the complete rows at the start of `data`, as the exact reader reads them.

    Only the row that runs to the end of `data` unfinished (no newline, or a quoted
    section still open) may go on past the window. A row rejected as unterminated
    before the end (`""a,"`: the reader rejects that line alone) is complete: counting
    it as unfinished once gave a window that never grew and a load that never ended.
    """
    text = io.StringIO(data.decode(spec.dialect.codec, "surrogateescape"), newline="")
    done = 0
    for _, _, raw, error in csv_rows(spec.dialect, iter(text), 1):
        size = spec.nbytes(raw)
        if done + size >= len(data) and (
                error == "bad quoting: unterminated quoted field" or not raw.endswith("\n")):
            break  # it goes on past the window
        done += size
    return done


class _Refused(Exception):
    """The server refused a server-checked chunk whole, or its notices did not add up.

    Control flow inside `load_part` only (the exact path takes the chunk over): it never
    reaches a user, so it stays outside the PerflabError tree.
    """


def server_checks_usable(conn: Any, spec: LoadSpec) -> bool:
    """ON_ERROR needs PostgreSQL 17; the notices are read in English; the encoding must
    be one the server converts."""
    messages = conn.execute("SHOW lc_messages").fetchone()[0]
    conn.rollback()
    return bool(conn.info.server_version >= 170000 and spec.dialect.pg_encoding and (
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
            csv.writer(f).writerows(sorted(rejects))
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def _insert_sql(spec: LoadSpec) -> str:
    names = ", ".join(c.quoted for c in spec.columns)
    marks = ", ".join(["%s"] * len(spec.columns))
    return f"INSERT INTO {spec.table} ({names}) VALUES ({marks})"


def _copy_sql(spec: LoadSpec, csv_format: bool, extra: str = "", encoding: bool = False) -> str:
    names = ", ".join(c.quoted for c in spec.columns)
    target = spec.upsert.stage if spec.upsert else spec.table
    if not csv_format:
        return f"COPY {target} ({names}) FROM STDIN"
    options = spec.dialect.copy_options(encoding=encoding)
    return f"COPY {target} ({names}) FROM STDIN ({options}{', ' + extra if extra else ''})"


def _write(copy: Any, payload: bytes | memoryview) -> None:
    view = memoryview(payload)
    for start in range(0, len(view), COPY_WRITE_BYTES):
        copy.write(view[start:start + COPY_WRITE_BYTES])


def _merge(cur: Any, spec: LoadSpec, chunk: Chunk, staged: int) -> None:
    """Upsert: the staged rows into the table; counts the updated and skipped ones."""
    if spec.upsert is None:
        return
    inserted, updated = spec.upsert.merge(cur, staged)
    chunk.updated = updated
    chunk.skipped = staged - inserted - updated


def _copy_checked(conn: Any, cur: Any, spec: LoadSpec, chunk: Chunk, first_line: int) -> None:
    """COPY with the server's checks; the rows it skipped become the chunk's rejects."""
    import psycopg

    skipped: dict[int, str] = {}

    def on_notice(diag: Any) -> None:
        if found := _SKIPPED.match(diag.message_primary or ""):
            skipped[int(found[1])] = found[2]

    conn.add_notice_handler(on_notice)
    try:
        with cur.copy(_copy_sql(spec, csv_format=True, extra=SERVER_CHECKS,
                                encoding=True)) as copy:
            _write(copy, chunk.payload)
        chunk.server_rows = cur.rowcount
        _merge(cur, spec, chunk, chunk.server_rows)
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        raise _Refused(str(exc)) from exc  # field count, quoting, encoding, NOT NULL
    finally:
        conn.remove_notice_handler(on_notice)
    if skipped:
        chunk.rejects = skipped_rows(spec, chunk.payload, first_line, skipped)
        if len(chunk.rejects) != len(skipped):
            raise _Refused(f"{len(skipped)} rows skipped, {len(chunk.rejects)} found")


def _units(spec: LoadSpec, chunk: Chunk) -> list[tuple[int, str, list[str | None] | None]]:
    """The chunk's accepted rows one by one: (line, raw text, fields or None)."""
    if chunk.rows:
        return [(line, raw, fields) for line, raw, fields
                in zip(chunk.starts, chunk.raw_rows, chunk.rows, strict=True)]
    out: list[tuple[int, str, list[str | None] | None]] = []
    for first, piece in zip(chunk.starts, chunk.raw, strict=True):
        for line, _, raw, _ in csv_rows(spec.dialect, iter(io.StringIO(piece, newline="")),
                                        first):
            out.append((line, raw, None))
    return out


def _apply(cur: Any, spec: LoadSpec, chunk: Chunk,
           units: list[tuple[int, str, list[str | None] | None]] | None = None) -> None:
    """COPY the chunk's accepted rows (all, or `units` of them); upsert merges them."""
    if units is not None and units and units[0][2] is None:
        payload: bytes | memoryview = _utf8("".join(u[1] for u in units))
    else:
        payload = chunk.payload
    rows = [u[2] for u in units] if units is not None and units and units[0][2] is not None \
        else (chunk.rows if units is None else [])
    if rows:
        with cur.copy(_copy_sql(spec, csv_format=False)) as copy:
            for row in rows:
                copy.write_row(row)
    elif payload:
        with cur.copy(_copy_sql(spec, csv_format=True)) as copy:
            _write(copy, payload)
    else:
        chunk.server_rows = 0
        return
    chunk.server_rows = cur.rowcount
    _merge(cur, spec, chunk, cur.rowcount)


def _row_level(exc: BaseException) -> bool:
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in _ROW_SQLSTATE_CLASSES


def isolate(conn: Any, spec: LoadSpec, chunk: Chunk) -> None:
    """The server refused a checked chunk: find its bad rows by halving, under savepoints.

    For what no Python check can see (a unique or foreign key, a CHECK, a value the
    server's wider syntax refuses): each bad row is rejected alone with the server's
    message; the others are loaded. About 2 log2(n) COPYs per bad row.
    """
    import psycopg

    units = _units(spec, chunk)
    accepted = updated = skipped = 0
    stack = [units]
    with conn.cursor() as cur:
        while stack:
            group = stack.pop()
            if not group:
                continue
            cur.execute("SAVEPOINT perflab_isolate")
            try:
                _apply(cur, spec, chunk, group)
            except psycopg.Error as exc:
                if not _row_level(exc):
                    raise
                cur.execute("ROLLBACK TO SAVEPOINT perflab_isolate")
                if len(group) == 1:
                    line, raw, _ = group[0]
                    message = exc.diag.message_primary or str(exc)
                    chunk.rejects.append((line, f"refused by PostgreSQL: {message}", raw))
                else:
                    half = len(group) // 2
                    stack += [group[half:], group[:half]]
                continue
            cur.execute("RELEASE SAVEPOINT perflab_isolate")
            accepted += chunk.server_rows
            updated += chunk.updated
            skipped += chunk.skipped
    chunk.count_on_server = True
    chunk.server_rows, chunk.updated, chunk.skipped = accepted, updated, skipped


def send_chunk(conn: Any, spec: LoadSpec, chunk: Chunk, point: Progress, rejects: Path) -> float:
    """Send one chunk and commit it with its journal row; return the seconds spent."""
    import psycopg

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
        else:
            try:
                _apply(cur, spec, chunk)
                if not chunk.rows:
                    chunk.count_on_server = True
            except psycopg.Error as exc:
                if not _row_level(exc):
                    raise
                conn.rollback()
                isolate(conn, spec, chunk)
    commit_chunk(conn, spec, chunk, point, rejects)
    return time.perf_counter() - started


def commit_chunk(conn: Any, spec: LoadSpec, chunk: Chunk, point: Progress,
                 rejects: Path) -> None:
    """The chunk's rejects, then its journal row and its rows in one commit."""
    with conn.cursor() as cur:
        rejects_size = _write_rejects(rejects, chunk.rejects)
        cur.execute(INSERT_SQL, (spec.load_id, point.part.index, point.chunk, chunk.end_offset,
                                 chunk.end_line, chunk.loaded, len(chunk.rejects), rejects_size,
                                 point.part.start, chunk.updated, chunk.skipped))
    if not conn.autocommit:
        conn.commit()
    append_file(spec.journal, {"load_id": spec.load_id, "part": point.part.index,
                               "chunk": point.chunk, "lines": [point.line, chunk.end_line],
                               "loaded": chunk.loaded, "rejected": len(chunk.rejects)})


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
        if spec.upsert is not None:
            spec.upsert.prepare(conn)
        raw = spec.impl.method == "copy_raw" and spec.raw_ok
        if raw and spec.impl.server_checks and server_checks_usable(conn, spec):
            if spec.stream_workers > 1:
                from perflab.etl._fanout import fanout

                fanout(spec, point, part_rejects, result, on_chunk)
                return result
            chunks = server_chunks(spec, point)  # never pipelined: payloads share a buffer
        else:
            if raw and spec.impl.fast_path and spec.impl.blocks:
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
                    sent = [chunk]
                except _Refused:  # nothing of it committed: the exact path redoes its bytes
                    conn.rollback()
                    sent = []
                    data = bytes(chunk.payload)
                    if not chunk.final:  # a window cut by quote parity, which a bad row
                        data = data[:complete_rows(spec, data)]  # breaks: whole rows only
                    for exact in exact_chunks(spec, point, data):
                        result.read_s += exact.read_s
                        result.load_s += send_chunk(conn, spec, exact, point, part_rejects)
                        advance(result, point, exact)
            except psycopg.Error as exc:
                first = exc.diag.message_primary or str(exc)
                raise ServiceError(
                    f"PostgreSQL refused chunk {point.chunk} of part {point.part.index} "
                    f"(lines {point.line}-{chunk.end_line - 1}): {first}",
                    hint="lines before it are committed; fix the cause and rerun with --resume",
                ) from exc
            for done in sent:
                advance(result, point, done)
            if on_chunk is not None:
                on_chunk(result, point)
            check_max_rejects(spec, point, chunk)
    return result


def check_max_rejects(spec: LoadSpec, point: Progress, chunk: Chunk) -> None:
    if spec.max_rejects is not None and point.rejected > spec.max_rejects:
        raise InputError(
            f"more than {spec.max_rejects} rejected rows (--max-rejects); "
            f"see {spec.rejects}", path=spec.source.name, line=chunk.end_line - 1)


def advance(result: PartResult, point: Progress, chunk: Chunk) -> None:
    result.rows_loaded += chunk.loaded
    result.rows_rejected += len(chunk.rejects)
    result.rows_updated += chunk.updated
    result.rows_skipped += chunk.skipped
    result.chunks += 1
    point.chunk += 1
    point.offset, point.line = chunk.end_offset, chunk.end_line
    point.rows += chunk.loaded
    point.rejected += len(chunk.rejects)
    point.updated += chunk.updated
    point.skipped += chunk.skipped
