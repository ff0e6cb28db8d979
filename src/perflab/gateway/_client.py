"""Minimal HTTP/1.1 keep-alive clients on asyncio, for the gateway's upstream calls.

Beyond the guide: aiohttp's client is general (redirects, cookies, tracing,
multidicts per response); the gateway needs one request shape against a few
known upstreams. This does only that: a bounded pool of idle connections per
host, Content-Length or chunked bodies, `Connection: close` honoured, and one
retry on a fresh connection when a pooled one turns out to be dead (the
upstream restarted, or closed it while idle). Three of them, three ladder steps:
`RawPool` on asyncio streams, `ProtocolPool` on protocol objects, and
`CallbackPool`, the same protocol objects calling back instead of resolving a
future (the gateway's own server core only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

from perflab.gateway._writes import Writes

__all__ = ["CallbackPool", "ProtocolPool", "RawPool", "UpstreamError", "request_bytes",
           "split_base"]

MAX_HEAD_BYTES = 64 << 10  # status line + headers of an upstream answer
SWEEP_S = 0.01  # CallbackPool with `sweep`: how often the deadlines in flight are looked at


class UpstreamError(Exception):
    """The upstream could not be reached or answered something that is not HTTP/1.1."""


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Answer = tuple[int, str, bytes]  # status, content type, body
# Called once per request: (the answer, whether the connection can be reused), or the error.
Settle = Callable[[tuple[Answer, bool] | None, Exception | None], None]
# CallbackPool's caller: the answer, or the error (TimeoutError or UpstreamError).
Done = Callable[[Answer | None, Exception | None], None]


def _parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    """The status and the lower-cased headers of an answer's head (ValueError if garbled)."""
    status = int(head[9:12])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


def _framing(status: int, headers: dict[bytes, bytes], max_body: int) -> int | str:
    """How the body ends: its length (at most `max_body`), "chunked", or "close".

    A 204 or 304 answer has no body, whatever its headers say (RFC 9112, 6.3). Nor
    has the answer to a HEAD, which these clients never send: the gateway asks a
    GET instead.
    """
    if status in (204, 304):
        return 0
    if b"content-length" in headers:
        size = int(headers[b"content-length"])
        if size > max_body:
            raise UpstreamError("upstream response too large")
        return size
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return "chunked"
    return "close"


def _content_type(headers: dict[bytes, bytes]) -> str:
    return headers.get(b"content-type", b"application/json").decode("latin-1")


def _keeps_alive(headers: dict[bytes, bytes], framing: int | str) -> bool:
    return framing != "close" and headers.get(b"connection", b"").lower() != b"close"


