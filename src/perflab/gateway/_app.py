"""The gateway itself, behind one small interface to whichever server core runs it.

A server core (`_asgi` for uvicorn, `_server` for the own core) turns what it
parsed into a `Request` with `Gateway.prepare` (which normalizes the target
and refuses what a proxy must not serve), sets `req.reply`, and calls
`Gateway.handle(req)`; the answer arrives once through `req.reply(resp)`,
during the call (a hit, a 404, a 401) or later (an upstream call). A request
refused before that (400, 408, 413, 431, 503) is answered by `Gateway.refuse`.
`start()` runs on the server's loop before the first request, `close()` after
the last.

Every buffer is bounded: request bodies by `limits.max_body` (413), upstream
answers by `MAX_UPSTREAM_BODY` (502), the cache by `limits.cache_entries`, the
upstream pool by its `PoolPolicy`.
"""

from __future__ import annotations

import gc
import http
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from perflab.gateway._accesslog import AccessLogWriter
from perflab.gateway._buffers import BUFFERS, Buffers
from perflab.gateway._client import POOLS, Answer, Client, Upstream, UpstreamError
from perflab.gateway._codec import CODECS
from perflab.gateway._config import Config, Route, load_config
from perflab.gateway._core import CACHES, Metrics, match_route
from perflab.gateway._ids import REQUEST_IDS
from perflab.gateway._impl import DEFAULT, IMPLS, Impl
from perflab.gateway._middleware import MIDDLEWARES, Hook
from perflab.gateway._proxy import (
    Forwarding,
    cache_ttl,
    check_head,
    field_lines,
    forwarded_head,
    parse_target,
    response_fields,
    valid_request_id,
    vary_names,
)
from perflab.gateway._writes import WRITES, Writes

__all__ = ["GC_SETUPS", "App", "Gateway", "Request", "Response", "create_app", "render"]

MAX_UPSTREAM_BODY = 16 << 20  # an upstream answer larger than this is refused (502)
# Request headers beyond this are refused (431); nginx's default allows 4 x 8 KiB lines.
MAX_HEADER_BYTES = 32 << 10
log = logging.getLogger("perflab.gateway")

Headers = list[tuple[bytes, bytes]]
_REASONS = {status.value: status.phrase.encode() for status in http.HTTPStatus}
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})


class Request:
    __slots__ = ("authority", "body", "client", "headers", "id", "index", "method", "path",
                 "proto", "query", "reply", "started")

    def __init__(self, method: bytes, path: str, query: str, headers: Headers,
                 index: dict[bytes, bytes], body: bytes, client: bytes,
                 authority: bytes | None = None, proto: bytes = b"http") -> None:
        self.method = method
        self.path = path  # normalized (`parse_target`)
        self.query = query
        self.headers = headers  # lower-case names, in order, repeats kept
        self.index = index  # name -> value (the last, for the few the gateway looks at)
        self.body = body
        self.client = client
        self.authority = authority  # from an absolute-form target
        self.proto = proto
        self.id = b""
        self.started = time.perf_counter()
        self.reply: Callable[[Response], None] = _unset

    @property
    def host(self) -> bytes:
        """What the client asked for: the target's authority, else its Host (RFC 9112 3.2.2)."""
        return self.authority or self.index.get(b"host", b"")


def _unset(resp: Response) -> None:
    raise RuntimeError("a request answered before the server core set its reply")


class Response:
    """Status, end-to-end header fields (lower-case names), body; kept as is by the cache."""

    __slots__ = ("_block", "body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: Headers | None = None,
                 block: bytes | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else [
            (b"content-type", b"application/json")]
        self._block = block

    @property
    def block(self) -> bytes:
        """The header fields as lines, rendered once (a cached answer is rendered once)."""
        if self._block is None:
            self._block = field_lines(self.headers)
        return self._block


def render(resp: Response, request_id: bytes, close: bool, head: bool = False) -> bytes:
    """The whole HTTP/1.1 answer: status line, fields, request id, Content-Length, body.

    The answer to a HEAD (`head`) has the body's Content-Length and no body; a 204
    or 304 has neither (RFC 9110, 8.6 and 9.3.2).
    """
    close_line = b"connection: close\r\n" if close else b""
    status = resp.status
    if status == 204 or status == 304 or 100 <= status < 200:
        return b"HTTP/1.1 %d %s\r\n%sx-request-id: %s\r\n%s\r\n" % (
            status, _REASONS.get(status, b""), resp.block, request_id, close_line)
    return b"HTTP/1.1 %d %s\r\n%sx-request-id: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status, _REASONS.get(status, b""), resp.block, request_id, len(resp.body),
        close_line, b"" if head else resp.body)


