"""A request's Python cost in the gateway's own core, without sockets, step against step.

    .venv/bin/python benchmarks/gateway_request_cost.py [--requests 100000] [-n 3]

Feeds the same request bytes to one `HttpConnection` (a transport that keeps
nothing) over and over, alternating the ladder's steps, median of n,
microseconds per request:

- a cache hit (/cached/items in the cache): `batch-writes` (the whole chain)
  against `hit-path`;
- an upstream call (/api/items, fields selected): the upstream is a pooled
  connection fed the upstream service's own answer for /items after each
  request, for `one-worker`, `sweep-timeouts` and `miss-path`.

Without sockets there are no system calls here: under load each request also
costs the reads and writes on two connections. See the README's gateway steps.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import uvloop

from perflab.gateway._app import Gateway
from perflab.gateway._client import _Connection
from perflab.gateway._config import parse_config
from perflab.gateway._impl import IMPLS
from perflab.gateway._server import HttpConnection
from perflab.gateway._upstream import UpstreamApp

UPSTREAM = ("127.0.0.1", 9)
HIT = b"GET /cached/items HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
MISS = b"GET /api/items HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
STEPS = {"hit": ("batch-writes", "hit-path"),
         "miss": ("one-worker", "sweep-timeouts", "miss-path")}


class _Sink:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def _answer() -> bytes:
    body = UpstreamApp(20).all
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nserver: granian\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body))


def per_request_us(kind: str, impl: str, requests: int, loop: asyncio.AbstractEventLoop) -> float:
    config = parse_config({"route": [
        {"prefix": "/cached", "upstream": "http://127.0.0.1:9", "cache_ttl": 3600.0,
         "fields": ["id", "name", "score"]},
        {"prefix": "/api", "upstream": "http://127.0.0.1:9", "fields": ["id", "name", "score"]},
    ]})
    gateway = Gateway(config, IMPLS[impl])
    conn = HttpConnection(gateway, loop, set())
    conn.connection_made(_Sink())
    if kind == "hit":
        gateway.cache.put("/cached/items?", b'{"id": 1, "name": "u", "score": 7.9}' * 20, 3600.0)
        started = time.perf_counter()
        for _ in range(requests):
            conn.data_received(HIT)
        seconds = time.perf_counter() - started
        assert gateway.metrics.cache_hits == requests
    else:
        pool = gateway._raw_pool()
        pool.loop = loop  # as if started inside the loop
        upstream = _Connection(loop, 1 << 24)
        upstream.transport = _Sink()  # type: ignore[assignment]
        pool.idle[UPSTREAM] = [upstream]
        answer = _answer()
        started = time.perf_counter()
        for _ in range(requests):
            conn.data_received(MISS)
            upstream.data_received(answer)
        seconds = time.perf_counter() - started
        assert gateway.metrics.requests == {200: requests}
    gateway.metrics.gc.remove()
    return seconds / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("-n", type=int, default=3)
    opts = parser.parse_args()
    loop = uvloop.new_event_loop()  # the core's own loop: its timers cost what they cost there
    for kind, steps in STEPS.items():
        seen: dict[str, list[float]] = {impl: [] for impl in steps}
        for _ in range(opts.n):
            for impl in steps:
                seen[impl].append(per_request_us(kind, impl, opts.requests, loop))
        for impl, runs in seen.items():
            print(f"{kind:<5} {impl:<15} {statistics.median(runs):.2f} µs per request")
    loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
