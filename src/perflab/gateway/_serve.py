"""Running an app factory (ASGI, RSGI on granian, or the gateway's own core) with workers.

Each server imports the app by name in each worker (`module:factory`), so the
config travels in environment variables, set before the server starts.
"""

from __future__ import annotations

import os

__all__ = ["serve"]


def serve(target: str, *, host: str, port: int, workers: int, server: str,
          env: dict[str, str], interface: str = "asgi") -> None:
    os.environ.update(env)
    if server == "httptools":  # the gateway's own core (see _server)
        from perflab.gateway._server import run

        run(target, host=host, port=port, workers=workers)
        return
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        Granian(target, address=host, port=port, interface=Interfaces(interface),
                workers=workers, factory=True, log_access=False).serve()
        return
    import uvicorn

    uvicorn.run(target, host=host, port=port, workers=workers, factory=True,
                log_level="warning", access_log=False, lifespan="on")
