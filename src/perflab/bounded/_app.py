"""The bounded service as an ASGI application.

    GET  /items/{id}   a lookup in a deterministic slow store, through the cache
    POST /ingest       a JSON array upload, aggregated (streamed or whole)
    GET  /health       liveness: 200 while the process answers, with RSS and limit
    GET  /ready        readiness: 503 while shedding or above the trim threshold
    GET  /metrics      Prometheus text: RSS, limit, cache, GC, shed requests

The memory policy is the reusable guard (see _guard), wrapped around this app:
past `trim_at` of the limit it gives memory back (here: the cache down to half
first), past `shed_at` it answers 503 with Retry-After instead of taking on more
work, also in the middle of an upload. Being slow for a moment is better than
being OOM-killed with every request in flight.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from perflab.bounded._cache import ByteLRU, UnboundedCache
from perflab.bounded._guard import SHED_AT, TRIM_AT, MemoryGuard, MemoryGuardMiddleware
from perflab.bounded._impl import DEFAULT, IMPLS, Impl
from perflab.bounded._ingest import BadInput, StreamAggregator, aggregate_whole
from perflab.bounded._memory import memory_limit, parse_size, rss_bytes
from perflab.measure import GcWatch

__all__ = ["BoundedService", "create_app", "value_for"]

STORE_LATENCY_S = 0.002  # the slow store behind the cache
MAX_ID = 1_000_000
MAX_UPLOAD = 1 << 30  # whole-body mode reads at most this (it is the "before")


def value_for(item: int) -> bytes:
    """The store's deterministic value: 1-64 KiB, depending on the id."""
    size = 1024 + (item * 2654435761 % (63 * 1024))
    return b'{"id": %d, "payload": "%s"}' % (item, b"x" * size)


class BoundedService:
    def __init__(self, impl: Impl, limit: int | None, cache_bytes: int, *,
                 trim_at: float = TRIM_AT, shed_at: float = SHED_AT) -> None:
        self.impl = impl
        self.limit = limit
        # Each ladder step's choices are made here, once: no flag is read per request.
        self.cache: Cache = ByteLRU(cache_bytes) if impl.byte_lru else UnboundedCache()
        self.read_upload: UploadReader = read_streamed if impl.streaming else read_whole
        self.guard = MemoryGuard(limit, trim_at=trim_at if impl.trimming else None,
                                 shed_at=shed_at if impl.shedding else None,
                                 on_trim=[self.shrink_cache])
        self.bad_requests = 0
        self.requests = 0
        self.gc = GcWatch().install()

    def shrink_cache(self) -> None:
        self.cache.shrink_to(self.cache.max_bytes // 2)

    # -- metrics ----------------------------------------------------------------------
    def metrics_text(self) -> str:
        values = {
            "perflab_bounded_rss_bytes": rss_bytes(),
            "perflab_bounded_memory_limit_bytes": self.limit or 0,
            "perflab_bounded_cache_bytes": self.cache.bytes,
            "perflab_bounded_cache_entries": len(self.cache),
            "perflab_bounded_requests_total": self.requests,
            "perflab_bounded_shed_total": self.guard.shed,
            "perflab_bounded_trims_total": self.guard.trims,
            "perflab_bounded_bad_requests_total": self.bad_requests,
            "perflab_bounded_gc_collections_total": self.gc.collections,
            "perflab_bounded_gc_pause_seconds_total": round(self.gc.pause_total, 6),
            "perflab_bounded_gc_pause_seconds_max": round(self.gc.pause_max, 6),
        }
        return "".join(f"{k} {v}\n" for k, v in values.items())

    # -- handlers ---------------------------------------------------------------------
    async def item(self, raw_id: str) -> tuple[int, bytes]:
        if not raw_id.isdigit() or int(raw_id) > MAX_ID:
            return 400, _error(f"expected an id from 0 to {MAX_ID}, got {raw_id!r}")
        cached = self.cache.get(raw_id)
        if cached is not None:
            return 200, cached
        await asyncio.sleep(STORE_LATENCY_S)
        value = value_for(int(raw_id))
        self.cache.put(raw_id, value)
        return 200, value

    async def ingest(self, receive: Any) -> tuple[int, bytes]:
        try:
            result = await self.read_upload(receive)
        except BadInput as exc:
            self.bad_requests += 1
            return 400, _error(str(exc))
        return 200, json.dumps(result).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": f"{message['type']}.complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        self.requests += 1
        path, method = scope["path"], scope["method"]
        headers = [(b"content-type", b"application/json")]
        if path == "/health":
            status, body = 200, json.dumps({"status": "ok", "rss_bytes": rss_bytes(),
                                            "memory_limit_bytes": self.limit}).encode()
        elif path == "/metrics":
            status, body = 200, self.metrics_text().encode()
            headers = [(b"content-type", b"text/plain; version=0.0.4")]
        elif path.startswith("/items/") and method == "GET":
            status, body = await self.item(path[7:])
        elif path == "/ingest" and method == "POST":
            status, body = await self.ingest(receive)
        else:
            status, body = 404, _error(f"no such endpoint: {method} {path}")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Cache(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, value: bytes) -> None: ...
    def shrink_to(self, target: int) -> int: ...
    def __len__(self) -> int: ...

    max_bytes: int
    bytes: int  # last: the name would shadow the type in the annotations above


UploadReader = Callable[[Any], Awaitable[dict[str, Any]]]


async def read_streamed(receive: Any) -> dict[str, Any]:
    """Feed each chunk to the streaming parser as it arrives: one item in memory at a time."""
    agg = StreamAggregator()
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
        chunk = message.get("body", b"")
        if chunk:
            agg.feed(chunk)
    return agg.close()


async def read_whole(receive: Any) -> dict[str, Any]:
    """The "before": the whole body in memory, then json.loads."""
    parts, size, more = [], 0, True
    while more:
        message = await receive()
        more = message.get("more_body", False)
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        if size > MAX_UPLOAD:
            raise BadInput(f"upload larger than {MAX_UPLOAD} bytes")
    return aggregate_whole(b"".join(parts))


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def create_app() -> MemoryGuardMiddleware:
    impl = IMPLS[os.environ.get("PERFLAB_BOUNDED_IMPL", DEFAULT)]
    limit, _ = memory_limit(os.environ.get("PERFLAB_BOUNDED_LIMIT"))
    cache_bytes = parse_size(os.environ.get("PERFLAB_BOUNDED_CACHE", "50MiB"))
    service = BoundedService(impl, limit, cache_bytes,
                             trim_at=float(os.environ.get("PERFLAB_BOUNDED_TRIM_AT", TRIM_AT)),
                             shed_at=float(os.environ.get("PERFLAB_BOUNDED_SHED_AT", SHED_AT)))
    if impl.gc_tuning:
        # Start-up objects live as long as the process: frozen, full collections skip them;
        # a higher gen-0 threshold means fewer, not longer, young collections.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
    return MemoryGuardMiddleware(service, guard=service.guard)
