"""The ladder of `perflab gateway serve`: named choices, each step the one before with one change.

A variant is a handful of choices, each the name of one implementation in a
small table behind one Protocol; the tables live beside what they choose
(`_codec.CODECS`, `_buffers.BUFFERS`, `_client.POOLS`,
`_middleware.MIDDLEWARES`, `_ids.REQUEST_IDS`, `_writes.WRITES`, `_serve.SERVERS`,
`_app.CACHES`, `_app.GC_SETUPS`). A name is looked up once, at start-up
(`resolve`); nothing on a request's path asks which step it is in.

    server      uvicorn (ASGI) | own (httptools on uvloop, _server.py)
    codec       stdlib | orjson | msgspec (field selection decoding only the kept keys)
    buffers     fresh | pooled (request-body buffers reused, the guide's sync.Pool)
    pool        none (a connection per upstream call) | keep-alive
    middleware  nested (a closure per layer per request) | flat (hook lists, no closure)
    cache       off | ttl (the bounded TTL cache, with RFC 9111's rules)
    ids         uuid4 | counter (random per-worker prefix and a counter)
    writes      direct | batched (a loop round's socket writes made together)
    gc          default | freeze (gc.freeze() after start-up)
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

__all__ = ["CHOICES", "DEFAULT", "IMPLS", "LADDER", "Impl"]

# Every choice and its names, so that a ladder line naming an unknown one fails at import.
CHOICES: dict[str, tuple[str, ...]] = {
    "server": ("uvicorn", "own"),
    "codec": ("stdlib", "orjson", "msgspec"),
    "buffers": ("fresh", "pooled"),
    "pool": ("none", "keep-alive"),
    "middleware": ("nested", "flat"),
    "cache": ("off", "ttl"),
    "ids": ("uuid4", "counter"),
    "writes": ("direct", "batched"),
    "gc": ("default", "freeze"),
}


@dataclass(frozen=True)
class Impl:
    name: str
    description: str
    server: str = "uvicorn"
    codec: str = "stdlib"
    buffers: str = "fresh"
    pool: str = "none"
    middleware: str = "nested"
    cache: str = "off"
    ids: str = "uuid4"
    writes: str = "direct"
    gc: str = "default"

    def __post_init__(self) -> None:
        for f in fields(self)[2:]:
            if getattr(self, f.name) not in CHOICES[f.name]:
                raise ValueError(f"{self.name}: {f.name} = {getattr(self, f.name)!r}, "
                                 f"expected one of {CHOICES[f.name]}")
        if self.writes == "batched" and self.server != "own":
            raise ValueError(f"{self.name}: batched writes need the own server core")


def _ladder() -> tuple[Impl, ...]:
    steps = [Impl("baseline", "stdlib json, a new upstream connection per call, nested "
                  "middleware, no cache, uvicorn")]

    def then(name: str, description: str, **change: str) -> None:
        steps.append(replace(steps[-1], name=name, description=description, **change))

    then("fast-json", "orjson", codec="orjson")
    then("pooled-buffers", "reuse request-body buffers (sync.Pool)", buffers="pooled")
    then("conn-pool", "keep-alive upstream connection pool", pool="keep-alive")
    then("flat-middleware", "middleware as flat hook lists", middleware="flat")
    then("cache", "bounded TTL response cache", cache="ttl")
    then("own-server", "the gateway's own HTTP/1.1 core on uvloop and httptools instead of "
         "uvicorn: an answer known at once (a hit) is written from the parser's callback, an "
         "upstream call finishes in the pooled connection's; no task, no ASGI dicts",
         server="own")
    then("batch-writes", "socket writes (answers to clients, requests to the upstream) held "
         "until the loop round's callbacks have run, then made together", writes="batched")
    then("struct-fields", "field selection decodes only the kept fields (msgspec), skipping "
         "the rest in C", codec="msgspec")
    then("counter-ids", "request ids from a random per-worker prefix and a counter, not uuid4",
         ids="counter")
    then("gc-freeze", "gc.freeze() after start-up: full collections skip the app's own objects",
         gc="freeze")
    return tuple(steps)


LADDER = _ladder()
IMPLS = {impl.name: impl for impl in LADDER}
DEFAULT = LADDER[-1].name
