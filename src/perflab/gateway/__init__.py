"""`perflab gateway`: an HTTP API gateway, its upstream and load generator, and its ladder.

    _config     the TOML config, validated with errors that name the bad key
    _core       pure core: routing, field selection, the TTL cache, Prometheus text
    _app        the ASGI application: middleware (nested or flat), upstream calls, errors
    _upstream   `perflab gateway upstream`: the deterministic JSON service
    _loadgen    `perflab gateway load`: open-loop (wrk2-style) and closed-loop load
    _serve      running the app on uvicorn or granian, one or more workers
    _cli        the subcommands
    case        the ladder declared to the harness
"""
