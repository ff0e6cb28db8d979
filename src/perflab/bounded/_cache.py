"""A cache bounded in bytes: LRU by the total size of what it holds, not by entry count.

Values of varied size make a count bound meaningless: 10,000 entries may be
1 MB or 1 GB. Every entry is charged its value's length plus `ENTRY_OVERHEAD`
(the key, the dict slot and the OrderedDict links), so the bound holds for
small values too.

Kept over `cachetools.LRUCache(getsizeof=...)`: that does the same job slower on
this workload (see benchmarks/bounded_cache.py), charges the value only, and
raises on a value larger than the cache instead of not caching it.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["ENTRY_OVERHEAD", "ByteLRU", "UnboundedCache"]

# Measured with sys.getsizeof on CPython 3.11: a short str key, a dict slot and an
# OrderedDict node come to a little under 200 bytes per entry.
ENTRY_OVERHEAD = 200


class ByteLRU:
    """`get`, `put`, `shrink_to`; `bytes` held, `max_bytes`, `evictions`, `len()`."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evictions = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()

    @staticmethod
    def cost(key: str, value: bytes) -> int:
        return len(key) + len(value) + ENTRY_OVERHEAD

    def get(self, key: str) -> bytes | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: bytes) -> None:
        cost = self.cost(key, value)
        if cost > self.max_bytes:
            return  # larger than the whole cache: caching it would evict everything for nothing
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= self.cost(key, old)
        self._items[key] = value
        self.bytes += cost
        self.shrink_to(self.max_bytes)

    def shrink_to(self, target: int) -> int:
        """Evict least recently used entries until at most `target` bytes; return bytes freed."""
        freed = 0
        while self.bytes > target and self._items:
            key, value = self._items.popitem(last=False)
            cost = self.cost(key, value)
            self.bytes -= cost
            freed += cost
            self.evictions += 1
        return freed

    def __len__(self) -> int:
        return len(self._items)


class UnboundedCache:
    """The ladder's "before": a dict that keeps every value forever (bytes counted alike)."""

    def __init__(self) -> None:
        self.max_bytes = 0  # no bound: a trim cannot shrink it
        self.bytes = 0
        self._items: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._items.get(key)

    def put(self, key: str, value: bytes) -> None:
        old = self._items.get(key)
        if old is not None:
            self.bytes -= ByteLRU.cost(key, old)
        self._items[key] = value
        self.bytes += ByteLRU.cost(key, value)

    def shrink_to(self, target: int) -> int:
        return 0

    def __len__(self) -> int:
        return len(self._items)
