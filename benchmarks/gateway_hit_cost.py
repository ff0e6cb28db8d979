"""A cache hit's Python cost in the gateway's own core, without sockets: chain or hit path.

    .venv/bin/python benchmarks/gateway_hit_cost.py [--requests 100000] [-n 3]

Feeds the same request bytes to one `HttpConnection` (a transport that keeps
nothing) over and over, with the cached route's body in the cache, for the
`batch-writes` step (the whole chain, with writes made at once here) and the
`hit-path` step. Alternated, median of n, microseconds per request. Under load
the difference is larger: see the README's `hit-path` step.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from perflab.gateway._app import Gateway
from perflab.gateway._config import parse_config
from perflab.gateway._impl import IMPLS
from perflab.gateway._server import HttpConnection

REQUEST = b"GET /cached/items HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
BODY = b'{"id": 1, "name": "user-00001", "score": 79.1}' * 20


class _Sink:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def per_request_us(impl: str, requests: int, loop: asyncio.AbstractEventLoop) -> float:
    config = parse_config({"route": [{"prefix": "/cached", "upstream": "http://127.0.0.1:9",
                                      "cache_ttl": 3600.0, "fields": ["id", "name", "score"]}]})
    gateway = Gateway(config, IMPLS[impl])
    gateway.cache.put("/cached/items?", BODY, 3600.0)
    conn = HttpConnection(gateway, loop, set())
    conn.connection_made(_Sink())
    started = time.perf_counter()
    for _ in range(requests):
        conn.data_received(REQUEST)
    seconds = time.perf_counter() - started
    gateway.metrics.gc.remove()
    assert gateway.metrics.cache_hits == requests
    return seconds / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("-n", type=int, default=3)
    opts = parser.parse_args()
    loop = asyncio.new_event_loop()
    seen: dict[str, list[float]] = {"batch-writes": [], "hit-path": []}
    for _ in range(opts.n):
        for impl in seen:
            seen[impl].append(per_request_us(impl, opts.requests, loop))
    loop.close()
    for impl, runs in seen.items():
        print(f"{impl:<13} {statistics.median(runs):.2f} µs per cached request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
