"""`perflab bounded`: a lookup and ingest service that stays inside a memory limit.

    _cache      a cache bounded in bytes (LRU by total size, not by count)
    _memory     sizes, the limit (flag, environment, cgroup), RSS, trimming
    _ingest     the upload aggregate: whole-body (the "before") or streamed
    _app        the ASGI service: /items/{id}, /ingest, /health, /metrics, load shedding
    _cli        `perflab bounded serve`
"""