def split_base(url: str) -> tuple[str, int, str, str]:
    """host, port, netloc and path of an upstream's base URL, split once per route."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 80, parts.netloc, parts.path


def request_bytes(method: str, netloc: str, target: str, headers: dict[str, str],
                  body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {netloc}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _request_bytes(method: str, url: str, headers: dict[str, str],
                   body: bytes) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = request_bytes(method, parts.netloc, target, headers, body)
    return parts.hostname or "", parts.port or 80, request


class RawPool:
    def __init__(self, max_idle: int, max_body: int) -> None:
        self.max_idle = max_idle  # per host: a bound on sockets kept open
        self.max_body = max_body
        self.idle: dict[tuple[str, int], list[Connection]] = {}

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes,
                      timeout: float) -> tuple[int, str, bytes]:
        """(status, content type, body); TimeoutError past `timeout`, else UpstreamError."""
        host, port, request = _request_bytes(method, url, headers, body)
        async with asyncio.timeout(timeout):
            pooled = self.idle.get((host, port))
            if pooled:
                conn = pooled.pop()
                try:
                    return await self._exchange(conn, (host, port), request)
                except UpstreamError:
                    pass  # a dead pooled connection: once more on a fresh one
            try:
                conn = await asyncio.open_connection(host, port, limit=MAX_HEAD_BYTES)
            except OSError as exc:
                raise UpstreamError(f"cannot connect: {exc.strerror or exc}") from exc
            return await self._exchange(conn, (host, port), request)

    async def _exchange(self, conn: Connection, key: tuple[str, int],
                        request: bytes) -> tuple[int, str, bytes]:
        reader, writer = conn
        reusable = False
        try:
            writer.write(request)
            status, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
            while status < 200:  # interim (100 Continue, 103 Early Hints): the answer follows
                status, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
            framing = _framing(status, headers, self.max_body)
            if isinstance(framing, int):
                data = await reader.readexactly(framing)
            elif framing == "chunked":
                chunks, total = [], 0
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    total += size
                    if total > self.max_body:
                        raise UpstreamError("upstream response too large")
                    chunks.append(await reader.readexactly(size + 2))
                    if size == 0:
                        break
                data = b"".join(c[:-2] for c in chunks)
            else:  # delimited by close
                data = await reader.read(self.max_body + 1)
                if len(data) > self.max_body:
                    raise UpstreamError("upstream response too large")
            reusable = _keeps_alive(headers, framing)
            return status, _content_type(headers), data
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as exc:
            raise UpstreamError(f"bad answer: {type(exc).__name__}") from exc
        finally:
            idle = self.idle.setdefault(key, [])
            if reusable and len(idle) < self.max_idle:
                idle.append(conn)
            else:
                writer.close()

    async def close(self) -> None:
        for conns in self.idle.values():
            for _, writer in conns:
                writer.close()
        self.idle.clear()


class _Connection(asyncio.Protocol):
    """One keep-alive upstream connection: the answer is parsed as its bytes arrive.

    No StreamReader between the socket and the parser: `data_received` appends
    to one buffer and completes the request's future once the answer is whole.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_body: int) -> None:
        self.loop, self.max_body = loop, max_body
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        # status, headers, where the body starts, how it ends (see _framing)
        self.head: tuple[int, dict[bytes, bytes], int, int | str] | None = None
        # A future (ProtocolPool) or a callback (CallbackPool) for the answer in flight.
        self.waiter: asyncio.Future[tuple[Answer, bool]] | Settle | None = None
        self.lost = False
        self.writes: Writes | None = None  # batched writes (CallbackPool's), else at once

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def send(self, request: bytes) -> asyncio.Future[tuple[Answer, bool]]:
        future = self.loop.create_future()
        self.send_then(request, future)
        return future

    def send_then(self, request: bytes,
                  waiter: asyncio.Future[tuple[Answer, bool]] | Settle) -> None:
        assert self.transport is not None
        self.buffer.clear()
        self.head = None
        self.waiter = waiter
        if self.writes is not None:
            self.writes.write(self.transport, request)
        else:
            self.transport.write(request)

    def _settle(self, answer: tuple[Answer, bool] | None, exc: Exception | None) -> None:
        waiter, self.waiter = self.waiter, None
        if isinstance(waiter, asyncio.Future):
            if waiter.done():  # timed out already
                return
            if exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(answer)  # type: ignore[arg-type]
        elif waiter is not None:
            waiter(answer, exc)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None:
            try:
                answer = self._answer(closed=False)
            except (UpstreamError, ValueError) as exc:
                self._settle(None, exc if isinstance(exc, UpstreamError) else
                             UpstreamError(f"bad answer: {type(exc).__name__}"))
                return
            if answer is not None:
                self._settle(answer, None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None:
            try:  # an answer delimited by the close is whole now
                answer = self._answer(closed=True) if self.head is not None else None
            except (UpstreamError, ValueError):
                answer = None
            if answer is None:
                self._settle(None, UpstreamError("bad answer: connection closed"))
            else:
                self._settle(answer, None)

    def _answer(self, closed: bool) -> tuple[Answer, bool] | None:
        """(the answer, whether the connection can be reused), or None until it is whole."""
        buffer = self.buffer
        if self.head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise UpstreamError("bad answer: head too large")
                return None
            status, headers = _parse_head(bytes(buffer[:end]))
            if status < 200:  # interim (100 Continue, 103 Early Hints): the answer follows
                del buffer[:end + 4]
                return self._answer(closed)
            self.head = (status, headers, end + 4, _framing(status, headers, self.max_body))
        status, headers, start, framing = self.head
        if isinstance(framing, int):
            if len(buffer) - start < framing:
                return None
            body = bytes(buffer[start:start + framing])
        elif framing == "chunked":
            chunked = self._chunked(start)
            if chunked is None:
                return None
            body = chunked
        else:  # delimited by the close
            if len(buffer) - start > self.max_body:
                raise UpstreamError("upstream response too large")
            if not closed:
                return None
            body = bytes(buffer[start:])
        return (status, _content_type(headers), body), _keeps_alive(headers, framing)

    def _chunked(self, at: int) -> bytes | None:
        buffer, total = self.buffer, 0
        chunks: list[bytes] = []
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
            total += size
            if total > self.max_body:
                raise UpstreamError("upstream response too large")
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return None
            if size == 0:  # no trailers expected: the empty line ends the answer
                return b"".join(chunks)
            chunks.append(bytes(buffer[start:start + size]))
            at = start + size + 2


def _expire(future: asyncio.Future[tuple[Answer, bool]]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class ProtocolPool:
    """`RawPool`'s contract on protocol objects: one future and one timer per request."""

    def __init__(self, max_idle: int, max_body: int) -> None:
        self.max_idle = max_idle
        self.max_body = max_body
        self.idle: dict[tuple[str, int], list[_Connection]] = {}

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes,
                      timeout: float) -> Answer:
        """(status, content type, body); TimeoutError past `timeout`, else UpstreamError."""
        host, port, request = _request_bytes(method, url, headers, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pooled = self.idle.get((host, port))
        while pooled:
            conn = pooled.pop()
            if conn.lost:
                continue
            try:
                return await self._exchange(loop, (host, port), conn, request, deadline)
            except UpstreamError:
                break  # a dead pooled connection: once more on a fresh one
        conn = await self._open(loop, (host, port), deadline)
        return await self._exchange(loop, (host, port), conn, request, deadline)

    async def _open(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int],
                    deadline: float) -> _Connection:
        """A new connection; TimeoutError past `deadline`, else UpstreamError."""
        try:
            async with asyncio.timeout_at(deadline):
                transport, conn = await loop.create_connection(
                    lambda: _Connection(loop, self.max_body), *key)
        except TimeoutError:
            raise
        except OSError as exc:
            raise UpstreamError(f"cannot connect: {exc.strerror or exc}") from exc
        conn.transport = transport  # uvloop calls connection_made a tick later
        return conn

    async def _exchange(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int],
                        conn: _Connection, request: bytes, deadline: float) -> Answer:
        future = conn.send(request)
        timer = loop.call_at(deadline, _expire, future)
        try:
            answer, reusable = await future
        except BaseException:  # mid-answer (a timeout, a cancelled client): never reused
            assert conn.transport is not None
            conn.transport.close()
            raise
        finally:
            timer.cancel()
        self._release(key, conn, reusable)
        return answer

    def _release(self, key: tuple[str, int], conn: _Connection, reusable: bool) -> None:
        """Back to the idle pool when it can be reused and there is room; else closed."""
        idle = self.idle.setdefault(key, [])
        if reusable and not conn.lost and len(idle) < self.max_idle:
            idle.append(conn)
        elif conn.transport is not None:
            conn.transport.close()

    async def close(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                if conn.transport is not None:
                    conn.transport.close()
        self.idle.clear()


class CallbackPool(ProtocolPool):
    """`ProtocolPool` without a coroutine: `start` calls `done` when the answer is whole.

    On a pooled connection a request costs a write, a timer and a closure: no task,
    no future, no coroutine frames to suspend and resume. Only a new connection
    (the pool is empty, or a pooled one was dead) goes through a task, to connect.

    With `sweep`, the timer is not one per request: uvloop's timer handle costs
    about 2 µs to start and cancel, of some 23 µs of Python in a whole pooled
    call through the gateway. The deadlines of the requests in flight are kept
    in a dict instead, and one timer looks at them every `SWEEP_S` while any are
    in flight, so a request times out up to `SWEEP_S` late.
    """

    def __init__(self, max_idle: int, max_body: int, writes: Writes | None = None,
                 sweep: bool = False) -> None:
        super().__init__(max_idle, max_body)
        self.connecting: set[asyncio.Task[None]] = set()
        self.writes = writes
        self.loop: asyncio.AbstractEventLoop | None = None
        # With `sweep`: each request in flight's deadline and what times it out.
        self.in_flight: dict[_Connection, tuple[float, Callable[[], None]]] | None = (
            {} if sweep else None)
        self.sweeper: asyncio.TimerHandle | None = None

    def start(self, host: str, port: int, request: bytes, timeout: float,
              done: Done) -> None:
        """`done(answer, None)`, or `done(None, TimeoutError | UpstreamError)`; called once."""
        if self.loop is None:  # asked once: CPython checks getpid() (a syscall) on every call
            self.loop = asyncio.get_running_loop()
        loop = self.loop
        deadline = loop.time() + timeout
        pooled = self.idle.get((host, port))
        while pooled:
            conn = pooled.pop()
            if not conn.lost:
                self._send(loop, (host, port), conn, request, deadline, done, retry=True)
                return
        self._connect_then_send(loop, (host, port), request, deadline, done)

    def _connect_then_send(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int],
                           request: bytes, deadline: float,
                           done: Done) -> None:
        task = loop.create_task(self._connect(loop, key, request, deadline, done))
        self.connecting.add(task)  # a task only weakly referenced by the loop could vanish
        task.add_done_callback(self.connecting.discard)

    async def _connect(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int],
                       request: bytes, deadline: float,
                       done: Done) -> None:
        try:
            conn = await self._open(loop, key, deadline)
        except (TimeoutError, UpstreamError) as exc:
            done(None, exc)
            return
        conn.writes = self.writes
        self._send(loop, key, conn, request, deadline, done, retry=False)

    def _send(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int], conn: _Connection,
              request: bytes, deadline: float,
              done: Done, retry: bool) -> None:
        def settle(answer: tuple[Answer, bool] | None, exc: Exception | None) -> None:
            if timer is not None:
                timer.cancel()
            else:
                in_flight.pop(conn, None)  # type: ignore[union-attr]
            if answer is None:
                assert conn.transport is not None
                conn.transport.close()  # mid-answer or dead: never reused
                if retry and not isinstance(exc, TimeoutError):  # a dead pooled connection
                    self._connect_then_send(loop, key, request, deadline, done)
                else:
                    done(None, exc)
                return
            self._release(key, conn, answer[1])
            done(answer[0], None)

        def expire() -> None:
            if conn.waiter is settle:
                conn.waiter = None
                settle(None, TimeoutError())

        in_flight = self.in_flight
        if in_flight is None:
            timer: asyncio.TimerHandle | None = loop.call_at(deadline, expire)
        else:
            timer = None
            in_flight[conn] = (deadline, expire)
            if self.sweeper is None:
                self.sweeper = loop.call_later(SWEEP_S, self._sweep)
        conn.send_then(request, settle)

    def _sweep(self) -> None:
        """Time out the requests in flight past their deadline; again later while any are."""
        assert self.loop is not None and self.in_flight is not None
        now = self.loop.time()
        for expire in [expire for deadline, expire in self.in_flight.values() if deadline <= now]:
            expire()
        self.sweeper = self.loop.call_later(SWEEP_S, self._sweep) if self.in_flight else None

    async def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
        await super().close()
