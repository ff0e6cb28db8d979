"""Server cores (`SERVERS`): running the gateway on uvicorn or on its own core, with workers.

Each core imports the app by name in each worker (`module:factory`), so the
config travels in environment variables, set before the server starts.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

from perflab.services.asgi import serve

__all__ = ["SERVERS", "serve_gateway", "serve_upstream"]


def _own(config_path: str, host: str, port: int, workers: int) -> None:
    from perflab.gateway._server import run

    run("perflab.gateway._app:create_app", host=host, port=port, workers=workers)


def _uvicorn(config_path: str, host: str, port: int, workers: int) -> None:
    from pathlib import Path

    import uvicorn

    from perflab.gateway._config import load_config

    config = load_config(Path(config_path))
    # uvicorn drains on SIGTERM, then restores the handler it found and raises the signal
    # again: with the default one the process would die of it (exit -15) after a clean
    # shutdown. Found instead, this no-op lets the gateway exit 0 as the own core does.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    # uvicorn's own limits, set from the gateway's: its 503 past the connection limit, its
    # keep-alive timeout, its graceful shutdown. No Server or Date of its own: the upstream's
    # pass through, as end-to-end fields.
    uvicorn.run("perflab.gateway._asgi:create_asgi", host=host, port=port, workers=workers,
                factory=True, log_level="warning", access_log=False, lifespan="on",
                http="httptools", loop="uvloop", server_header=False, date_header=False,
                proxy_headers=False,  # X-Forwarded-For is the gateway's to append to, not to trust
                limit_concurrency=config.max_connections,
                timeout_keep_alive=int(config.idle_timeout),
                timeout_graceful_shutdown=int(config.shutdown_grace))


SERVERS: dict[str, Callable[[str, str, int, int], None]] = {"uvicorn": _uvicorn, "own": _own}


def serve_gateway(server: str, config_path: str, impl: str, *, host: str, port: int,
                  workers: int) -> None:
    os.environ.update({"PERFLAB_GATEWAY_CONFIG": config_path, "PERFLAB_GATEWAY_IMPL": impl})
    # The one-line reasons for 502s (TLS failures, bad answers) go to stderr.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    SERVERS[server](config_path, host, port, workers)


def serve_upstream(host: str, port: int, items: int, latency_ms: float) -> None:
    serve("perflab.gateway._upstream:create_upstream", host=host, port=port, workers=1,
          server="granian", env={"PERFLAB_UPSTREAM_ITEMS": str(items),
                                 "PERFLAB_UPSTREAM_LATENCY_MS": str(latency_ms)})
