"""The soak's load: weighted GETs and large uploads against one HTTP service.

    LoadSpec      what to send: `--url PATH[@WEIGHT]` (a `{key}` in the path is a
                  random id below `keys`) from `connections` keep-alive clients, each
                  sending its next GET when the last answer arrives; uploads of
                  `upload_bytes` to `upload_path` by `uploaders` concurrent clients
                  at `upload_rate` per second
    parse_url     `/items/{key}@9` -> ("/items/{key}", 9.0), with an error saying why not
    upload_body   a JSON array of small items, `size` bytes, in chunks
    drive         the load until a deadline or a request count; counts and latencies

The GETs and the uploads are separate clients on separate connections: neither
waits for the other, so the GET rate is what the connections and the service
allow while the uploads run at their own rate. The client is asyncio streams over
raw sockets (no HTTP library): on two shared cores its CPU is the service's loss.
An upload's body is one prebuilt chunk sent again and again, so a 30 MB upload
costs the generator its writes, not the formatting of 300,000 items.

Failed connections (the service being killed and restarted) are counted as
client errors and retried after a short pause, as a client behind a load
balancer would.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from perflab.errors import UsageError

__all__ = ["LoadSpec", "drive", "parse_url", "upload_body"]

RETRY_PAUSE_S = 0.05  # after a refused connection: the service is down or restarting
CHUNK_ITEMS = 2000  # items per upload chunk: ~200 KB writes
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


def _items(count: int) -> bytes:
    return b",".join(_ITEM % (i, i % 97, i % 11, _NOTE) for i in range(count))


_CHUNK = _items(CHUNK_ITEMS)


def upload_body(size: int, stop: Callable[[], bool] = lambda: False,
                cut: list[bool] | None = None) -> Iterator[bytes]:
    """About `size` bytes of `[{"id": .., "value": .., "tag": .., "note": ..}, ...]`.

    Whole chunks are the same `CHUNK_ITEMS` items (ids repeat: the service aggregates
    values and tags, not ids). When `stop()` turns true the array is closed early
    (still valid JSON) and `cut` gets a True: the load ends without abandoning a write
    half-done.
    """
    count = max(1, size // ITEM_BYTES)
    yield b"["
    for start in range(0, count, CHUNK_ITEMS):
        if start and stop():
            if cut is not None:
                cut.append(True)
            break
        items = _CHUNK if start + CHUNK_ITEMS <= count else _items(count - start)
        yield b"," + items if start else items
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


@dataclass
class Answer:
    status: int
    closing: bool  # the server closes the connection after it
    retry_after: float | None


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One HTTP/1.1 response: its head, then its body (by length or chunks), dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP/1.x response: {head[:40]!r}")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if status in (204, 304) or status < 200:  # no body, whatever the head says
        pass
    elif at >= 0:
        end = lower.index(b"\r\n", at + 2)
        await reader.readexactly(int(head[at + 17:end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:  # neither: the body runs to the close
        await reader.read()
        return Answer(status, True, None)
    retry_after = None
    at = lower.find(b"\r\nretry-after:")
    if at >= 0:
        value = head[at + 14:lower.index(b"\r\n", at + 2)].strip()
        retry_after = float(value) if value.isdigit() else None
    closing = b"\r\nconnection: close" in lower or (
        head.startswith(b"HTTP/1.0") and b"\r\nconnection: keep-alive" not in lower)
    return Answer(status, closing, retry_after)


class Connection:
    """One keep-alive connection, opened again after a failure or a close."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.host_line = f"Host: {host}:{port}\r\n".encode()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self, target: bytes) -> Answer:
        reader, writer = await self._open()
        writer.write(b"GET %s HTTP/1.1\r\n%s\r\n" % (target, self.host_line))
        answer = await read_answer(reader)
        if answer.closing:
            self.close()
        return answer

    async def post(self, target: bytes, body: Iterator[bytes]) -> Answer:
        """A chunked upload; an answer that comes before the body's end (a 503 from a
        guard that sheds mid-body) ends the sending, and the connection."""
        reader, writer = await self._open()
        writer.write(b"POST %s HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" % (target, self.host_line))
        answering = asyncio.ensure_future(read_answer(reader))
        finished = False
        try:
            for chunk in body:
                if answering.done():
                    break
                writer.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
                await writer.drain()
            else:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                finished = True
        except OSError:  # the server answered and closed while we were still sending
            await asyncio.wait([answering], timeout=1.0)
            if not answering.done() or answering.exception() is not None:
                answering.cancel()
                raise
        except BaseException:  # a timeout: the answer is not awaited any more
            answering.cancel()
            raise
        answer = await answering  # a cancellation here cancels the awaited task too
        if answer.closing or not finished:
            self.close()
        return answer


async def drive(base: str, spec: LoadSpec, *, until: Callable[[Counts], bool],
                latencies: Any) -> Counts:
    """Load `base` until `until(counts)` is true; GET latencies go to `latencies.record_ns`."""
    host, _, port = base.removeprefix("http://").partition(":")
    counts = Counts()
    rng = random.Random(spec.seed)
    paths = [p for p, _ in spec.urls]
    cumulative = list(itertools.accumulate(w for _, w in spec.urls))
    templated = ["{key}" in p for p in paths]
    upload_gap = spec.uploaders / spec.upload_rate if spec.upload_rate > 0 else 0.0
    upload_target = spec.upload_path.encode()
    errors = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
              TimeoutError)

    def next_target() -> bytes:
        i = rng.choices(range(len(paths)), cum_weights=cumulative)[0] if len(paths) > 1 else 0
        path = paths[i].replace("{key}", str(rng.randrange(spec.keys))) \
            if templated[i] else paths[i]
        return path.encode()

    async def getter() -> None:
        conn = Connection(host, int(port))
        while not until(counts):
            target = next_target()
            started = time.perf_counter_ns()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    answer = await conn.get(target)
            except errors:
                conn.close()
                counts.client_errors += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            latencies.record_ns(time.perf_counter_ns() - started)
            counts.count(answer.status)
        conn.close()

    async def uploader() -> None:
        conn = Connection(host, int(port))
        while not until(counts):
            started = time.monotonic()
            cut: list[bool] = []
            body = upload_body(spec.upload_bytes, lambda: until(counts), cut)
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    answer = await conn.post(upload_target, body)
            except errors:
                conn.close()
                counts.client_errors += 1
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            if cut:  # cut short by the end of the run: not a whole upload, not counted
                break
            counts.count(answer.status)
            counts.uploads_done += answer.status < 400
            pause = upload_gap - (time.monotonic() - started)
            if answer.status == 503:  # as Retry-After asks
                pause = max(pause, answer.retry_after or 1.0)
            if pause > 0:
                await asyncio.sleep(pause)
        conn.close()

    tasks = [asyncio.ensure_future(getter()) for _ in range(spec.connections)]
    tasks += [asyncio.ensure_future(uploader()) for _ in range(spec.uploaders)]
    while not until(counts):
        await asyncio.sleep(0.05)
    # In-flight requests finish (uploads close their arrays early); only a service
    # that does not answer within DRAIN_S has its requests cancelled.
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counts
