"""`perflab bounded`: a lookup and ingest service that stays inside a memory limit.

    _cache      a cache bounded in bytes (LRU by total size, not by count)
    _memory     sizes, the limit (flag, environment, cgroup), RSS, trimming
    _ingest     the upload aggregate: whole-body (the "before") or streamed
    _app        the ASGI service: /items/{id}, /ingest, /health, /metrics, load shedding
    _impl       the ladder of variants
    _soak       `perflab bounded soak`: the service under a hard memory limit
    _cli        `perflab bounded serve` and `perflab bounded soak`
    case        the ladder declared to the harness: each step soaked under 256 MiB
"""
