"""Parallel parts from one reader: a compressed stream's windows fanned out to connections.

A `.gz` or `.zst` file cannot be split at byte offsets, but the server's parsing,
which is most of a load's time, can still run on several connections. The reader
(this thread) decompresses and cuts windows in order, as `server_chunks` does,
and hands each to the next idle sender; each sender COPYs its window in its own
transaction, then waits for its turn and commits in window order, so the
committed chunks are always a prefix of the stream and `--resume` works as for
one part. A window the server refuses is redone by the exact path in its turn.
If that redo ends before the window did (a stray quote moved the parity cut),
every later window in flight is rolled back and the stream is read again from
the committed point: rare, and it needs a second read, which is why standard
input keeps one sender.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perflab.errors import ServiceError
from perflab.etl._journal import Progress
from perflab.etl._loader import (
    Chunk,
    LoadSpec,
    PartResult,
    _copy_checked,
    _Refused,
    advance,
    check_max_rejects,
    commit_chunk,
    complete_rows,
    exact_chunks,
    send_chunk,
    server_chunks,
)

__all__ = ["fanout"]

POLL_S = 0.1  # how often a waiting reader looks for a sender's failure


class _Restart(Exception):
    """A redone window ended early: read the stream again from the committed point."""


class _Turn:
    """Commits in window order: sender of window `seq` waits until `next == seq`."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.next = 0
        self.error: BaseException | None = None
        self.restart = False

    @property
    def stopped(self) -> bool:
        return self.error is not None or self.restart

    def wait_for(self, seq: int) -> bool:
        with self.cond:
            self.cond.wait_for(lambda: self.next == seq or self.stopped)
            return not self.stopped

    def done(self, seq: int) -> None:
        with self.cond:
            if self.next == seq:
                self.next += 1
            self.cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self.cond:
            if self.error is None:
                self.error = exc
            self.cond.notify_all()


class _Sender(threading.Thread):
    def __init__(self, index: int, spec: LoadSpec, point: Progress, rejects: Path,
                 result: PartResult, turn: _Turn, idle: queue.Queue[_Sender],
                 on_chunk: Callable[[PartResult, Progress], None] | None) -> None:
        super().__init__(name=f"etl-send{index}", daemon=True)
        import psycopg

        self.spec, self.point, self.rejects, self.result = spec, point, rejects, result
        self.turn, self.idle, self.on_chunk = turn, idle, on_chunk
        self.inbox: queue.Queue[tuple[int, Chunk] | None] = queue.Queue(1)
        try:
            self.conn: Any = psycopg.connect(spec.dsn)
        except psycopg.Error as exc:
            raise ServiceError(f"cannot connect to PostgreSQL: {exc}") from exc
        if spec.upsert is not None:
            spec.upsert.prepare(self.conn)

    def run(self) -> None:
        try:
            while (item := self.inbox.get()) is not None:
                self._window(*item)
                self.idle.put(self)
        finally:
            self.conn.close()

    def _window(self, seq: int, chunk: Chunk) -> None:
        import psycopg

        spec, conn, point = self.spec, self.conn, self.point
        try:
            refused = False
            if not self.turn.stopped:
                try:
                    with conn.cursor() as cur:
                        _copy_checked(conn, cur, spec, chunk, chunk.start_line)
                except _Refused:
                    conn.rollback()
                    refused = True
            if not self.turn.wait_for(seq):
                conn.rollback()
                return
            self.result.read_s += chunk.read_s
            if not refused:
                commit_chunk(conn, spec, chunk, point, self.rejects)
                advance(self.result, point, chunk)
            else:
                data = bytes(chunk.payload)
                keep = len(data) if chunk.final else complete_rows(spec, data)
                for exact in exact_chunks(spec, point, data[:keep]):
                    self.result.load_s += send_chunk(conn, spec, exact, point, self.rejects)
                    advance(self.result, point, exact)
                if keep < len(data):
                    with self.turn.cond:
                        self.turn.restart = True
                        self.turn.cond.notify_all()
            if self.on_chunk is not None:
                self.on_chunk(self.result, point)
            check_max_rejects(spec, point, chunk)
        except psycopg.Error as exc:
            conn.rollback()
            first = exc.diag.message_primary or str(exc)
            self.turn.fail(ServiceError(
                f"PostgreSQL refused lines {chunk.start_line}-{chunk.end_line - 1}: {first}",
                hint="lines before it are committed; fix the cause and rerun with --resume"))
        except BaseException as exc:  # handed to the reader, never lost
            self.turn.fail(exc)
        finally:
            self.turn.done(seq)


def _next_idle(idle: queue.Queue[_Sender], turn: _Turn) -> _Sender | None:
    """The next idle sender; None once a sender has failed or asked for a restart."""
    while not turn.stopped:
        try:
            sender = idle.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if not turn.stopped:
            return sender
        idle.put(sender)
    return None


def _run(spec: LoadSpec, point: Progress, rejects: Path, result: PartResult,
         on_chunk: Callable[[PartResult, Progress], None] | None) -> None:
    turn = _Turn()
    idle: queue.Queue[_Sender] = queue.Queue()
    senders = [_Sender(i, spec, point, rejects, result, turn, idle, on_chunk)
               for i in range(spec.stream_workers)]
    for sender in senders:
        sender.start()
        idle.put(sender)
    windows = server_chunks(spec, point, follow=False)
    try:
        seq = 0
        # An idle sender first, then its window: no window waits in memory for a sender.
        while (free := _next_idle(idle, turn)) is not None:
            try:
                chunk = next(windows, None)
            except BaseException:
                idle.put(free)  # back, or the wait below for every sender never ends
                raise
            if chunk is None:
                idle.put(free)
                break
            free.inbox.put((seq, chunk))
            seq += 1
    finally:
        windows.close()  # type: ignore[attr-defined]  # a generator: closes the stream now
        for _ in senders:  # every sender back, idle: its window committed or rolled back
            idle.get()
        for sender in senders:
            sender.inbox.put(None)
        for sender in senders:
            sender.join()
    if turn.error is not None:
        raise turn.error
    if turn.restart:
        raise _Restart


def fanout(spec: LoadSpec, point: Progress, rejects: Path, result: PartResult,
           on_chunk: Callable[[PartResult, Progress], None] | None = None) -> None:
    """Load one stream part from `point` on through `spec.stream_workers` connections."""
    while True:
        before = point.offset
        try:
            _run(spec, point, rejects, result, on_chunk)
            return
        except _Restart:
            if point.offset > before:
                continue  # `point` is the committed point: read again from there
        # No progress: a row longer than a window. One reader, one connection, whose
        # windows grow until the row fits (server_chunks), takes the rest.
        import dataclasses

        from perflab.etl._loader import load_part

        point.rejects_size = rejects.stat().st_size if rejects.exists() else 0
        rest = load_part(dataclasses.replace(spec, stream_workers=1), point, on_chunk)
        for name in ("rows_loaded", "rows_rejected", "rows_updated", "rows_skipped", "chunks",
                     "read_s", "load_s"):
            setattr(result, name, getattr(result, name) + getattr(rest, name))
        return