class App(Protocol):
    """All a server core (`_server`, `_asgi`) may use of the gateway."""

    config: Config  # the limits a core enforces itself
    buffers: Buffers  # for request bodies
    writes: Writes | None  # for socket writes, once `start` has made it
    handle: Callable[[Request], None]  # the answer comes through req.reply, once

    def start(self, loop: Any) -> None: ...
    async def close(self) -> None: ...
    def prepare(self, method: bytes, target: bytes, headers: Headers,
                index: dict[bytes, bytes], body: bytes, client: bytes,
                http10: bool = False) -> Request: ...
    def refuse(self, req: Request | None, status: int, message: str,
               client: bytes = b"-") -> tuple[Response, bytes]: ...


class _Route:
    """A configured route with what its calls need, made once at start."""

    __slots__ = ("base", "cache_ttl", "forwarding", "picker", "prefix", "route", "upstream")

    def __init__(self, route: Route, upstream: Upstream, picker: Callable[[bytes], bytes] | None,
                 caching: bool) -> None:
        self.route = route
        self.prefix = route.prefix
        self.upstream = upstream
        self.base = route.upstream[len(upstream.name):]  # the upstream URL's path
        self.picker = picker
        self.cache_ttl = route.cache_ttl if caching else 0.0
        self.forwarding = Forwarding(
            host=upstream.netloc, preserve_host=route.preserve_host,
            allow=(frozenset(h.encode() for h in route.forward_headers)
                   if route.forward_headers is not None else None),
            drop=frozenset(h.encode() for h in route.drop_headers),
            identity=route.fields is not None)


def _no_gc_setup(gateway: Gateway) -> None:
    pass


def _freeze(gateway: Gateway) -> None:
    # Everything alive after start-up (modules, the app, its config) lives as long as the
    # worker: frozen, it is never traversed again by a full collection. This one
    # collection is not a pause any request waits on: /metrics does not count it.
    gateway.metrics.gc.remove()
    gc.collect()
    gc.freeze()
    gateway.metrics.gc.install()


GC_SETUPS: dict[str, Callable[[Gateway], None]] = {"default": _no_gc_setup, "freeze": _freeze}


