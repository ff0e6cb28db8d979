"""An ordered run over forked worker processes, for a CLI that must start fast.

`multiprocessing.Pool` spends tens of milliseconds before its first task runs
(its imports, then worker and thread start-up and teardown: the `processes`
step of the ladder, `perflab run --case search`, pays them). This does the one
thing the search needs with `os.fork` and pipes:

- the parent is worker 0, and `jobs - 1` forked children are the others;
- items are dealt round-robin (worker k takes items k, k+jobs, ...), which
  balances when items are many similar pieces, as `plan_tasks` makes them;
- each worker computes its item, then waits for its turn and *emits* the
  result itself (the search writes it straight to standard output), in item
  order: a token goes round a ring of pipes, worker k handing it to worker
  k+1 after emitting. Output never crosses a pipe to the parent, which with
  `-v` (all of the corpus printed) cost more than the second process gained
  (see benchmarks/search_peers.py). The token carries the little state that
  emitting shares (whether anything was printed yet);
- at the end each child hands the parent a small summary (the search's
  counts); a child that fails hands its error back instead, one that dies is
  reported as an error, never silently lost, and a closed output (`| head`)
  in a child is raised in the parent as the BrokenPipeError it is.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Sequence

TYPE_CHECKING = False  # importing `typing` slows start-up (benchmarks/startup.py); mypy only
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")
    R = TypeVar("R")

__all__ = ["WorkerDied", "fork_ordered"]

_HEADER = 8  # bytes of little-endian length before a child's summary
_FAILED = 1 << 63  # set in the header: the record is the worker's error message
_BROKEN = 1 << 62  # set in the header: the worker's output was closed (EPIPE)


class WorkerDied(RuntimeError):
    """A forked worker failed or ended without handing back its summary."""


class _Stopped(Exception):
    """The token ring broke: an earlier worker stopped, so nothing more may be emitted."""


def _turns(compute: Callable[[T], R], emit: Callable[[R, bytes], bytes], items: Sequence[T],
           first: int, step: int, token_in: int, token_out: int) -> None:
    last = len(items) - 1
    for i in range(first, len(items), step):
        result = compute(items[i])
        token = os.read(token_in, 64)
        if not token:
            raise _Stopped
        token = emit(result, token)
        if i < last:  # after the last item nobody waits (and its reader may be gone)
            os.write(token_out, token)


def _child(run: Callable[[], bytes], fd: int) -> None:
    status = 0
    try:
        try:
            record = run()
            header = len(record)
        except _Stopped:
            record, header = b"", 0  # another worker's record says why
        except BrokenPipeError:
            record, header, status = b"", _BROKEN, 1
        except BaseException as exc:  # hand the failure back to the parent
            record = f"{type(exc).__name__}: {exc}".encode(errors="replace")
            header, status = len(record) | _FAILED, 70
        os.write(fd, header.to_bytes(_HEADER, "little") + record)
    except OSError:
        status = status or 1  # the parent is gone: nothing left to say
    finally:
        os._exit(status)  # never run the parent's cleanup code in a forked child


def _read_exact(fd: int, size: int) -> bytes:
    parts = []
    while size > 0:
        part = os.read(fd, size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _summary(fd: int) -> bytes | None:
    """A child's summary; None when it stopped because another worker did."""
    header = _read_exact(fd, _HEADER)
    if len(header) < _HEADER:
        raise WorkerDied("a search worker ended without its results")
    size = int.from_bytes(header, "little")
    if size & _BROKEN:
        raise BrokenPipeError
    data = _read_exact(fd, size & ~_FAILED)
    if size & _FAILED:
        raise WorkerDied(f"a search worker failed: {data.decode(errors='replace')}")
    if len(data) < size:
        raise WorkerDied("a search worker ended without its results")
    return data if size or data else None


def fork_ordered(compute: Callable[[T], R], emit: Callable[[R, bytes], bytes],
                 items: Sequence[T], jobs: int, token: bytes,
                 summary: Callable[[], bytes]) -> list[bytes]:
    """`emit(compute(item), token)` for every item, in item order, over `jobs` processes.

    `compute` runs in parallel; `emit` runs one at a time, in item order, in
    the process that computed the item, and returns the token for the next
    (at most 64 bytes). The children's `summary()`, taken when they are done,
    is returned in worker order (the parent's own state is its own).
    """
    jobs = max(1, min(jobs, len(items)))
    ring = [os.pipe() for _ in range(jobs)]  # worker k reads ring[k], writes ring[k + 1]
    results: list[int] = []  # read ends of the children's summary pipes
    pids: list[int] = []
    finished = False
    os.write(ring[0][1], token)  # worker 0 (the parent) has the first turn
    try:
        for k in range(1, jobs):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                keep = {ring[k][0], ring[(k + 1) % jobs][1], write_fd}
                for fd in {*results, read_fd, *(fd for pair in ring for fd in pair)} - keep:
                    os.close(fd)

                def work(k: int = k) -> bytes:
                    _turns(compute, emit, items, k, jobs, ring[k][0], ring[(k + 1) % jobs][1])
                    return summary()

                _child(work, write_fd)
            os.close(write_fd)
            pids.append(pid)
            results.append(read_fd)
        keep = {ring[0][0], ring[1 % jobs][1]}
        for fd in {fd for pair in ring for fd in pair} - keep:
            os.close(fd)  # so a worker that dies closes the ring: the next one sees EOF
        ring = [(ring[0][0], ring[1 % jobs][1])]
        stopped = False
        try:
            _turns(compute, emit, items, 0, jobs, ring[0][0], ring[0][1])
        except _Stopped:
            stopped = True
        summaries = [_summary(fd) for fd in results]
        if stopped or None in summaries:
            raise WorkerDied("a search worker ended without its results")
        finished = True
        return [s for s in summaries if s is not None]
    finally:
        for fd in {*results, *(fd for pair in ring for fd in pair)}:
            with contextlib.suppress(OSError):
                os.close(fd)
        for pid in pids:
            if not finished:  # the consumer stopped early or failed: stop the others
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
