"""An ordered map over forked worker processes, for a CLI that must start fast.

`multiprocessing.Pool` spends tens of milliseconds before its first task runs
(its imports, then worker and thread start-up and teardown: the `processes`
step of the ladder, `perflab run --case search`, pays them). This does the one
thing the search needs with `os.fork` and pipes:

- the parent is worker 0, and `jobs - 1` forked children are the others;
- items are dealt round-robin (worker k takes items k, k+jobs, ...), which
  balances when items are many similar pieces, as `plan_tasks` makes them;
- each child writes length-prefixed results to its own pipe, in item order;
  the parent yields results in item order, reading each child's pipe when its
  turn comes, so output is deterministic and memory stays bounded by the pipes;
- a child that fails hands its error back as a result; one that dies is
  reported as an error, never silently lost.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence

TYPE_CHECKING = False  # importing `typing` slows start-up (benchmarks/startup.py); mypy only
if TYPE_CHECKING:
    from typing import BinaryIO, TypeVar

    T = TypeVar("T")

__all__ = ["WorkerDied", "fork_map"]

_HEADER = 8  # bytes of little-endian length before each result
_FAILED = 1 << 63  # set in the header: the record is the worker's error message


class WorkerDied(RuntimeError):
    """A forked worker failed or ended without handing back all its results."""


def _child(fn: Callable[[T], bytes], items: Sequence[T], first: int, step: int, fd: int) -> None:
    status = 0
    try:
        with open(fd, "wb") as out:
            try:
                for i in range(first, len(items), step):
                    data = fn(items[i])
                    out.write(len(data).to_bytes(_HEADER, "little") + data)
                    out.flush()  # now: the parent is waiting for this very result
            except BrokenPipeError:
                raise
            except BaseException as exc:  # hand the failure back to the parent
                message = f"{type(exc).__name__}: {exc}".encode(errors="replace")
                out.write((len(message) | _FAILED).to_bytes(_HEADER, "little") + message)
                status = 70
    except BrokenPipeError:
        status = 1  # the parent stopped reading (e.g. `| head`): nothing left to say
    finally:
        os._exit(status)  # never run the parent's cleanup code in a forked child


def _read_result(pipe: BinaryIO) -> bytes:
    header = pipe.read(_HEADER)
    if len(header) < _HEADER:
        raise WorkerDied("a search worker ended without its results")
    size = int.from_bytes(header, "little")
    data = pipe.read(size & ~_FAILED)
    if size & _FAILED:
        raise WorkerDied(f"a search worker failed: {data.decode(errors='replace')}")
    if len(data) < size:
        raise WorkerDied("a search worker ended without its results")
    return data


def fork_map(fn: Callable[[T], bytes], items: Sequence[T], jobs: int) -> Iterator[bytes]:
    """`fn(item)` for every item, computed in `jobs` processes, yielded in order."""
    jobs = max(1, min(jobs, len(items)))
    pipes: list[BinaryIO] = []
    pids: list[int] = []
    finished = False
    try:
        for k in range(1, jobs):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                for pipe in pipes:
                    pipe.close()
                _child(fn, items, k, jobs, write_fd)
            os.close(write_fd)
            pids.append(pid)
            pipes.append(open(read_fd, "rb"))  # noqa: SIM115 - closed in finally
        for i, item in enumerate(items):
            k = i % jobs
            yield fn(item) if k == 0 else _read_result(pipes[k - 1])
        finished = True
    finally:
        for pipe in pipes:
            pipe.close()
        for pid in pids:
            if not finished:  # the consumer stopped early or failed: stop the others
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