class Gateway:
    def __init__(self, config: Config, impl: Impl) -> None:
        self.config = config
        self.impl = impl
        self.metrics = Metrics()
        self.codec = CODECS[impl.codec]()
        self.buffers = BUFFERS[impl.buffers]()
        self.new_id = REQUEST_IDS[impl.ids]()
        self.cache = CACHES[impl.cache](config.cache_entries)
        self.client = Client(POOLS[impl.pool], MAX_UPSTREAM_BODY)
        self.writes: Writes | None = None  # made by `start`, on the server's loop
        self.routes = [
            _Route(r, self.client.upstream(r.upstream, r.ca_file),
                   self.codec.picker(r.fields) if r.fields is not None else None,
                   caching=impl.cache != "off")
            for r in config.routes]
        self.api_keys = (frozenset(k.encode() for k in config.api_keys)
                         if config.api_keys is not None else None)
        self.access_log = (AccessLogWriter(config.access_log)
                           if config.access_log is not None else None)
        # Outermost first: a hook that answers early (auth's 401, /metrics) still passes
        # back through the afters of the hooks before it, nested or flat. A hook with
        # nothing to do in this config (no keys, no log) is not in the chain at all.
        hooks: list[Hook] = [(self._request_id, None), (None, self._observe)]
        if self.access_log is not None:
            hooks.append((None, self.access_log))
        if self.api_keys is not None:
            hooks.append((self._auth, None))
        hooks.append((self._metrics_endpoint, None))
        self.handle, self.finish = MIDDLEWARES[impl.middleware](hooks, self._route)

    def start(self, loop: Any) -> None:
        """On the server's loop, before the first request."""
        self.writes = WRITES[self.impl.writes](loop)
        self.client.writer = self.writes
        GC_SETUPS[self.impl.gc](self)

    async def close(self) -> None:
        await self.client.close()
        if self.access_log is not None:
            self.access_log.close()

    # -- from the server core ---------------------------------------------------------
    def prepare(self, method: bytes, target: bytes, headers: Headers,
                index: dict[bytes, bytes], body: bytes, client: bytes,
                http10: bool = False) -> Request:
        """A parsed request as the gateway serves it; BadRequest if it must not be served."""
        check_head(headers, index, http10)
        path, query, authority = parse_target(target)
        return Request(method, path, query, headers, index, body, client, authority)

    def refuse(self, req: Request | None, status: int, message: str, client: bytes = b"-",
               ) -> tuple[Response, bytes]:
        """A request refused before the chain (400, 408, 413, 431, 503): still counted.

        The answer and its request id; a request id the client sent is not trusted here.
        """
        if req is None:
            req = Request(b"-", "-", "", [], {}, b"", client)
        req.id = self.new_id()
        resp = self.error(status, message)
        self._observe(req, resp)
        if self.access_log is not None:
            self.access_log(req, resp)
        return resp, req.id

    def error(self, status: int, message: str) -> Response:
        return Response(status, self.codec.dumps({"error": message, "status": status}))

    # -- middleware hooks -------------------------------------------------------------
    def _request_id(self, req: Request) -> Response | None:
        sent = req.index.get(b"x-request-id")
        # A client's id is kept only if bounded and plain (`valid_request_id`), else replaced.
        req.id = sent if sent is not None and valid_request_id(sent) else self.new_id()
        return None

    def _auth(self, req: Request) -> Response | None:
        if req.path == "/metrics" or req.index.get(b"x-api-key") in self.api_keys:  # type: ignore[operator]
            return None
        return self.error(401, "missing or wrong X-API-Key")

    def _metrics_endpoint(self, req: Request) -> Response | None:
        if req.path != "/metrics":
            return None
        return Response(200, self.render_metrics().encode(),
                        [(b"content-type", b"text/plain; version=0.0.4")])

    def _observe(self, req: Request, resp: Response) -> None:
        self.metrics.observe(resp.status, time.perf_counter() - req.started)

    # -- the route: a 404, a cache hit, or an upstream call -----------------------------
    def _route(self, req: Request) -> None:
        found = match_route(self.routes, req.path)
        if found is None:
            self.finish(req, self.error(404, f"no route for {req.path}"))
            return
        route, rest = found
        method = req.method
        cache_key = None
        if route.cache_ttl and (method == b"GET" or method == b"HEAD") and (
                route.route.cache_authorized or b"authorization" not in req.index):
            cache_key = f"{req.path}?{req.query}"  # HEAD is asked as a GET: the same entry
            entry = self.cache.get(cache_key)
            if entry is not None:
                hit, vary = entry
                index = req.index
                for name, value in vary:
                    if index.get(name) != value:
                        break
                else:
                    self.metrics.cache_hits += 1
                    self.finish(req, hit)
                    return
            self.metrics.cache_misses += 1
        target = (route.base + rest or "/").encode("latin-1")
        if req.query:
            target += b"?" + req.query.encode("latin-1")
        # A HEAD is asked upstream as a GET, as nginx's proxy_cache_convert_head does: its
        # fields are then selected as a GET's, and its Content-Length is the GET's.
        up_method = b"GET" if method == b"HEAD" else method
        head = forwarded_head(up_method, target, req.headers, route.forwarding,
                              client=req.client, proto=req.proto, host=req.host,
                              request_id=req.id, body_length=len(req.body),
                              keep_alive=self.client.keep_alive)

        def done(answer: Answer | None, exc: Exception | None) -> None:
            try:
                resp = (self._shaped(route, answer) if answer is not None
                        else self._failed(route, exc))  # type: ignore[arg-type]
                if cache_key is not None and answer is not None and resp.status == 200:
                    ttl = cache_ttl(answer.headers, route.cache_ttl)
                    if ttl > 0:
                        vary = tuple((name, req.index.get(name))
                                     for name in vary_names(answer.headers))
                        self.cache.put(cache_key, (resp, vary), ttl)
            except Exception:  # a bug: the client still gets an answer
                log.exception("request %s failed", req.id.decode("latin-1"))
                resp = self.error(500, "internal error")
            self.finish(req, resp)

        self.client.start(route.upstream, head + req.body if req.body else head,
                          route.route.timeout, done, idempotent=up_method in _IDEMPOTENT)

    def _failed(self, route: _Route, exc: Exception) -> Response:
        self.metrics.upstream_errors += 1
        if isinstance(exc, TimeoutError):
            return self.error(504, f"upstream timed out after {route.route.timeout:g} s")
        log.warning("502 for %s: %s", route.prefix, exc)  # one line: why, for the operator
        message = "upstream unavailable" if isinstance(exc, UpstreamError) else "upstream error"
        return self.error(502, f"{message}: {exc}")

    def _shaped(self, route: _Route, answer: Answer) -> Response:
        """The upstream's answer as the client's: its status and end-to-end fields, and the
        body with only `fields` kept (then a 502 if that body is not JSON)."""
        body = answer.body
        if route.picker is not None and answer.status == 200:
            try:
                body = route.picker(body)
            except ValueError:
                self.metrics.upstream_errors += 1
                return self.error(502, "upstream sent invalid JSON")
        return Response(answer.status, body, response_fields(answer.headers))

    # -- metrics ----------------------------------------------------------------------
    def render_metrics(self) -> str:
        rss = 0.0
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = float(line.split()[1]) * 1024
        except OSError:
            pass
        extra = {"process_resident_memory_bytes": rss,
                 "perflab_gateway_cache_entries": float(len(self.cache))}
        return self.metrics.render(extra)


def create_app() -> Gateway:
    """The factory a server imports in each worker: config and variant from the environment."""
    from pathlib import Path

    config = load_config(Path(os.environ["PERFLAB_GATEWAY_CONFIG"]))
    return Gateway(config, IMPLS[os.environ.get("PERFLAB_GATEWAY_IMPL", DEFAULT)])
