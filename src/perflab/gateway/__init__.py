"""`perflab gateway`: an HTTP API gateway, its upstream and load generator, and its ladder.

    _config     the TOML config, validated with errors that name the bad key
    _core       pure core: routing, field selection, the TTL cache, Prometheus text
    _app        the ASGI application: middleware (nested or flat), upstream calls, errors
    _client     minimal HTTP/1.1 keep-alive clients on asyncio, for the upstream calls
    _server     the gateway's own HTTP/1.1 server core: httptools' parser on uvloop
    _writes     socket writes held until the loop has run this round's callbacks
    _upstream   `perflab gateway upstream`: the deterministic JSON service
    _loadgen    `perflab gateway load`: open-loop (wrk2-style) and closed-loop load
    _serve      running the app on uvicorn, granian or the own core, one or more workers
    _impl       the ladder of variants
    _cli        the subcommands
    case        the ladder declared to the harness
"""
