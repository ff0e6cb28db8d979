"""The ladder of `perflab gateway serve`: each variant is the step before it with one change."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = ["DEFAULT", "IMPLS", "LADDER", "Impl"]


@dataclass(frozen=True)
class Impl:
    name: str
    description: str
    fast_json: bool  # orjson instead of the stdlib json module
    pooled_buffers: bool  # request bodies gathered in reused bytearrays
    pool: bool  # keep-alive upstream connections instead of one per request
    flat: bool  # middleware as a flat list of hooks instead of nested coroutines
    cache: bool  # the bounded TTL response cache
    server: str  # "uvicorn" | "granian" | "httptools" (the gateway's own core, _server.py)
    workers: int
    gc_freeze: bool  # move start-up objects out of the collector's reach (gc.freeze)
    raw_client: bool  # a minimal HTTP/1.1 pool on asyncio streams instead of aiohttp
    interface: str  # "rsgi" (granian's own interface) or "asgi" (uvicorn speaks only ASGI)
    picker: bool  # field selection decodes only the kept fields (msgspec structs)
    protocol_client: bool  # the upstream pool on asyncio protocols, not streams
    counter_ids: bool  # request ids from a per-worker counter instead of uuid4
    skip_empty_body: bool  # a request without a body header is not waited on for a body
    callbacks: bool  # own core only: upstream calls finish in callbacks, not in a task
    batch_writes: bool  # own core only: a loop round's socket writes made together at its end
    hit_path: bool  # own core only: a cache hit answered in one call, no Request or Response
    sweep_timeouts: bool  # own core only: upstream deadlines checked by one timer, not one each
    miss_path: bool  # own core only: an upstream call without a body in a few calls, no Request


def _ladder() -> tuple[Impl, ...]:
    steps = [Impl("baseline", "stdlib json, a new upstream connection per request, nested "
                  "middleware, no cache, uvicorn", fast_json=False, pooled_buffers=False,
                  pool=False, flat=False, cache=False, server="uvicorn", workers=1,
                  gc_freeze=False, raw_client=False, interface="asgi", picker=False,
                  protocol_client=False, counter_ids=False,
                  skip_empty_body=False, callbacks=False,
                  batch_writes=False, hit_path=False, sweep_timeouts=False,
                  miss_path=False)]

    def then(name: str, description: str, **change: Any) -> None:
        steps.append(replace(steps[-1], name=name, description=description, **change))

    then("fast-json", "orjson", fast_json=True)
    then("pooled-buffers", "reuse request-body buffers (sync.Pool)", pooled_buffers=True)
    then("conn-pool", "keep-alive upstream connection pool", pool=True)
    then("flat-middleware", "middleware as flat hook lists", flat=True)
    then("cache", "bounded TTL response cache", cache=True)
    then("granian", "granian (Rust) server core instead of uvicorn", server="granian")
    then("workers", "2 worker processes", workers=2)
    then("gc-freeze", "gc.freeze() after start-up: full collections skip the app's own objects",
         gc_freeze=True)
    then("raw-client", "upstream calls on a minimal HTTP/1.1 pool instead of aiohttp",
         raw_client=True)
    then("rsgi", "granian's own RSGI interface instead of ASGI: no scope or message dicts",
         interface="rsgi")
    then("struct-fields", "field selection decodes only the kept fields (msgspec), "
         "skipping the rest in C", picker=True)
    then("protocol-client", "the upstream pool on asyncio protocols: the answer parsed as it "
         "arrives, one future and one timer per request, no StreamReader", protocol_client=True)
    then("counter-ids", "request ids from a random per-worker prefix and a counter, not uuid4",
         counter_ids=True)
    then("skip-empty-body", "a request with neither Content-Length nor Transfer-Encoding has "
         "no body: the app does not wait on granian for one", skip_empty_body=True)
    then("own-server", "the gateway's own HTTP/1.1 core on uvloop and httptools instead of "
         "granian: a request answered at once (a cache hit) is answered in the read callback, "
         "no coroutine; only upstream calls become tasks", server="httptools")
    then("no-task", "an upstream call without a task or coroutine: the pooled connection's "
         "read callback finishes the request; the route's upstream URL split once, not per "
         "request", callbacks=True)
    then("batch-writes", "socket writes (answers to clients, requests to the upstream) held "
         "until the loop round's callbacks have run, then made together: one wake-up of "
         "each reader instead of one per write", batch_writes=True)
    then("hit-path", "a cache hit answered in one call from the parser's callback: request "
         "id, auth, metrics and access log done inline, the answer rendered from the cached "
         "body, no Request or Response object", hit_path=True)
    then("one-worker", "1 worker process instead of 2: on 2 cores shared with the upstream and "
         "the load generator, a second worker only takes CPU from them", workers=1)
    then("sweep-timeouts", "upstream deadlines in a dict, looked at by one timer every 10 ms, "
         "instead of a timer started and cancelled per request (2 µs each in uvloop)",
         sweep_timeouts=True)
    then("miss-path", "a request without a body that goes upstream starts its call in one call "
         "from the parser's callback, as hit-path answers a hit: request id, auth, metrics and "
         "access log inline, no Request object, no walk through the hook lists",
         miss_path=True)
    return tuple(steps)


LADDER = _ladder()
IMPLS = {impl.name: impl for impl in LADDER}
DEFAULT = LADDER[-1].name
