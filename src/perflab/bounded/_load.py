"""The soak's load: weighted GETs and large uploads against one HTTP service.

    LoadSpec      what to send: `--url PATH[@WEIGHT]` (a `{key}` in the path is a
                  random id below `keys`), uploads of `upload_bytes` to `upload_path`
                  by `uploaders` concurrent clients at `upload_rate` per second
    parse_url     `/items/{key}@9` -> ("/items/{key}", 9.0), with an error saying why not
    upload_body   a JSON array of small items, `size` bytes, generated as it is sent
    drive         the load until a deadline or a request count; counts and latencies

Failed connections (the service being killed and restarted) are counted as
client errors and retried after a short pause, as a client behind a load
balancer would.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from perflab.errors import UsageError

__all__ = ["LoadSpec", "drive", "parse_url", "upload_body"]

RETRY_PAUSE_S = 0.05  # after a refused connection: the service is down or restarting
CHUNK_ITEMS = 2000  # items per upload chunk: ~200 KB writes
GRACE_S = 0.25
DRAIN_S = 10.0
REQUEST_TIMEOUT_S = 120.0  # a 30 MB upload to a slowed service takes seconds, not minutes


@dataclass(frozen=True)
class LoadSpec:
    urls: Sequence[tuple[str, float]] = (("/", 1.0),)
    keys: int = 200_000
    connections: int = 16
    upload_path: str = "/ingest"
    upload_bytes: int = 0
    uploaders: int = 0
    upload_rate: float = 0.0  # uploads per second across all uploaders; 0: back to back
    seed: int = 5


def parse_url(text: str) -> tuple[str, float]:
    path, at, weight = text.rpartition("@")
    if not at:
        path, weight = text, "1"
    try:
        w = float(weight)
    except ValueError:
        w = -1.0
    if not path.startswith("/") or not w > 0:
        raise UsageError(f"invalid --url {text!r}",
                         hint="a path from the root with an optional positive weight, "
                              "e.g. /items/{key}@9")
    return path, w


_ITEM = b'{"id": %d, "value": %d, "tag": "t%d", "note": "%s"}'
_NOTE = b"n" * 60
ITEM_BYTES = len(_ITEM % (100_000, 50, 5, _NOTE)) + 1  # with its comma


async def upload_body(size: int, stop: Callable[[], bool] = lambda: False,
                      cut: list[bool] | None = None) -> AsyncIterator[bytes]:
    """About `size` bytes of `[{"id": .., "value": .., "tag": .., "note": ..}, ...]`.

    When `stop()` turns true the array is closed early (still valid JSON) and `cut`
    gets a True: the load ends without abandoning a write half-done.
    """
    count = max(1, size // ITEM_BYTES)
    yield b"["
    for start in range(0, count, CHUNK_ITEMS):
        if start and stop():
            if cut is not None:
                cut.append(True)
            break
        end = min(start + CHUNK_ITEMS, count)
        yield (b"," if start else b"") + b",".join(
            _ITEM % (i, i % 97, i % 11, _NOTE) for i in range(start, end))
        await asyncio.sleep(0)  # let the getters run between chunks
    yield b"]"


@dataclass
class Counts:
    requests: int = 0
    served: int = 0
    shed: int = 0
    errors_5xx: int = 0
    errors_4xx: int = 0
    client_errors: int = 0
    uploads_done: int = 0

    def count(self, status: int) -> None:
        self.requests += 1
        if status == 503:
            self.shed += 1
        elif status >= 500:
            self.errors_5xx += 1
        elif status >= 400:
            self.errors_4xx += 1
        else:
            self.served += 1


async def drive(base: str, spec: LoadSpec, *, until: Callable[[Counts], bool],
                latencies: Any) -> Counts:
    """Load `base` until `until(counts)` is true; GET latencies go to `latencies.record_ns`."""
    import aiohttp  # the client: only a soak pays for importing it

    counts = Counts()
    rng = random.Random(spec.seed)
    paths = [p for p, _ in spec.urls]
    weights = [w for _, w in spec.urls]
    templated = ["{key}" in p for p in paths]
    upload_gap = spec.uploaders / spec.upload_rate if spec.upload_rate > 0 else 0.0

    connector = aiohttp.TCPConnector(limit=spec.connections + spec.uploaders)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        async def getter() -> None:
            while not until(counts):
                i = rng.choices(range(len(paths)), weights)[0]
                path = paths[i].replace("{key}", str(rng.randrange(spec.keys))) \
                    if templated[i] else paths[i]
                started = time.perf_counter_ns()
                try:
                    async with session.get(path) as resp:
                        await resp.read()
                except (aiohttp.ClientError, OSError, TimeoutError):
                    counts.client_errors += 1
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                latencies.record_ns(time.perf_counter_ns() - started)
                counts.count(resp.status)

        async def uploader() -> None:
            while not until(counts):
                started = time.monotonic()
                cut: list[bool] = []
                body = upload_body(spec.upload_bytes, lambda: until(counts), cut)
                try:
                    async with session.post(spec.upload_path, data=body) as resp:
                        await resp.read()
                except (aiohttp.ClientError, OSError, TimeoutError):
                    counts.client_errors += 1
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                if cut:  # cut short by the end of the run: not a whole upload, not counted
                    return
                counts.count(resp.status)
                counts.uploads_done += resp.status < 400
                pause = upload_gap - (time.monotonic() - started)
                if resp.status == 503:  # as Retry-After asks
                    pause = max(pause, float(resp.headers.get("retry-after", "1") or 1))
                if pause > 0:
                    await asyncio.sleep(pause)

        async def watch() -> None:
            while not until(counts):
                await asyncio.sleep(0.05)

        tasks = [asyncio.ensure_future(getter()) for _ in range(spec.connections)]
        tasks += [asyncio.ensure_future(uploader()) for _ in range(spec.uploaders)]
        await watch()
        # In-flight requests finish (uploads close their arrays early); only a service
        # that does not answer within DRAIN_S has its requests cancelled.
        _, pending = await asyncio.wait(tasks, timeout=DRAIN_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # Closed connections' transports finish closing on the next turns of the loop
    # (aiohttp's advice for a graceful shutdown), not after it is closed.
    await asyncio.sleep(GRACE_S)
    return counts
