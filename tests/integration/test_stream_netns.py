"""A consumer group across hosts: three network namespaces, the broker in one, a processor in
each of the others; one processor's host dies mid-run and the other takes its partitions.

Loopback-range addresses only (127.77.0.0/24, route_localnet), inside the test's own
namespaces; skipped where `ip netns` is not permitted. Each processor's sink is its own chDB
directory (chDB allows one process per data path); the test then pours both into one
ReplacingMergeTree, which is what a shared server table would hold, and counts it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from perflab.services.clickhouse import connect
from perflab.services.kafka import find_tansu

from ..conftest import REPO
from .test_stream import FAST_JOIN

pytestmark = pytest.mark.integration

TABLE = ("CREATE TABLE IF NOT EXISTS k (id String, _topic String, _partition UInt32, "
         "_offset UInt64) ENGINE = ReplacingMergeTree ORDER BY (_partition, _offset)")
BROKER = "127.77.0.1:9092"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def hosts():
    """Namespaces (broker, host1, host2) joined by a bridge in the broker's; torn down after."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root and iproute2 for network namespaces")
    tag = uuid.uuid4().hex[:5]
    names = [f"plb{tag}", f"pl1{tag}", f"pl2{tag}"]
    try:
        _ip("netns", "add", names[0])
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"ip netns is not permitted here: {exc}")
    try:
        for name in names[1:]:
            _ip("netns", "add", name)
        broker = names[0]
        _ip("-n", broker, "link", "add", "br0", "type", "bridge")
        for i, host in enumerate(names[1:], 1):
            outer, inner = f"v{i}{tag}", f"p{i}{tag}"
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", outer, "netns", broker)
            _ip("link", "set", inner, "netns", host)
            _ip("-n", broker, "link", "set", outer, "master", "br0")
            _ip("-n", broker, "link", "set", outer, "up")
            _ip("-n", host, "link", "set", inner, "up")
            _ip("-n", host, "addr", "add", f"127.77.0.{i + 1}/24", "dev", inner)
        _ip("-n", broker, "link", "set", "br0", "up")
        _ip("-n", broker, "addr", "add", "127.77.0.1/24", "dev", "br0")
        for name in names:  # 127/8 off `lo` is routed only with route_localnet
            for scope in ("all", "default", *[f"p{i}{tag}" for i in (1, 2)], "br0"):
                subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw",
                                f"net.ipv4.conf.{scope}.route_localnet=1"],
                               capture_output=True, timeout=10, check=False)
        yield names, tag
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10,
                           check=False)


def _in(ns: str, *args: str, quiet: bool = False) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=out, stderr=out,
                            text=True, env=env)


def _reader(proc: subprocess.Popen[str], into: list[str]) -> threading.Thread:
    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            into.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_one_host_dies_and_the_other_takes_its_partitions(tmp_path, hosts):
    names, tag = hosts
    broker = _in(names[0], str(find_tansu()), "broker", "--listener-url", f"tcp://{BROKER}",
                 "--advertised-listener-url", f"tcp://{BROKER}", "--storage-engine",
                 "memory://tansu/", quiet=True)
    procs: list[subprocess.Popen[str]] = [broker]
    try:
        count, topic = 20_000, f"net-{tag}"
        deadline = time.monotonic() + 30
        while True:  # the broker answers from the other host
            produce = _in(names[1], sys.executable, "-m", "perflab", "stream", "produce",
                          "--brokers", BROKER, "--topic", topic, "--count", str(count),
                          "--partitions", "4")
            _, err = produce.communicate(timeout=120)
            if produce.returncode == 0:
                break
            assert time.monotonic() < deadline, err
            time.sleep(0.5)
        for i in (1, 2):
            client = connect(f"chdb://{tmp_path / str(i)}")
            client.command(TABLE)
            client.close()
        logs: list[list[str]] = [[], []]
        runs = []
        for i in (1, 2):
            proc = _in(names[i], sys.executable, "-m", "perflab", "stream", "run", "--brokers",
                       BROKER, "--topic", topic, "--table", "k", "--group", f"g-{tag}",
                       "--clickhouse", f"chdb://{tmp_path / str(i)}", "--batch-size", "200",
                       "--until-idle", "8", "--json", *FAST_JOIN)
            procs.append(proc)
            runs.append(proc)
            _reader(proc, logs[i - 1])
        deadline = time.monotonic() + 60
        while not all(any("assigned" in line for line in log) for log in logs):
            assert time.monotonic() < deadline, logs
            assert all(p.poll() is None for p in runs), logs
            time.sleep(0.1)
        time.sleep(1.0)  # both are loading
        _ip("-n", names[1], "link", "set", f"p1{tag}", "down")  # host 1 drops off the net
        runs[0].send_signal(signal.SIGKILL)
        runs[0].wait(10)
        runs[1].wait(120)  # its stderr is read by a thread; its stdout is one JSON line
        assert runs[1].returncode == 0, logs[1]
        taken = [line for line in logs[1] if "assigned" in line]
        assert any("[0,1,2,3]" in line for line in taken), taken  # it took host 1's partitions
        dump = tmp_path / "host1.native"
        client = connect(f"chdb://{tmp_path / '1'}")
        client.command(f"SELECT * FROM k INTO OUTFILE '{dump}' FORMAT Native")
        client.close()
        client = connect(f"chdb://{tmp_path / '2'}")
        try:
            client.command(f"INSERT INTO k SELECT * FROM file('{dump}', Native)")
            assert client.scalar("SELECT count() FROM k FINAL") == count
            assert client.scalar("SELECT uniqExact(id) FROM k FINAL") == count
            assert client.scalar("SELECT count() FROM k_dead") == 0
        finally:
            client.close()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
