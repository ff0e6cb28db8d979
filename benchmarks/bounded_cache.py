"""perflab.bounded.ByteLRU against cachetools.LRUCache(getsizeof=...), same job on both sides.

The job is the bounded service's: look a key up, and on a miss insert a value of
1-64 KiB, with the cache bounded to 50 MiB in bytes. Keys are drawn over 200,000
ids, so most lookups miss and evict, as under the soak. Alternated rounds; prints
the median ns per lookup(+insert) of each and the ratio.

    .venv/bin/python benchmarks/bounded_cache.py
"""

from __future__ import annotations

import random
import statistics
import time

from cachetools import LRUCache

from perflab.bounded import ENTRY_OVERHEAD, ByteLRU

BOUND = 50 * 2**20
KEYS = 200_000
OPS = 200_000
ROUNDS = 7

VALUES = [b"x" * (1024 + (i * 2654435761 % (63 * 1024))) for i in range(512)]


def keys() -> list[str]:
    rng = random.Random(5)
    # Half the lookups over a hot 2,000-key set (hits), half over the whole range (misses).
    return [str(rng.randrange(2000) if rng.random() < 0.5 else rng.randrange(KEYS))
            for _ in range(OPS)]


def run_byte_lru(ks: list[str]) -> float:
    cache = ByteLRU(BOUND)
    started = time.perf_counter_ns()
    for k in ks:
        if cache.get(k) is None:
            cache.put(k, VALUES[hash(k) % 512])
    return (time.perf_counter_ns() - started) / len(ks)


def run_cachetools(ks: list[str]) -> float:
    cache: LRUCache[str, bytes] = LRUCache(BOUND, getsizeof=lambda v: len(v) + ENTRY_OVERHEAD)
    started = time.perf_counter_ns()
    for k in ks:
        if cache.get(k) is None:
            cache[k] = VALUES[hash(k) % 512]
    return (time.perf_counter_ns() - started) / len(ks)


def main() -> None:
    ks = keys()
    ours, theirs = [], []
    for _ in range(ROUNDS):
        ours.append(run_byte_lru(ks))
        theirs.append(run_cachetools(ks))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"ByteLRU               {a:7.0f} ns/op (median of {ROUNDS})")
    print(f"cachetools.LRUCache   {b:7.0f} ns/op (median of {ROUNDS})")
    print(f"cachetools / ByteLRU  {b / a:.2f}x")


if __name__ == "__main__":
    main()
