"""The gateway's own HTTP/1.1 server core: httptools' C parser on uvloop protocols.

Beyond the guide. Under granian every request reaches Python through granian's
loop glue as a coroutine of its own, even a cache hit that awaits nothing. Here
a request is parsed in C as its bytes arrive, and one the gateway can answer at
once (a cache hit, a 404, /metrics, a 401) is answered inside that same
callback: no task, no coroutine. Only a request that waits on its upstream
becomes a task, or, from the ladder's `no-task` step on, a callback of the
upstream pool (`CallbackPool`), with the loop round's writes batched (`Writes`);
from `hit-path` on, a cache hit is answered by one call (`Gateway.hit`), and from
`miss-path` on, an upstream call without a body is started by one (`Gateway.fetch`).

Bounded like the rest of the gateway: a request's head (`MAX_HEADER_BYTES`,
431) and body (the config's `max_body`, 413), the requests a client may
pipeline before reading its answers (`MAX_PIPELINED`; reading pauses beyond it,
as it does while a client does not read what it is sent), the connections of a
worker (`MAX_CONNECTIONS`) and their idle time (`IDLE_TIMEOUT_S`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

import httptools

from perflab.errors import ServiceError
from perflab.gateway._app import MAX_HEADER_BYTES, Gateway, Request, Response
from perflab.gateway._writes import Writes

__all__ = ["HttpConnection", "response_bytes", "run"]

MAX_PIPELINED = 16  # parsed requests waiting for their turn on one connection
MAX_CONNECTIONS = 4096  # per worker; nginx's default is 512 per worker
IDLE_TIMEOUT_S = 60.0  # a connection silent this long with nothing in flight is closed
# After a refusal the rest of the request is read and dropped for this long before the close:
# closing with unread bytes would reset the connection, and the client could lose the answer.
LINGER_S = 2.0
log = logging.getLogger("perflab.gateway.server")

_REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}


# A cache hit's answer (`Gateway.hit`): the bytes `response_bytes` makes for it.
_HIT = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: %s\r\n"
        b"content-length: %d\r\n\r\n%s")


def response_bytes(resp: Response, close: bool, head: bool = False) -> bytes:
    """The whole HTTP/1.1 answer: status line, headers, Content-Length, body.

    The answer to a HEAD (`head`) has the body's Content-Length and no body; a 204
    or 304 has neither (RFC 9110, 8.6 and 9.3.2).
    """
    lines = b"".join([b"%s: %s\r\n" % header for header in resp.headers])
    close_line = b"connection: close\r\n" if close else b""
    if resp.status == 204 or resp.status == 304:
        return b"HTTP/1.1 %d %s\r\n%s%s\r\n" % (
            resp.status, _REASONS.get(resp.status, b""), lines, close_line)
    return b"HTTP/1.1 %d %s\r\n%scontent-length: %d\r\n%s\r\n%s" % (
        resp.status, _REASONS.get(resp.status, b""), lines, len(resp.body), close_line,
        b"" if head else resp.body)


class _Refused(Exception):
    """Raised from a parser callback: the connection ends with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpConnection(asyncio.Protocol):
    """One client connection: requests parsed as they arrive, answered in order."""

    def __init__(self, gateway: Gateway, loop: asyncio.AbstractEventLoop,
                 live: set[HttpConnection]) -> None:
        self.gateway, self.loop, self.live = gateway, loop, live
        self.parser = httptools.HttpRequestParser(self)
        self.parse_error: type[Exception] = httptools.HttpParserError
        self.upgrade: type[Exception] = httptools.HttpParserUpgrade
        self.transport: Any = None
        # (request, keep-alive, refusal): answered in order; a refusal ends the connection
        self.queue: deque[tuple[Request, bool, _Refused | None]] = deque()
        self.busy = False  # a request is waiting on its upstream: the next ones wait for it
        self.task: asyncio.Task[Response] | None = None  # that request's, without callbacks
        self.callbacks = gateway.impl.callbacks
        self.hits = gateway.impl.hit_path
        self.misses = gateway.impl.miss_path
        self._replied_kept = functools.partial(self._replied, keep_alive=True)  # one per connection
        self.writes = gateway.writes
        self.ended = False  # answered its last request, or refused one: reads no more
        self.head_request = False  # the request being answered is a HEAD: no body in its answer
        self.write_paused = self.read_paused = False
        self.active = True  # read or wrote since the idle sweep last looked
        # the request being parsed
        self.url = b""
        self.headers: dict[str, str] = {}
        self.header_bytes = 0
        self.body = bytearray()
        self.in_head = True  # between two requests, or inside a head
        self.began = False  # a request began in the bytes being fed
        self.unparsed = 0  # bytes of a head not yet through the parser's callbacks

    # -- asyncio -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if len(self.live) >= MAX_CONNECTIONS:
            transport.close()
            self.ended = True
            return
        self.live.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.live.discard(self)
        if self.task is not None:
            self.task.cancel()  # nobody to answer: the upstream call stops (and is not pooled)

    def pause_writing(self) -> None:
        self.write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._flow()

    def data_received(self, data: bytes) -> None:
        if self.ended:
            return
        self.active = True
        self.began = False
        try:
            self.parser.feed_data(data)
        except self.upgrade:  # answered as a plain request, with a close: no other protocol
            self.ended = True
        except self.parse_error as exc:
            refused = exc.__context__ if isinstance(exc.__context__, _Refused) else _Refused(
                400, f"bad request: {exc}")
            self._refuse(refused)
        else:
            # A head that never ends stays in the parser's buffer: bound it. Counted only
            # for bytes fed while no request began, so earlier pipelined requests in the
            # same read are never counted against the next one.
            if self.in_head and not self.began:
                self.unparsed += len(data)
                if self.unparsed > MAX_HEADER_BYTES:
                    self._refuse(_Refused(431, ""))
        if self.queue:  # pipelined behind a request still waiting, or a refusal
            self._serve()
        if self.read_paused or len(self.queue) >= MAX_PIPELINED:
            self._flow()

    # -- httptools callbacks -----------------------------------------------------------
    def on_message_begin(self) -> None:
        self.began = True
        self.url = b""
        self.headers = {}
        self.header_bytes = self.unparsed = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > MAX_HEADER_BYTES:
            raise _Refused(431, "")
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.unparsed = 0
        headers = self.headers
        if "content-length" in headers:
            declared = headers["content-length"]
            if not declared.isdigit() or int(declared) > self.gateway.config.max_body:
                raise _Refused(413, "")
        if ("expect" in headers and headers["expect"].lower() == "100-continue"
                and not self.queue and not self.busy):
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) > self.gateway.config.max_body:  # chunked: no length declared
            raise _Refused(413, "")

    def on_message_complete(self) -> None:
        if self.ended:  # pipelined after a request that closes the connection: never answered
            return
        self.in_head = True
        parser = self.parser
        if (self.hits and not self.body and not self.queue and not self.busy
                and parser.should_keep_alive() and not parser.should_upgrade()):
            method = parser.get_method()
            hit = self.gateway.hit(method, self.url, self.headers)
            if hit is not None:
                self._write(_HIT % (hit[0].encode("latin-1"), len(hit[1]), hit[1]))
                return
            if self.misses:
                self.busy = True  # what follows on this connection waits for the answer
                self.head_request = method == b"HEAD"
                if self.gateway.fetch(method, self.url, self.headers, self._replied_kept):
                    return
                self.busy = False
        req = self._request(bytes(self.body) if self.body else b"")
        self.body.clear()
        keep_alive = self.parser.should_keep_alive() and not self.parser.should_upgrade()
        if self.queue or self.busy:  # pipelined: answered in its turn
            self.queue.append((req, keep_alive, None))
        else:
            self._answer(req, keep_alive)

    # -- answering ---------------------------------------------------------------------
    def _request(self, body: bytes) -> Request:
        path, _, query = self.url.partition(b"?")
        try:
            method = self.parser.get_method().decode("latin-1")
        except Exception:  # refused before the method was read
            method = "-"
        return Request(method, path.decode("latin-1"), query.decode("latin-1"), self.headers,
                       body)

    def _refuse(self, refused: _Refused) -> None:
        """Answer what came before, then this refusal, then close; later bytes are dropped."""
        self.ended = True
        self.body.clear()
        self.queue.append((self._request(b""), False, refused))

    def _serve(self) -> None:
        """Answer queued requests in order, until one must wait on its upstream."""
        while self.queue and not self.busy and not self.transport.is_closing():
            req, keep_alive, refused = self.queue.popleft()
            if refused is None:
                self._answer(req, keep_alive)
                continue
            self.head_request = req.method == "HEAD"
            self._send(self.gateway.refuse(req, refused.status, str(refused) or None), True)
            self._after_writes(self._linger)

    def _linger(self) -> None:
        """Close after a refusal, reading (and dropping) what the client still sends."""
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def _answer(self, req: Request, keep_alive: bool) -> None:
        """At once when the gateway can; else in a task, and what follows waits for it."""
        self.head_request = req.method == "HEAD"
        resp = self.gateway.begin(req)
        if resp is None:
            self.busy = True
            if self.callbacks:
                self.gateway.start(req, functools.partial(self._replied, keep_alive=keep_alive))
            else:
                self.task = task = self.loop.create_task(self.gateway.complete(req))
                task.add_done_callback(functools.partial(self._answered, keep_alive=keep_alive))
        elif keep_alive:
            self._send(resp, False)
        else:
            self._close_after(resp)

    def _answered(self, task: asyncio.Task[Response], keep_alive: bool) -> None:
        self.task = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # a bug, not an upstream failure (those are 502/504 answers)
            log.error("request failed", exc_info=exc)
            self._replied(self.gateway.error(500, "internal error"), False)
            return
        self._replied(task.result(), keep_alive)

    def _replied(self, resp: Response, keep_alive: bool) -> None:
        """The answer of the request that waited on its upstream; then the ones behind it."""
        self.busy = False
        if not keep_alive:
            self._close_after(resp)
            return
        self._send(resp, False)
        self._serve()
        self._flow()

    def _send(self, resp: Response, close: bool) -> None:
        if self.transport.is_closing():
            return
        self._write(response_bytes(resp, close, self.head_request))
        if close:
            self.ended = True
            self.queue.clear()

    def _close_after(self, resp: Response) -> None:
        self._send(resp, True)
        self._after_writes(self.transport.close)  # the transport writes its buffer out first

    def _write(self, data: bytes) -> None:
        if self.writes is not None:
            self.writes.write(self.transport, data)
        else:
            self.transport.write(data)

    def _after_writes(self, action: Callable[[], None]) -> None:
        if self.writes is not None:
            self.writes.then(action)
        else:
            action()

    def _flow(self) -> None:
        """Backpressure: read no more while the client does not read, or has queued enough."""
        pause = not self.ended and (self.write_paused or len(self.queue) >= MAX_PIPELINED)
        if pause != self.read_paused and not self.transport.is_closing():
            self.read_paused = pause
            (self.transport.pause_reading if pause else self.transport.resume_reading)()

    def idle(self) -> bool:
        """True when nothing happened since the last call and nothing is in flight."""
        was_active, self.active = self.active, False
        return not was_active and not self.busy and not self.queue


