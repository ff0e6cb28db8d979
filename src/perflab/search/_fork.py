"""An ordered run over forked worker processes, for a CLI that must start fast.

`multiprocessing.Pool` spends tens of milliseconds before its first task runs
(its imports, then worker and thread start-up and teardown: the `processes`
step of the ladder, `perflab run --case search`, pays them). This does the one
thing the search needs with `os.fork` and pipes:

- the parent is worker 0, and `jobs - 1` forked children are the others;
- workers take items from a shared queue (a pipe of item indices, filled
  before forking), so a worker that gets less CPU on a busy machine takes
  fewer of them;
- each worker *emits* its results itself (the search writes them straight
  to standard output), in item order: a token naming the next item to emit
  goes round a ring of pipes, worker k handing it to worker k+1; a worker
  computes ahead while the token is elsewhere (up to `AHEAD` bytes of
  results held, as `weigh` counts them) and emits when it comes. Output
  never crosses a pipe to the parent, which with
  `-v` (all of the corpus printed) cost more than the second process gained
  (see benchmarks/search_peers.py). The token carries the little state that
  emitting shares (whether anything was printed yet);
- at the end each child hands the parent a small summary (the search's
  counts); a child that fails hands its error back instead, one that dies is
  reported as an error, never silently lost, and a closed output (`| head`)
  in a child is raised in the parent as the BrokenPipeError it is.
"""

from __future__ import annotations

import os

# `typing`, `collections.abc`, `contextlib` and `signal` (its enums) are imported by
# no search: this module runs before any worker starts (benchmarks/startup.py). mypy only:
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TypeVar

    T = TypeVar("T")
    R = TypeVar("R")

__all__ = ["WorkerDied", "fork_ordered"]

_HEADER = 8  # bytes of little-endian length before a child's summary
_FAILED = 1 << 63  # set in the header: the record is the worker's error message
_BROKEN = 1 << 62  # set in the header: the worker's output was closed (EPIPE)
# Bytes of results a worker may hold, computed but not yet emitted: a worker
# waits for its turn only past this. On a busy machine the worker holding the
# next item can be off the CPU for a while; a bound of a few items made the
# others wait for it (benchmarks/search_peers.py), while a search that prints
# little holds little.
AHEAD = 16 << 20
_TOKEN = 64  # bytes at most of the token `emit` hands on
_CLAIM = 4  # bytes of an item index in the queue of items to take
_SIGTERM = 15  # on every system with fork; `signal.SIGTERM` would import signal's enums
_CLAIMS = 8192  # records at most in that queue (a pipe holds 64 KiB): items go in blocks


class WorkerDied(RuntimeError):
    """A forked worker failed or ended without handing back its summary."""


class _Stopped(Exception):
    """The token ring broke: an earlier worker stopped, so nothing more may be emitted."""


def _take(claims: int, block: int, total: int) -> range:
    """The next items nobody has taken (empty when all are taken)."""
    record = os.read(claims, _CLAIM)
    if not record:
        return range(0)
    first = int.from_bytes(record, "little")
    return range(first, min(first + block, total))


