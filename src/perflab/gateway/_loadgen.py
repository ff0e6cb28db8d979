"""`perflab gateway load`: HTTP/1.1 keep-alive load, open-loop or closed-loop.

Closed loop (no `rate`): each connection sends its next request when the last
answer arrives; the result is the maximum throughput. Open loop (`rate`):
request i is due at start + i/rate, whichever connection is free takes it,
and its latency counts from when it was due, not from when it was sent, so a
stalled server shows up in the tail instead of hiding (coordinated omission
corrected, as wrk2 does). A request whose connection was idle at its due time
counts from when it was sent instead: that lateness is the event loop timer's
(a millisecond of resolution under libuv), the generator's own, not the server's.
The client is a few lines of asyncio streams over
raw sockets: no HTTP library between the timer and the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from perflab.errors import UsageError
from perflab.measure import LatencyHistogram

__all__ = ["LoadResult", "run_load"]


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latency: dict[str, float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "seconds": self.seconds,
                "req_per_s": self.rate, **self.latency,
                "statuses": {str(k): v for k, v in self.statuses.items()}}


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status, and whether the server closes the connection after this response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    closing = b"\r\nconnection: close" in lower
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        await reader.readexactly(int(head[at + 17:end]))
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, closing


async def _load(url: str, connections: int, duration: float, rate: float | None,
                headers: dict[str, str]) -> LoadResult:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise UsageError(f"expected an http:// URL, got {url!r}")
    host, port = parts.hostname, parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n".encode()
    histogram = LatencyHistogram()
    statuses: dict[int, int] = {}
    errors = 0
    slots = itertools.count()
    start = time.perf_counter()
    deadline = start + duration

    async def connection() -> None:
        nonlocal errors
        reader = writer = None
        while True:
            if rate is not None:
                due = start + next(slots) / rate
                if due >= deadline:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                    # Idle when it was due: any lateness now is the timer's (libuv's
                    # resolution is a millisecond), not the server's, so it counts from here.
                    due = time.perf_counter()
            else:
                due = time.perf_counter()
                if due >= deadline:
                    break
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(request)
                status, closing = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.001)  # do not spin on a dead server
                continue
            histogram.record_ns(int((time.perf_counter() - due) * 1e9))
            statuses[status] = statuses.get(status, 0) + 1
            if closing:  # e.g. nginx's keepalive_requests: reconnect, not an error
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    return LoadResult(histogram.count, errors, elapsed, histogram.metrics(), statuses)


def run_load(url: str, *, connections: int = 64, duration: float = 10.0,
             rate: float | None = None, headers: dict[str, str] | None = None) -> LoadResult:
    if connections < 1 or duration <= 0 or (rate is not None and rate <= 0):
        raise UsageError("--connections, --duration and --rate must be positive")
    coro = _load(url, connections, duration, rate, headers or {})
    try:
        import uvloop  # the faster event loop: the generator must not be the bottleneck

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)
