"""The gateway's HTTP/1.1 upstream client: one response parser, one pool policy, callbacks.

Beyond the guide: aiohttp's client is general (redirects, cookies, tracing, a
task per request); the gateway needs one request shape against a few known
upstreams. Three layers, as aiohttp's connector has them:

- parsing: `_Connection`, an asyncio protocol feeding httptools' response
  parser (llhttp, the C parser Node.js uses). It refuses what a proxy must not
  pass on: Content-Length with Transfer-Encoding, a duplicate or invalid
  Content-Length, obs-fold, bare LF, bad chunk sizes, a transfer coding other
  than chunked, bytes after the answer. Each is an `UpstreamError` (a 502).
- pool policy: `PoolPolicy` (keep-alive or not, idle connections kept and
  their expiry, a bound on connections per upstream beyond which calls wait in
  line) applied by `Upstream`, one per route's upstream (TLS context included).
- timing: a `Timeouts` object keeps each call's deadline (`Deadlines`).

A call is started with `Client.start` and finished by calling `done` once,
from the connection's read callback: no task, no future (a task only to
connect). A pooled connection found dead before any byte of the answer is
retried once on a fresh one when the method is idempotent (RFC 9110 9.2.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httptools

__all__ = [
    "POOLS",
    "Answer",
    "Client",
    "Deadlines",
    "PoolPolicy",
    "Timeouts",
    "Upstream",
    "UpstreamError",
]


# An upstream answer's head: nginx's proxy_buffer_size is 4-8 KiB, so 64 KiB of fields is
# generous; and at most so many fields, whatever their size. Checked once the head is
# whole, and, for the memory a head not yet whole holds, per read (see data_received).
MAX_HEAD_BYTES = 64 << 10
MAX_HEAD_FIELDS = 256


class UpstreamError(Exception):
    """The upstream could not be reached, or answered something a proxy must not pass on."""


class Answer:
    """An upstream's answer (made per call: slots, not a frozen dataclass at twice the cost)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers  # lower-case names, in order, repeats kept
        self.body = body


Done = Callable[[Answer | None, Exception | None], None]


@dataclass(frozen=True)
class PoolPolicy:
    keep_alive: bool
    # Idle keep-alive connections kept per upstream: above any concurrency the case drives.
    max_idle: int = 256
    # Open connections per upstream (nginx's max_conns): beyond, calls wait for one.
    max_connections: int = 512
    # An idle connection older than this is not reused: upstreams close theirs after
    # some seconds (nginx 75 s, Go 90 s, uvicorn 5 s), and a race with that close costs a retry.
    idle_expiry_s: float = 4.0


POOLS = {"none": PoolPolicy(keep_alive=False), "keep-alive": PoolPolicy(keep_alive=True)}


class Call:
    """One upstream call: its bytes, deadline and callback, and where it is."""

    __slots__ = ("conn", "deadline", "done", "finished", "request", "retry", "timeout",
                 "timer", "upstream")

    def __init__(self, upstream: Upstream, request: bytes, timeout: float, deadline: float,
                 done: Done, retry: bool) -> None:
        self.upstream, self.request, self.done = upstream, request, done
        self.timeout, self.deadline = timeout, deadline
        self.retry = retry
        self.conn: _Connection | None = None
        self.timer: Any = None  # what its Timeouts keep it in
        self.finished = False

    def expire(self) -> None:
        self.upstream.fail(self, TimeoutError())


class Timeouts(Protocol):
    """How a call's deadline is kept (the client's `timeouts`)."""

    def arm(self, call: Call) -> None: ...
    def disarm(self, call: Call) -> None: ...


# A deadline this close is due: the loop's own timers run when within its clock resolution.
_DUE_S = 1e-3


