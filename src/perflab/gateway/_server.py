"""The gateway's own HTTP/1.1 server core: httptools' C parser on uvloop protocols.

Beyond the guide. Under uvicorn every request reaches the app as an ASGI
scope, messages and a task of its own, even a cache hit that awaits nothing.
Here a request is parsed by llhttp as its bytes arrive, and one the gateway
answers at once (a hit, a 404, /metrics, a 401) is answered inside that same
read callback; one that goes upstream is answered from the pooled upstream
connection's read callback (`_client`). No task, no coroutine.

llhttp refuses the request-smuggling forms itself (CL with TE, duplicate or
invalid Content-Length, obs-fold, bare LF, bad chunk sizes); `Gateway.prepare`
refuses what it lets through. A refusal is answered, then the connection is
closed: after a framing error nothing later on it can be trusted.

Bounded like the rest of the gateway: a request's head (`MAX_HEADER_BYTES`,
431) and body (`limits.max_body`, 413), the time to send a head
(`limits.header_timeout`, 408: slow-loris, nginx's client_header_timeout), the
requests a client may pipeline before reading its answers (`MAX_PIPELINED`),
the connections (`limits.max_connections`, 503 past it) and their idle time
(`limits.idle_timeout`). SIGTERM stops accepting, closes idle connections,
lets requests in flight finish within `limits.shutdown_grace`, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httptools

from perflab.errors import ServiceError
from perflab.gateway._app import MAX_HEADER_BYTES, App, Request, Response, render
from perflab.gateway._proxy import BadRequest

__all__ = ["HttpConnection", "Server", "run"]

MAX_PIPELINED = 16  # parsed requests waiting for their turn on one connection
# After a refusal the rest of the request is read and dropped for this long before the close:
# closing with unread bytes would reset the connection, and the client could lose the answer.
LINGER_S = 2.0
# The head deadline and the idle time are checked by one sweep every 1/TICKS of the head
# deadline, not a timer per connection: a connection is late once more than TICKS sweeps
# passed since it began its head, so it is cut between 1 and 1 + 1/TICKS times the limit.
TICKS = 4
log = logging.getLogger("perflab.gateway.server")


class _Refused(Exception):
    """Raised from a parser callback: the connection ends with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Server:
    """What a worker's connections share: the gateway, the loop, the live set, the clock."""

    def __init__(self, gateway: App, loop: asyncio.AbstractEventLoop) -> None:
        self.gateway, self.loop = gateway, loop
        self.config = gateway.config
        self.live: set[HttpConnection] = set()
        self.tick = 0  # sweeps so far; connections note it instead of reading a clock
        self.tick_s = self.config.header_timeout / TICKS
        self.idle_ticks = max(TICKS, round(self.config.idle_timeout / self.tick_s))
        self.draining = False

    def sweep(self) -> None:
        """Close what waited too long: a head begun over TICKS sweeps ago (408), an idle one."""
        self.tick += 1
        for conn in list(self.live):
            late = self.tick - conn.mark
            if conn.in_head_bytes and late > TICKS:
                conn.refuse_now(_Refused(408, "request head not received in time"))
            elif conn.idle() and late > self.idle_ticks:
                conn.transport.close()