def _turns(compute: Callable[[T], R], emit: Callable[[R, bytes], bytes], items: Sequence[T],
           claims: int, block: int, token_in: int, token_out: int,
           weigh: Callable[[R], int]) -> None:
    """Take items, compute them, and emit each when the token says it is next.

    Items are taken from a shared queue (a pipe of item indices), so a worker
    that gets less CPU takes fewer of them. The token carries the index of
    the next item to emit; a worker holding that item emits it (and any that
    follow in its hands), then hands the token on. A worker computes ahead
    while the token is elsewhere (`AHEAD` bytes at most) and looks for the
    token between items without waiting for it. (Dealing items round-robin
    and waiting for the turn after each one left a worker idle whenever the
    other was slower or off the CPU: benchmarks/search_peers.py.)
    """
    total = len(items)
    pending: dict[int, R] = {}  # computed, not yet emitted
    held = [0]  # their weight
    last = [False]  # whether this worker emitted the last item

    def turn(wait: bool, stop_at: int = -1) -> int:
        """Emit what the token allows and hand it on; the next index, or -1 without it."""
        if wait:
            os.set_blocking(token_in, True)
        try:
            message = os.read(token_in, 8 + _TOKEN)
        except BlockingIOError:
            return -1
        finally:
            if wait:
                os.set_blocking(token_in, False)
        if not message:
            raise _Stopped  # the worker before this one is gone
        n, token = int.from_bytes(message[:8], "little"), message[8:]
        while n in pending and n != stop_at:
            result = pending.pop(n)
            held[0] -= weigh(result)
            token = emit(result, token)
            n += 1
            last[0] = n == total
        if n != stop_at:
            try:
                os.write(token_out, n.to_bytes(8, "little") + token)
            except BrokenPipeError:
                raise _Stopped from None  # the next worker is gone
        return n

    os.set_blocking(token_in, False)
    n = -1
    while n < total and (taken := _take(claims, block, total)):
        for i in taken:
            try:
                pending[i] = result = compute(items[i])
                held[0] += weigh(result)
            except BaseException:
                # What comes before it goes out, in order; then this worker stops,
                # and so does the token when it comes back for this item.
                try:
                    while turn(True, stop_at=i) != i:
                        pass
                except _Stopped:
                    pass
                raise
            n = turn(held[0] >= AHEAD)  # too far ahead: wait for the turn
    while n < total:  # nothing left to take: emit what is held, hand the token on
        n = turn(True)
    # All is emitted, and the token goes once more round the ring, each worker
    # stopping after handing it on; the one that emitted the last item waits
    # for it to come back, so no worker writes to one that has stopped.
    if last[0]:
        os.set_blocking(token_in, True)
        os.read(token_in, 8 + _TOKEN)


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
                 summary: Callable[[], bytes],
                 weigh: Callable[[R], int] = lambda result: 1 << 20) -> list[bytes]:
    """`emit(compute(item), token)` for every item, in item order, over `jobs` processes.

    `compute` runs in parallel; `emit` runs one at a time, in item order, in
    the process that computed the item, and returns the token for the next
    (at most 64 bytes). The children's `summary()`, taken when they are done,
    is returned in worker order (the parent's own state is its own). `weigh`
    says how many bytes a result holds (by default each counts 1 MiB).
    """
    jobs = max(1, min(jobs, len(items)))
    ring = [os.pipe() for _ in range(jobs)]  # worker k reads ring[k], writes ring[k + 1]
    claims, claims_in = os.pipe()
    block = max(1, -(-len(items) // _CLAIMS))
    os.write(claims_in, b"".join(i.to_bytes(_CLAIM, "little")
                                 for i in range(0, len(items), block)))
    os.close(claims_in)  # taken all: the queue reads as empty
    results: list[int] = []  # read ends of the children's summary pipes
    pids: list[int] = []
    finished = False
    os.write(ring[0][1], (0).to_bytes(8, "little") + token)  # item 0 is next
    try:
        for k in range(1, jobs):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                keep = {ring[k][0], ring[(k + 1) % jobs][1], write_fd}
                for fd in {*results, read_fd, *(fd for pair in ring for fd in pair)} - keep:
                    os.close(fd)

                def work(k: int = k) -> bytes:
                    _turns(compute, emit, items, claims, block, ring[k][0],
                           ring[(k + 1) % jobs][1], weigh)
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
            _turns(compute, emit, items, claims, block, ring[0][0], ring[0][1], weigh)
        except _Stopped:
            stopped = True
        # Out of the ring before waiting for the children: a worker still waiting
        # for the token (another one stopped) sees the ring end instead of waiting
        # for ever on a parent that waits for it.
        for fd in ring[0]:
            os.close(fd)
        ring = []
        summaries = [_summary(fd) for fd in results]
        if stopped or None in summaries:
            raise WorkerDied("a search worker ended without its results")
        finished = True
        return [s for s in summaries if s is not None]
    finally:
        for fd in {claims, *results, *(fd for pair in ring for fd in pair)}:
            try:  # noqa: SIM105  # not contextlib.suppress: no contextlib import
                os.close(fd)
            except OSError:
                pass
        for pid in pids:
            if not finished:  # the consumer stopped early or failed: stop the others
                try:  # noqa: SIM105
                    os.kill(pid, _SIGTERM)
                except ProcessLookupError:
                    pass
            os.waitpid(pid, 0)
