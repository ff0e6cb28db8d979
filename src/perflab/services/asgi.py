"""Serving an ASGI app factory on granian or uvicorn: the gateway's upstream, `perflab bounded`."""

from __future__ import annotations

import os

__all__ = ["serve"]


def _check_port(host: str, port: int) -> None:
    """A busy port is one error line here; granian would report it with a Rust traceback."""
    import socket

    from perflab.errors import ServiceError

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def serve(target: str, *, host: str, port: int, workers: int, server: str,
          env: dict[str, str], interface: str = "asgi") -> None:
    """Run `target` (`module:factory`) with `env` set first: each worker imports it by name."""
    _check_port(host, port)
    os.environ.update(env)
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        Granian(target, address=host, port=port, interface=Interfaces(interface),
                workers=workers, factory=True, log_access=False).serve()
        return
    import uvicorn

    uvicorn.run(target, host=host, port=port, workers=workers, factory=True,
                log_level="warning", access_log=False, lifespan="on")
