"""A request's Python cost in the gateway's own core, without sockets, step against step.

    .venv/bin/python benchmarks/gateway_request_cost.py [--requests 20000] [-n 3]

Feeds the case's request (its realistic head) to one `HttpConnection` whose
transport keeps nothing, over and over, alternating the ladder's own-core
steps, median of n, microseconds per request:

- hit: the cached route, answered from the cache;
- miss: the uncached route, /api/items with fields selected: the upstream is a
  pooled connection fed the upstream service's own answer (its six header
  fields and the 20-item body) after each request.

Without sockets there are no system calls here: under load each request also
costs the reads and writes on two connections, and the wake-ups between them.
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
from perflab.gateway._impl import DEFAULT, IMPLS, LADDER
from perflab.gateway._server import HttpConnection, Server
from perflab.gateway._upstream import ANSWER_HEADERS, UpstreamApp
from perflab.gateway.case import REQUEST_HEADERS

HEAD = "".join(f"{k}: {v}\r\n" for k, v in REQUEST_HEADERS.items()).encode()
HIT = b"GET /cached/items HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" + HEAD + b"\r\n"
MISS = b"GET /api/items HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" + HEAD + b"\r\n"
OWN_STEPS = [s.name for s in LADDER if s.server == "own"]


class Transport:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> tuple[str, int]:
        return ("127.0.0.1", 1)

    def close(self) -> None:
        raise AssertionError("closed: the benchmark's request was refused or failed")

    def pause_reading(self) -> None:
        raise AssertionError("paused: an answer did not come")

    def resume_reading(self) -> None:
        pass


def answer() -> bytes:
    body = UpstreamApp(20).all
    fields = b"".join(b"%s: %s\r\n" % h for h in ANSWER_HEADERS)
    return b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n%s" % (fields, len(body), body)


def measure(step: str, kind: str, requests: int) -> float:
    config = parse_config({"route": [
        {"prefix": "/api", "upstream": "http://127.0.0.1:9", "fields": ["id", "name", "score"]},
        {"prefix": "/cached", "upstream": "http://127.0.0.1:9", "cache_ttl": 3600.0,
         "fields": ["id", "name", "score"], "cache_authorized": True}]})
    upstream_answer = answer()

    async def run() -> float:
        loop = asyncio.get_running_loop()
        gateway = Gateway(config, IMPLS[step])
        gateway.start(loop)
        conn = HttpConnection(Server(gateway, loop))
        conn.connection_made(Transport())  # type: ignore[arg-type]
        route = next(r for r in gateway.routes
                     if r.prefix == ("/api" if kind == "miss" else "/cached"))
        up = _Connection(route.upstream)
        up.connection_made(Transport())  # type: ignore[arg-type]
        route.upstream.open = 1
        request = MISS if kind == "miss" else HIT
        for warm in (True, False):
            started = time.process_time()
            for _ in range(100 if warm else requests):
                up.idle_since = loop.time()
                if not route.upstream.idle:  # the pool had not been given it back yet
                    route.upstream.idle.append(up)
                conn.data_received(request)
                if up.call is not None:  # it went upstream: the upstream answers
                    up.data_received(upstream_answer)
                await asyncio.sleep(0)  # a loop round: batched writes are made
        return (time.process_time() - started) / requests * 1e6

    return uvloop.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("-n", type=int, default=3)
    parser.add_argument("--steps", nargs="*", default=OWN_STEPS)
    args = parser.parse_args()
    for kind in ("hit", "miss"):
        samples: dict[str, list[float]] = {s: [] for s in args.steps}
        for _ in range(args.n):
            for step in args.steps:  # alternated: drift spreads over every step
                samples[step].append(measure(step, kind, args.requests))
        for step in args.steps:
            mark = " (default)" if step == DEFAULT else ""
            print(f"{kind:4} {step:16} {statistics.median(samples[step]):6.1f} µs{mark}  "
                  f"({', '.join(f'{s:.1f}' for s in samples[step])})")


if __name__ == "__main__":
    main()
