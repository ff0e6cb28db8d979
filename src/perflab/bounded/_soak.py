"""`perflab bounded soak`: the service under a hard memory limit, as a container runs it.

The limit is the kernel's: a memory cgroup (v1 `memory.limit_in_bytes`, with
swap disallowed so the OOM killer acts instead of the disk), which this needs
root to create; where no cgroup can be made, RLIMIT_AS on the service process,
and the report says which. The workload mixes many distinct keys (GETs over a
wide id range: the cache grows until its bound) with concurrent large uploads.
Reported: OOM kills (the cgroup's own counter), crashes, 5xx, requests served
and shed, idle and peak memory, the service's GC pauses, GET p99 latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from perflab.services import scrape_metrics

__all__ = ["SoakResult", "soak"]

CGROUP_V1 = Path("/sys/fs/cgroup/memory")
ID_RANGE = 200_000  # distinct keys: with 1-64 KiB values, gigabytes if nothing bounds the cache
UPLOAD_ITEMS = 250_000  # ~30 MB of JSON per upload


@dataclass
class SoakResult:
    variant: str
    confinement: str
    limit_bytes: int
    seconds: float
    requests: int
    served: int
    shed: int
    server_errors: int
    client_errors: int
    uploads_done: int
    oom_kills: int
    crashed: bool
    idle_rss_bytes: float
    peak_bytes: float
    gc_pause_max_s: float
    gc_pause_total_s: float
    p99_s: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class _Confinement:
    """A cgroup v1 memory group, or RLIMIT_AS, for one process tree."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.group: Path | None = None
        if os.geteuid() == 0 and (CGROUP_V1 / "cgroup.procs").exists():
            group = CGROUP_V1 / f"perflab-soak-{os.getpid()}-{time.monotonic_ns()}"
            try:
                group.mkdir()
                (group / "memory.limit_in_bytes").write_text(str(limit))
                with contextlib.suppress(OSError):  # not every kernel has swap accounting
                    (group / "memory.memsw.limit_in_bytes").write_text(str(limit))
                with contextlib.suppress(OSError):
                    (group / "memory.swappiness").write_text("0")
                self.group = group
            except OSError:
                with contextlib.suppress(OSError):
                    group.rmdir()
        self.name = "cgroup-v1" if self.group else "rlimit-as"

    def enter(self) -> None:  # in the child, between fork and exec
        if self.group is not None:
            (self.group / "cgroup.procs").write_text(str(os.getpid()))
        else:
            # Address space, not RSS: a loose stand-in (virtual reservations count too).
            resource.setrlimit(resource.RLIMIT_AS, (self.limit * 4, self.limit * 4))

    def stat(self, name: str) -> float:
        if self.group is None:
            return float("nan")
        try:
            return float((self.group / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return float("nan")

    def oom_kills(self) -> int:
        if self.group is None:
            return 0
        try:
            for line in (self.group / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def close(self) -> None:
        if self.group is not None:
            for _ in range(50):
                try:
                    self.group.rmdir()
                    return
                except OSError:
                    time.sleep(0.1)


async def _upload_body() -> AsyncIterator[bytes]:
    yield b"["
    for start in range(0, UPLOAD_ITEMS, 5000):
        yield (b"," if start else b"") + b",".join(
            b'{"id": %d, "value": %d, "tag": "t%d", "note": "%s"}' % (i, i % 97, i % 11,
                                                                     b"n" * 60)
            for i in range(start, start + 5000))
        await asyncio.sleep(0)
    yield b"]"


async def _drive(port: int, duration: float, max_requests: int | None, connections: int,
                 uploaders: int, alive: Callable[[], bool]) -> dict[str, Any]:
    import aiohttp

    from perflab.measure import LatencyHistogram

    hist = LatencyHistogram()
    counts = {"requests": 0, "served": 0, "shed": 0, "5xx": 0, "client_errors": 0, "uploads": 0}
    deadline = time.monotonic() + duration
    rng = random.Random(5)
    base = f"http://127.0.0.1:{port}"

    def more() -> bool:
        limit_hit = max_requests is not None and counts["requests"] >= max_requests
        return time.monotonic() < deadline and not limit_hit and alive()

    def count(status: int) -> None:
        counts["requests"] += 1
        if status == 503:
            counts["shed"] += 1
        elif status >= 500:
            counts["5xx"] += 1
        elif status < 400:
            counts["served"] += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def getter() -> None:
            while more():
                started = time.perf_counter()
                try:
                    async with session.get(f"{base}/items/{rng.randrange(ID_RANGE)}") as r:
                        await r.read()
                        count(r.status)
                except (aiohttp.ClientError, OSError, TimeoutError):
                    counts["client_errors"] += 1
                    await asyncio.sleep(0.05)
                    continue
                hist.record_ns(int((time.perf_counter() - started) * 1e9))

        async def uploader() -> None:
            while more():
                try:
                    async with session.post(f"{base}/ingest", data=_upload_body()) as r:
                        await r.read()
                        count(r.status)
                        counts["uploads"] += r.status == 200
                        if r.status == 503:
                            await asyncio.sleep(1.0)  # as Retry-After asks
                except (aiohttp.ClientError, OSError, TimeoutError):
                    counts["client_errors"] += 1
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(getter() for _ in range(connections)),
                             *(uploader() for _ in range(uploaders)))
    p99 = hist.percentile_s(99.0) if hist.count else float("nan")
    return {**counts, "p99_s": p99}


def soak(variant: str, limit: int, *, duration: float = 30.0, max_requests: int | None = None,
         connections: int = 16, uploaders: int = 2, cache_bytes: str = "50MiB",
         log: Path | None = None) -> SoakResult:
    import subprocess

    from perflab.services import free_port, wait_ready

    confinement = _Confinement(limit)
    port = free_port()
    cmd = [sys.executable, "-m", "perflab", "bounded", "serve", "--port", str(port), "--impl",
           variant, "--memory-limit", str(limit), "--cache-bytes", cache_bytes]
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=confinement.enter)
    started = time.monotonic()
    try:
        wait_ready(f"http://127.0.0.1:{port}/health")
        idle = scrape_metrics(f"http://127.0.0.1:{port}")["perflab_bounded_rss_bytes"]

        def alive() -> bool:
            return proc.poll() is None and confinement.oom_kills() == 0

        counts = _run(_drive(port, duration, max_requests, connections, uploaders, alive))
        seconds = time.monotonic() - started
        crashed = proc.poll() is not None
        try:
            final = scrape_metrics(f"http://127.0.0.1:{port}")
        except OSError:
            final, crashed = {}, True
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        if log and out is not subprocess.DEVNULL:
            out.close()  # type: ignore[union-attr]
    result = SoakResult(
        variant=variant, confinement=confinement.name, limit_bytes=limit, seconds=seconds,
        requests=counts["requests"], served=counts["served"], shed=counts["shed"],
        server_errors=counts["5xx"], client_errors=counts["client_errors"],
        uploads_done=counts["uploads"], oom_kills=confinement.oom_kills(), crashed=crashed,
        idle_rss_bytes=idle, peak_bytes=confinement.stat("memory.max_usage_in_bytes"),
        gc_pause_max_s=final.get("perflab_bounded_gc_pause_seconds_max", float("nan")),
        gc_pause_total_s=final.get("perflab_bounded_gc_pause_seconds_total", float("nan")),
        p99_s=counts["p99_s"],
    )
    confinement.close()
    return result


def _run(coro: Any) -> dict[str, Any]:
    try:
        import uvloop

        result: dict[str, Any] = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    return result


