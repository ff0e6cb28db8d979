"""`perflab bounded`: keep a Python service inside a memory limit, and prove it does.

Public API (the rest is private):

- `MemoryGuardMiddleware`: ASGI middleware: trim, then shed (503 + Retry-After) as RSS
  nears the limit; a readiness endpoint that fails meanwhile
- `MemoryGuard`: the policy itself, for servers that are not ASGI
- `ByteLRU`: a cache bounded in bytes (LRU by total size)
- `memory_limit`: the limit this process lives in: argument, environment, cgroup
- `parse_size`: "256MiB" -> 268435456

Private modules:

    _cache      the byte-bounded LRU
    _memory     sizes, the limit (flag, environment, cgroup), RSS, trimming
    _guard      the guard and its middleware
    _ingest     the built-in service's upload aggregate: whole-body or streamed
    _app        the built-in ASGI service: /items/{id}, /ingest, /health, /ready, /metrics
    _confine    a hard limit for a process tree: cgroup v2, cgroup v1, or RLIMIT_AS
    _load       the soak's load: weighted GETs, large uploads
    _soak       `perflab bounded soak`: a command confined, loaded, watched, restarted
    _plot       memory over time as SVG
    _impl       the ladder of variants
    _cli        `perflab bounded serve` and `perflab bounded soak`
    case        the ladder declared to the harness
"""

from perflab.bounded._cache import ENTRY_OVERHEAD, ByteLRU
from perflab.bounded._guard import SHED_AT, TRIM_AT, MemoryGuard, MemoryGuardMiddleware
from perflab.bounded._memory import memory_limit, parse_size

__all__ = ["ENTRY_OVERHEAD", "SHED_AT", "TRIM_AT", "ByteLRU", "MemoryGuard",
           "MemoryGuardMiddleware", "memory_limit", "parse_size"]
