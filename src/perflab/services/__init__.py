"""Real components with an embedded default, and the process helpers every case shares.

    postgres    a private PostgreSQL cluster that perflab starts and stops itself
    kafka       a local Kafka-protocol broker (Tansu) that perflab starts and stops
    clickhouse  ClickHouse: chDB in-process by default, any server over HTTP
    asgi        serving an ASGI app factory on granian or uvicorn

Here: free ports, waiting for a server, scraping Prometheus text, and how a
case runs the real `perflab` command.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from perflab.errors import ServiceError

__all__ = ["free_port", "perflab_command", "scrape_metrics", "wait_listening", "wait_ready"]


def perflab_command() -> list[str]:
    """How a case runs the real tool: this environment's console script, as a user would."""
    script = Path(sys.executable).with_name("perflab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "perflab"]


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, name: str, timeout: float, *,
                   process: subprocess.Popen[bytes] | None = None, hint: str | None = None) -> None:
    """Wait until something accepts connections on loopback `port`.

    A ServiceError names `name` if `timeout` passes first, or if `process` (the
    server being waited for, when we started it) exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{name} exited with {process.returncode}", hint=hint)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ServiceError(f"{name} did not accept connections: {exc}",
                                   hint=hint) from exc
            time.sleep(0.02)


def wait_ready(url: str, timeout: float = 20.0) -> None:
    """Wait until an HTTP server answers `url` (any status: an error status means it is up)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                resp.read()
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error status: the server is up
                return
            if time.monotonic() > deadline:
                raise ServiceError(f"{url} did not answer within {timeout:.0f} s") from exc
            time.sleep(0.05)


def scrape_metrics(base_url: str) -> dict[str, float]:
    """The unlabelled samples of a service's Prometheus text at `base_url`/metrics."""
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples
