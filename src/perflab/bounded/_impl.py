"""The ladder of `perflab bounded serve`: each variant is the same service with options switched."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT", "IMPLS", "LADDER", "Impl"]


@dataclass(frozen=True)
class Impl:
    name: str
    description: str
    byte_lru: bool = True  # the cache is bounded in bytes (else: an unbounded dict)
    streaming: bool = True  # uploads parsed as a stream (else: whole body, json.loads)
    gc_tuning: bool = True  # gc.freeze() after start-up, higher gen-0 threshold
    shedding: bool = True  # 503 + Retry-After as RSS nears the limit
    trimming: bool = True  # evict, collect and malloc_trim under pressure


LADDER = (
    Impl("baseline", "unbounded dict cache, whole-body json.loads, default GC", byte_lru=False,
         streaming=False, gc_tuning=False, shedding=False, trimming=False),
    Impl("byte-lru", "cache bounded in bytes (LRU by size)", streaming=False, gc_tuning=False,
         shedding=False, trimming=False),
    Impl("streaming", "uploads parsed as a stream (ijson, C)", gc_tuning=False, shedding=False,
         trimming=False),
    Impl("gc-tuning", "gc.freeze() after start-up, gen-0 threshold 50,000", shedding=False,
         trimming=False),
    Impl("shedding", "503 + Retry-After as RSS nears the limit", trimming=False),
    Impl("trimming", "under pressure: evict, gc.collect, malloc_trim"),
)
IMPLS = {impl.name: impl for impl in LADDER}
DEFAULT = LADDER[-1].name
