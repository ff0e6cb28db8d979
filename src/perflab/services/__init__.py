"""Real components with an embedded default: a private PostgreSQL cluster, ..."""

from __future__ import annotations

import socket

__all__ = ["free_port", "scrape_metrics"]


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
