"""Real components with an embedded default: a private PostgreSQL cluster, ..."""

from __future__ import annotations

import socket
import subprocess
import time

from perflab.errors import ServiceError

__all__ = ["free_port", "scrape_metrics", "wait_listening"]


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
