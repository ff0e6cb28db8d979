"""`perflab stream run --metrics-port P`: Prometheus metrics at http://HOST:P/metrics.

    perflab_stream_consumed_total, _inserted_total, _dead_total   messages, by outcome
    perflab_stream_sink_retries_total                             inserts sent again
    perflab_stream_lag{topic, partition}                          messages not yet processed
    perflab_stream_batch_seconds                                  a batch from poll to ack

Picked once at start-up: without a port the processor gets `NoMetrics`, whose
calls do nothing; with one, prometheus_client's collectors in a registry of
their own, updated once a batch (never per message).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Metrics", "NoMetrics", "serve"]


class Metrics(Protocol):
    def batch(self, consumed: int, inserted: int, dead: int, seconds: float) -> None: ...
    def retry(self) -> None: ...
    def lag(self, by_partition: dict[tuple[str, int], int]) -> None: ...


class NoMetrics:
    def batch(self, consumed: int, inserted: int, dead: int, seconds: float) -> None:
        pass

    def retry(self) -> None:
        pass

    def lag(self, by_partition: dict[tuple[str, int], int]) -> None:
        pass


class _Prometheus:
    def __init__(self, port: int, host: str) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            start_http_server,
        )

        from perflab.errors import UsageError

        registry = CollectorRegistry()
        prefix = "perflab_stream"
        self._consumed = Counter(f"{prefix}_consumed", "messages consumed", registry=registry)
        self._inserted = Counter(f"{prefix}_inserted", "rows inserted", registry=registry)
        self._dead = Counter(f"{prefix}_dead", "dead letters stored", registry=registry)
        self._retries = Counter(f"{prefix}_sink_retries", "inserts sent again after a "
                                "transient ClickHouse error", registry=registry)
        self._lag = Gauge(f"{prefix}_lag", "messages not yet processed",
                          ["topic", "partition"], registry=registry)
        self._seconds = Histogram(f"{prefix}_batch_seconds", "a batch from poll to ack",
                                  registry=registry,
                                  buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        try:
            self.server, _ = start_http_server(port, host, registry=registry)
        except OSError as exc:
            raise UsageError(f"--metrics-port {port}: {exc.strerror}") from exc

    def batch(self, consumed: int, inserted: int, dead: int, seconds: float) -> None:
        self._consumed.inc(consumed)
        self._inserted.inc(inserted)
        self._dead.inc(dead)
        self._seconds.observe(seconds)

    def retry(self) -> None:
        self._retries.inc()

    def lag(self, by_partition: dict[tuple[str, int], int]) -> None:
        for (topic, partition), lag in by_partition.items():
            self._lag.labels(topic, str(partition)).set(lag)


def serve(port: int | None, host: str = "127.0.0.1") -> Metrics:
    return NoMetrics() if port is None else _Prometheus(port, host)
