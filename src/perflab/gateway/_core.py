"""Pure core of the gateway: routing, the response caches (`CACHES`), metrics text."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from perflab.measure import GcWatch

__all__ = ["CACHES", "Metrics", "NoCache", "TTLCache", "match_route"]


class _Prefixed(Protocol):
    @property
    def prefix(self) -> str: ...


P = TypeVar("P", bound=_Prefixed)


def match_route(routes: Sequence[P], path: str) -> tuple[P, str] | None:
    """The longest prefix that matches on a path-segment boundary, and the rest of the path."""
    for route in routes:  # longest first
        prefix = route.prefix
        if prefix == "/":
            return route, path
        if path == prefix or path.startswith(prefix + "/"):
            return route, path[len(prefix):]  # "" for the prefix itself: the upstream's base
    return None


class TTLCache:
    """At most `max_entries` responses, each valid for its route's TTL; LRU beyond that."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str) -> Any | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if self.clock() >= expires:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: str, value: Any, ttl: float) -> None:
        self._items[key] = (self.clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class NoCache:
    """The steps before the cache: nothing is ever found, nothing kept."""

    def __init__(self, max_entries: int) -> None:
        pass

    def get(self, key: str) -> Any | None:
        return None

    def put(self, key: str, value: Any, ttl: float) -> None:
        pass

    def __len__(self) -> int:
        return 0


class Cache(Protocol):
    def get(self, key: str) -> Any | None: ...
    def put(self, key: str, value: Any, ttl: float) -> None: ...
    def __len__(self) -> int: ...


CACHES: dict[str, Callable[[int], Cache]] = {"off": NoCache, "ttl": TTLCache}


# Latency buckets (seconds) for the Prometheus histogram: sub-ms to the slow tail.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[int, int] = {}
        self.bucket_counts = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0
        self.upstream_errors = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.gc = GcWatch().install()

    def observe(self, status: int, seconds: float) -> None:
        self.requests[status] = self.requests.get(status, 0) + 1
        self.latency_sum += seconds
        self.bucket_counts[bisect_left(BUCKETS, seconds)] += 1  # the first bound >= seconds

    def render(self, extra: dict[str, float]) -> str:
        lines = ["# TYPE perflab_gateway_requests_total counter"]
        lines += [f'perflab_gateway_requests_total{{status="{s}"}} {n}'
                  for s, n in sorted(self.requests.items())]
        lines.append("# TYPE perflab_gateway_request_seconds histogram")
        total = 0
        for bound, count in zip((*BUCKETS, float("inf")), self.bucket_counts, strict=True):
            total += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'perflab_gateway_request_seconds_bucket{{le="{le}"}} {total}')
        lines.append(f"perflab_gateway_request_seconds_count {total}")
        lines.append(f"perflab_gateway_request_seconds_sum {self.latency_sum:.6f}")
        for name, value in (
            ("perflab_gateway_upstream_errors_total", self.upstream_errors),
            ("perflab_gateway_cache_hits_total", self.cache_hits),
            ("perflab_gateway_cache_misses_total", self.cache_misses),
            ("perflab_gateway_gc_collections_total", self.gc.collections),
            ("perflab_gateway_gc_pause_seconds_total", self.gc.pause_total),
            ("perflab_gateway_gc_pause_seconds_max", self.gc.pause_max),
            *extra.items(),
        ):
            lines.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
        return "\n".join(lines) + "\n"