class _Line:
    """The calls in flight with one timeout, in the order they started: deadline order."""

    __slots__ = ("calls", "handle", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.calls: dict[Call, None] = {}  # insertion-ordered, deleted from in O(1)
        self.handle: asyncio.TimerHandle | None = None  # due at or before the first deadline

    def fire(self) -> None:
        self.handle = None
        calls = self.calls
        due = self.loop.time() + _DUE_S
        while calls:
            call = next(iter(calls))
            if call.deadline > due:
                self.handle = self.loop.call_at(call.deadline, self.fire)
                return
            calls.pop(call, None)
            call.expire()


class Deadlines:
    """Each call's deadline exact, without a loop timer started and cancelled per call.

    The calls with the same timeout start in deadline order, so one loop timer per
    timeout, due at the earliest deadline in flight, is enough: arming and disarming a
    call are a dict insert and delete, and the timer, when it fires, expires what is
    due and is set again for the first deadline left (under load, about once per
    timeout period). A timer per call (uvloop's call_at, then cancel) cost more per
    call (valgrind, see benchmarks/gateway_request_cost.py). A sweep of every deadline
    every few ms instead was a ladder step once (`sweep-timeouts`): it made every
    timeout late by up to its period; this one is not late.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lines: dict[float, _Line] = {}

    def arm(self, call: Call) -> None:
        line = self.lines.get(call.timeout)
        if line is None:
            line = self.lines[call.timeout] = _Line(self.loop)
        line.calls[call] = None
        call.timer = line
        if line.handle is None:
            line.handle = self.loop.call_at(call.deadline, line.fire)

    def disarm(self, call: Call) -> None:
        call.timer.calls.pop(call, None)


class Writer(Protocol):
    def write(self, transport: Any, data: bytes) -> None: ...


class _Connection(asyncio.Protocol):
    """One upstream connection: the answer parsed by llhttp as its bytes arrive."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None
        self.call: Call | None = None
        self.lost = False
        self.idle_since = 0.0
        self.received = False  # a byte of the current answer arrived
        self.reset()

    def reset(self) -> None:
        self.head_bytes = 0  # read while the head was not whole
        self.read_size = 0  # the read being parsed
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.framed = False  # a Content-Length or chunked: the close does not end the body
        self.headers_done = False  # this call's answer's head is whole
        self.complete = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.read_size = len(data)
        if self.call is None:  # bytes nobody asked for: this connection cannot be trusted
            self.transport.close()
            return
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, UpstreamError) as exc:
            if self.call is None:  # after its answer: closed, never reused
                self.transport.close()
            else:
                self.upstream.fail(self.call, exc if isinstance(exc, UpstreamError)
                                   else UpstreamError(f"bad answer: {exc}"))
            return
        if not self.headers_done and self.call is not None:
            # httptools keeps a field until it is whole and llhttp bounds nothing: the bytes
            # read while the head is not whole are, to MAX_HEAD_BYTES and one read more.
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.upstream.fail(self.call, UpstreamError("bad answer: head too large"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.upstream.lost(self)
        call = self.call
        if call is None:
            return
        if self.complete or (self.headers_done and not self.framed):
            self.complete = True  # an answer delimited by the close is whole now
            self.upstream.answered(self, False)
        elif not self.received and call.retry:
            self.call = call.conn = None
            self.upstream.retry(call)
        else:
            self.upstream.fail(call, UpstreamError("bad answer: connection closed"))

    # -- httptools callbacks -----------------------------------------------------------
    def on_message_begin(self) -> None:
        self.headers_done = False
        if self.call is None or self.complete:
            raise UpstreamError("bad answer: more than one answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))  # lower-cased here: no second list

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # interim (100 Continue, 103 Early Hints): the answer follows
            self.headers = []
            return
        self.headers_done = True
        headers = self.headers
        if len(headers) > MAX_HEAD_FIELDS:
            raise UpstreamError("bad answer: too many header fields")
        # The head is within the bytes read since the answer began: only a larger sum of
        # reads can hold a head beyond the bound, so only then are the fields summed.
        if (self.head_bytes + self.read_size > MAX_HEAD_BYTES
                and sum(len(n) + len(v) for n, v in headers) > MAX_HEAD_BYTES):
            raise UpstreamError("bad answer: head too large")
        for name, value in headers:
            if name == b"content-length":
                self.framed = True
            elif name == b"transfer-encoding":
                if value.lower() != b"chunked":
                    raise UpstreamError(f"bad answer: Transfer-Encoding {value!r}")
                self.framed = True

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.upstream.max_body:
            raise UpstreamError("upstream answer too large")
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:
            return
        self.complete = True
        self.upstream.answered(self, self.parser.should_keep_alive())


class Upstream:
    """One upstream (scheme, host, port, TLS context) and its pool of connections."""

    def __init__(self, client: Client, url: str, ca_file: str | None) -> None:
        parts = urlsplit(url)
        self.client = client
        self.host = parts.hostname or ""
        self.tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            # The default trust store (SSL_CERT_FILE and SSL_CERT_DIR are honoured), or the
            # route's CA; verification and hostname checks on, never a plaintext fallback.
            self.tls = ssl.create_default_context(cafile=ca_file)
        self.port = parts.port or (443 if self.tls else 80)
        self.netloc = parts.netloc.encode("latin-1")
        self.name = f"{parts.scheme}://{parts.netloc}"
        self.max_body = client.max_body
        self.policy = client.policy
        self.idle: list[_Connection] = []
        self.open = 0  # connections open or being opened
        self.waiting: deque[Call] = deque()

    def start(self, call: Call) -> None:
        loop = self.client.loop
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.lost:
                continue
            if loop.time() - conn.idle_since > self.policy.idle_expiry_s:
                conn.transport.close()
                continue
            self._send(conn, call)
            return
        if self.open >= self.policy.max_connections:
            self.waiting.append(call)
            return
        self.open += 1
        task = loop.create_task(self._connect(call))
        self.client.connecting.add(task)  # a task only weakly referenced by the loop could vanish
        task.add_done_callback(self.client.connecting.discard)

    async def _connect(self, call: Call) -> None:
        loop = self.client.loop
        try:
            _, conn = await loop.create_connection(
                lambda: _Connection(self), self.host, self.port, ssl=self.tls,
                server_hostname=self.host if self.tls else None)
        except ssl.SSLCertVerificationError as exc:
            self.open -= 1
            self.fail(call, UpstreamError(f"TLS certificate of {self.name} not verified: "
                                          f"{exc.verify_message}"))
            self._next()
            return
        except (OSError, ssl.SSLError) as exc:
            self.open -= 1
            self.fail(call, UpstreamError(f"cannot connect to {self.name}: "
                                          f"{exc.strerror or exc}"))
            self._next()
            return
        if call.finished:  # timed out while connecting: the connection serves the next
            self._release(conn, True)
        else:
            self._send(conn, call)

    def _send(self, conn: _Connection, call: Call) -> None:
        call.conn = conn
        conn.call = call
        conn.received = False
        conn.reset()
        self.client.writer.write(conn.transport, call.request)

    def answered(self, conn: _Connection, reusable: bool) -> None:
        call = conn.call
        if call is None or call.finished:
            return
        call.finished = True
        conn.call = None
        self.client.timeouts.disarm(call)
        answer = Answer(conn.parser.get_status_code(), conn.headers, b"".join(conn.body))
        self._release(conn, reusable and self.policy.keep_alive)
        call.done(answer, None)

    def fail(self, call: Call, exc: Exception, close: bool = True) -> None:
        """Finish `call` with `exc` (once); its connection, mid-answer, is never reused."""
        if call.finished:
            return
        call.finished = True
        self.client.timeouts.disarm(call)
        conn, call.conn = call.conn, None
        if conn is not None:
            conn.call = None
            if close and not conn.lost:
                conn.transport.close()
        else:
            # Connecting if not waiting: the connection, once made, goes to the next call.
            with contextlib.suppress(ValueError):
                self.waiting.remove(call)
        call.done(None, exc)

    def retry(self, call: Call) -> None:
        """A pooled connection was dead before answering: once more on a fresh one."""
        call.retry = False
        call.conn = None
        self.start(call)

    def lost(self, conn: _Connection) -> None:
        self.open -= 1
        self._next()

    def _release(self, conn: _Connection, reusable: bool) -> None:
        if reusable and not conn.lost:
            if self.waiting:
                self._send(conn, self.waiting.popleft())
                return
            if len(self.idle) < self.policy.max_idle:
                conn.idle_since = self.client.loop.time()
                self.idle.append(conn)
                return
        if not conn.lost:
            conn.transport.close()  # `lost` counts it out and starts the next in line

    def _next(self) -> None:
        if self.waiting and self.open < self.policy.max_connections:
            self.start(self.waiting.popleft())

    def close(self) -> None:
        for conn in self.idle:
            if not conn.lost:
                conn.transport.close()
        self.idle.clear()


class _Direct:
    def write(self, transport: Any, data: bytes) -> None:
        transport.write(data)


class Client:
    """Upstream calls with callbacks: `start(upstream, request, timeout, done)`."""

    def __init__(self, policy: PoolPolicy, max_body: int, writer: Writer | None = None,
                 timeouts: Callable[[asyncio.AbstractEventLoop], Timeouts] = Deadlines,
                 ) -> None:
        self.policy = policy
        self.keep_alive = policy.keep_alive
        self.make_timeouts = timeouts
        self.max_body = max_body
        self.writer: Writer = writer if writer is not None else _Direct()
        self.connecting: set[asyncio.Task[None]] = set()
        self.upstreams: list[Upstream] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: Timeouts | None = None

    def upstream(self, url: str, ca_file: str | None = None) -> Upstream:
        upstream = Upstream(self, url, ca_file)
        self.upstreams.append(upstream)
        return upstream

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:  # asked once: CPython checks getpid() on every call
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def timeouts(self) -> Timeouts:
        if self._timeouts is None:
            self._timeouts = self.make_timeouts(self.loop)
        return self._timeouts

    def start(self, upstream: Upstream, request: bytes, timeout: float, done: Done,
              idempotent: bool = True) -> None:
        """`done(answer, None)`, or `done(None, TimeoutError | UpstreamError)`: called once."""
        call = Call(upstream, request, timeout, self.loop.time() + timeout, done,
                    idempotent and self.policy.keep_alive)
        self.timeouts.arm(call)
        upstream.start(call)

    async def close(self) -> None:
        for upstream in self.upstreams:
            upstream.close()