async def _close_idle(live: set[HttpConnection]) -> None:
    # A flag per connection, not a clock read per request: idle for one whole period
    # (between IDLE_TIMEOUT_S and twice it) means closed.
    while True:
        await asyncio.sleep(IDLE_TIMEOUT_S)
        for conn in [c for c in live if c.idle()]:
            conn.transport.close()


async def _worker(factory: Callable[[], Gateway], host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    gateway = factory()
    if gateway.impl.batch_writes:
        gateway.writes = Writes(loop)
    live: set[HttpConnection] = set()
    # One listening socket per worker (SO_REUSEPORT): the kernel spreads connections over them.
    server = await loop.create_server(lambda: HttpConnection(gateway, loop, live), host, port,
                                      reuse_port=True, backlog=2048)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sweeper = loop.create_task(_close_idle(live))
    await stop.wait()
    sweeper.cancel()
    server.close()
    for conn in list(live):
        conn.transport.close()
    await gateway.close()


def _run_worker(target: str, host: str, port: int) -> None:
    import uvloop

    module, _, name = target.partition(":")
    factory = getattr(importlib.import_module(module), name)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_worker(factory, host, port))


def run(target: str, *, host: str, port: int, workers: int) -> None:
    """Serve the app factory `target` (`module:name`) with `workers` processes."""
    # One clear error here rather than a traceback from every worker. Without SO_REUSEPORT:
    # with it, the port of another gateway (same user) would be silently shared.
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    if workers == 1:
        _run_worker(target, host, port)
        return
    fork = multiprocessing.get_context("fork")  # nothing runs yet: no thread, no loop
    procs = [fork.Process(target=_run_worker, args=(target, host, port), daemon=True)
             for _ in range(workers)]
    for proc in procs:
        proc.start()

    def stop(signum: int, frame: Any) -> None:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    multiprocessing.connection.wait([proc.sentinel for proc in procs])  # until one ends
    stop(signal.SIGTERM, None)
    for proc in procs:
        proc.join()
    failed = [proc.exitcode for proc in procs if proc.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        raise ServiceError(f"a gateway worker exited with code {failed[0]}")
