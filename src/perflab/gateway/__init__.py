"""`perflab gateway`: an HTTP API gateway (a reverse proxy), its upstream, load generator, ladder.

    _config      the TOML config, validated with errors that name the bad key
    _proxy       pure core of the proxy's job: targets, headers both ways, cache rules, ids
    _core        routing, the response caches, Prometheus text
    _app         the gateway: hooks, the route handler, the App interface to server cores
    _middleware  the hooks run nested or flat
    _codec       JSON codecs and field selection
    _buffers     request-body buffers
    _ids         request ids
    _writes      socket writes
    _client      the upstream client: llhttp's parser, the pool policy, TLS, timeouts
    _asgi        the gateway on uvicorn
    _server      the own server core
    _serve       server cores by name; the upstream's and other apps' granian/uvicorn runner
    _accesslog   the access log
    _upstream    `perflab gateway upstream`: the deterministic JSON service
    _loadgen     `perflab gateway load`: open-loop (wrk2-style) and closed-loop load
    _impl        the ladder: named choices, one table each
    _cli         the subcommands
    case         the ladder declared to the harness
"""