class HttpConnection(asyncio.Protocol):
    """One client connection: requests parsed as they arrive, answered in order."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.gateway = gateway = server.gateway
        self.writes = gateway.writes
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.client = b"-"
        # (request, keep-alive, refusal): answered in order; a refusal ends the connection
        self.queue: deque[tuple[Request | None, bool, _Refused | None]] = deque()
        self.busy = False  # a request is being answered: the next ones wait for it
        self.serving = False  # inside _serve: an answer given at once does not re-enter it
        self.current: Request | None = None
        self.keep_alive = True
        self.head_request = False
        self._reply = self._replied  # one bound method per connection, not one per request
        self.ended = False  # answered its last request, or refused one: reads no more
        self.write_paused = self.read_paused = False
        self.mark = server.tick  # the sweep when the head began, or the connection went idle
        # the request being parsed
        self.in_head_bytes = False  # some bytes of a head came, not all of it
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.index: dict[bytes, bytes] = {}
        self.header_bytes = 0  # bytes of a head read so far, over several reads
        self.big_read = False  # the read being parsed is larger than a head may be
        self.body: bytearray | None = None
        self.http10 = False

    # -- asyncio -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]).encode("latin-1") if peer else b"-"
        server = self.server
        if server.draining or len(server.live) >= server.config.max_connections:
            # A deliberate answer instead of a silent close (uvicorn's limit_concurrency).
            self.refuse_now(_Refused(503, "too many connections" if not server.draining
                                     else "shutting down"))
            return
        server.live.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.server.live.discard(self)

    def pause_writing(self) -> None:
        self.write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._flow()

    def data_received(self, data: bytes) -> None:
        if self.ended:
            return
        self.big_read = len(data) > MAX_HEADER_BYTES
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # answered as a plain request, then closed
            self.ended = True
        except httptools.HttpParserError as exc:
            refused = exc.__context__ if isinstance(exc.__context__, _Refused) else _Refused(
                400, f"bad request: {exc}")
            self._refuse(refused)
        else:
            # A head that never ends stays in the parser's buffer: bound it.
            if self.in_head_bytes:
                self.header_bytes += len(data)
                if self.header_bytes > MAX_HEADER_BYTES:
                    self._refuse(_Refused(431, f"request head larger than "
                                               f"{MAX_HEADER_BYTES} bytes"))
        if self.queue:  # pipelined behind a request still waiting, or a refusal
            self._serve()
        if self.read_paused or len(self.queue) >= MAX_PIPELINED:
            self._flow()

    # -- httptools callbacks -----------------------------------------------------------
    def on_message_begin(self) -> None:
        self.in_head_bytes = True
        self.mark = self.server.tick
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))  # lower-cased here: no second list

    def on_headers_complete(self) -> None:
        self.in_head_bytes = False
        self.header_bytes = 0
        # A head within one read of at most MAX_HEADER_BYTES is within the bound; a head
        # over several reads is counted in data_received: only a larger read needs a sum.
        if self.big_read and sum(len(n) + len(v) for n, v in self.headers) > MAX_HEADER_BYTES:
            raise _Refused(431, f"request head larger than {MAX_HEADER_BYTES} bytes")
        self.index = index = dict(self.headers)
        self.http10 = self.parser.get_http_version() == "1.0"
        declared = index.get(b"content-length")
        limit = self.server.config.max_body
        if declared is not None and int(declared) > limit:  # llhttp checked its digits
            raise _Refused(413, f"request body larger than {limit} bytes")
        expect = index.get(b"expect")
        if (expect is not None and expect.lower() == b"100-continue"
                and not self.queue and not self.busy):
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self.body is None:
            self.body = self.gateway.buffers.take()
        self.body += body
        if len(self.body) > self.server.config.max_body:  # chunked: no length declared
            raise _Refused(413, f"request body larger than {self.server.config.max_body} bytes")

    def on_message_complete(self) -> None:
        if self.ended:  # pipelined after a request that closes the connection: never answered
            return
        body = b""
        if self.body is not None:
            body = bytes(self.body)
            self.gateway.buffers.give(self.body)
            self.body = None
        parser = self.parser
        try:
            req = self.gateway.prepare(parser.get_method(), self.url, self.headers, self.index,
                                       body, self.client, self.http10)
        except BadRequest as exc:
            raise _Refused(exc.status, f"bad request: {exc}") from exc
        keep_alive = parser.should_keep_alive() and not parser.should_upgrade()
        if self.queue or self.busy:  # pipelined: answered in its turn
            self.queue.append((req, keep_alive, None))
        else:
            self._answer(req, keep_alive)

    # -- answering ---------------------------------------------------------------------
    def _answer(self, req: Request, keep_alive: bool) -> None:
        self.busy = True
        self.current = req
        self.keep_alive = keep_alive
        self.head_request = req.method == b"HEAD"
        req.reply = self._reply
        self.gateway.handle(req)

    def _replied(self, resp: Response) -> None:
        """The answer of the current request (now, or from an upstream's callback)."""
        req = self.current
        assert req is not None
        self.busy = False
        self.current = None
        if self.transport.is_closing():
            return
        close = not self.keep_alive or self.server.draining
        self._write(render(resp, req.id, close, self.head_request))
        self.mark = self.server.tick
        if close:
            self.ended = True
            self.queue.clear()
            self._after_writes(self.transport.close)  # the transport writes its buffer first
            return
        if self.queue:
            self._serve()
            self._flow()

    def _refuse(self, refused: _Refused) -> None:
        """Answer what came before, then this refusal, then close; later bytes are dropped."""
        self.ended = True
        self.in_head_bytes = False
        if self.body is not None:
            self.gateway.buffers.give(self.body)
            self.body = None
        self.queue.append((None, False, refused))

    def refuse_now(self, refused: _Refused) -> None:
        """A refusal that waits for nothing (408, 503): nothing else is in flight."""
        self._refuse(refused)
        self._serve()

    def _serve(self) -> None:
        """Answer queued requests in order, until one must wait on its upstream."""
        if self.serving:
            return
        self.serving = True
        try:
            while self.queue and not self.busy and not self.transport.is_closing():
                req, keep_alive, refused = self.queue.popleft()
                if refused is None:
                    assert req is not None
                    self._answer(req, keep_alive)
                    continue
                resp, request_id = self.gateway.refuse(None, refused.status, str(refused),
                                                       self.client)
                self._write(render(resp, request_id, True))
                self.queue.clear()
                self._after_writes(self._linger)
        finally:
            self.serving = False

    def _linger(self) -> None:
        """Close after a refusal, reading (and dropping) what the client still sends."""
        if self.transport.is_closing():
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.server.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        self.writes.write(self.transport, data)  # type: ignore[union-attr]

    def _after_writes(self, action: Callable[[], None]) -> None:
        self.writes.then(action)  # type: ignore[union-attr]

    def _flow(self) -> None:
        """Backpressure: read no more while the client does not read, or has queued enough."""
        pause = not self.ended and (self.write_paused or len(self.queue) >= MAX_PIPELINED)
        if pause != self.read_paused and not self.transport.is_closing():
            self.read_paused = pause
            (self.transport.pause_reading if pause else self.transport.resume_reading)()

    def idle(self) -> bool:
        """Nothing in flight, nothing queued, no head begun."""
        return not self.busy and not self.queue and not self.in_head_bytes


async def _sweeper(server: Server) -> None:
    while True:
        await asyncio.sleep(server.tick_s)
        server.sweep()


async def serve_on(gateway: App, host: str, port: int, stop: asyncio.Event,
                   ready: Callable[[], None] | None = None) -> None:
    """Serve until `stop` is set, then shut down gracefully (see the module's docstring)."""
    loop = asyncio.get_running_loop()
    gateway.start(loop)
    server = Server(gateway, loop)
    # One listening socket per worker (SO_REUSEPORT): the kernel spreads connections over them.
    listener = await loop.create_server(lambda: HttpConnection(server), host, port,
                                        reuse_port=True, backlog=2048)
    sweeper = loop.create_task(_sweeper(server))
    if ready is not None:
        ready()
    await stop.wait()
    server.draining = True
    listener.close()
    for conn in [c for c in server.live if not c.busy and not c.queue]:
        conn.transport.close()  # idle, or inside a head: nothing in flight to finish
    deadline = time.monotonic() + gateway.config.shutdown_grace
    while server.live and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    for conn in list(server.live):  # past the grace period: what is left is cut
        conn.transport.close()
    sweeper.cancel()
    await gateway.close()


async def _worker(factory: Callable[[], App], host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve_on(factory(), host, port, stop)


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
                proc.terminate()  # SIGTERM: each worker drains, then exits 0

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    multiprocessing.connection.wait([proc.sentinel for proc in procs])  # until one ends
    stop(signal.SIGTERM, None)
    for proc in procs:
        proc.join()
    failed = [proc.exitcode for proc in procs if proc.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        raise ServiceError(f"a gateway worker exited with code {failed[0]}")
