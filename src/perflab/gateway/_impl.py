"""The ladder of `perflab gateway serve`: each variant is the same gateway with options switched."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT", "IMPLS", "LADDER", "Impl"]


@dataclass(frozen=True)
class Impl:
    name: str
    description: str
    fast_json: bool = True  # orjson instead of the stdlib json module
    pooled_buffers: bool = True  # request bodies gathered in reused bytearrays
    pool: bool = True  # keep-alive upstream connections instead of one per request
    flat: bool = True  # middleware as a flat list of hooks instead of nested coroutines
    cache: bool = True  # the bounded TTL response cache
    server: str = "granian"  # "uvicorn" | "granian"
    workers: int = 2
    gc_freeze: bool = True  # move start-up objects out of the collector's reach (gc.freeze)
    raw_client: bool = True  # a minimal HTTP/1.1 pool on asyncio streams instead of aiohttp
    interface: str = "rsgi"  # granian's own interface, or "asgi" (uvicorn speaks only ASGI)
    picker: bool = True  # field selection decodes only the kept fields (msgspec structs)
    protocol_client: bool = True  # the upstream pool on asyncio protocols, not streams


_BEFORE = {"fast_json": False, "pooled_buffers": False, "pool": False, "flat": False,
           "cache": False, "server": "uvicorn", "workers": 1, "gc_freeze": False,
           "raw_client": False, "interface": "asgi", "picker": False,
           "protocol_client": False}


def _step(name: str, description: str, **done: object) -> Impl:
    return Impl(name, description, **{**_BEFORE, **done})  # type: ignore[arg-type]


LADDER = (
    _step("baseline", "stdlib json, a new upstream connection per request, nested middleware, "
                      "no cache, uvicorn"),
    _step("fast-json", "orjson", fast_json=True),
    _step("pooled-buffers", "reuse request-body buffers (sync.Pool)", fast_json=True,
          pooled_buffers=True),
    _step("conn-pool", "keep-alive upstream connection pool", fast_json=True,
          pooled_buffers=True, pool=True),
    _step("flat-middleware", "middleware as flat hook lists", fast_json=True,
          pooled_buffers=True, pool=True, flat=True),
    _step("cache", "bounded TTL response cache", fast_json=True, pooled_buffers=True,
          pool=True, flat=True, cache=True),
    _step("granian", "granian (Rust) server core instead of uvicorn", fast_json=True,
          pooled_buffers=True, pool=True, flat=True, cache=True, server="granian"),
    Impl("workers", "2 worker processes", gc_freeze=False, raw_client=False, interface="asgi",
         picker=False, protocol_client=False),
    Impl("gc-freeze", "gc.freeze() after start-up: full collections skip the app's own objects",
         raw_client=False, interface="asgi", picker=False, protocol_client=False),
    Impl("raw-client", "upstream calls on a minimal HTTP/1.1 pool instead of aiohttp",
         interface="asgi", picker=False, protocol_client=False),
    Impl("rsgi", "granian's own RSGI interface instead of ASGI: no scope or message dicts",
         picker=False, protocol_client=False),
    Impl("struct-fields", "field selection decodes only the kept fields (msgspec), "
         "skipping the rest in C", protocol_client=False),
    Impl("protocol-client", "the upstream pool on asyncio protocols: the answer parsed as it "
         "arrives, one future and one timer per request, no StreamReader"),
)
IMPLS = {impl.name: impl for impl in LADDER}
DEFAULT = LADDER[-1].name
