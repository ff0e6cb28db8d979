"""The gateway as an ASGI or RSGI application: middleware, upstream calls, JSON errors.

Middleware is four pairs of hooks (request id, auth, metrics, sampled access
log), run either as the nested coroutine wrappers a first version builds, or
as a flat loop over hook lists (the ladder's "flat middleware"): same logic,
different structure, so the ladder measures only the structure.

Every buffer is bounded: request bodies by `limits.max_body` (413), upstream
bodies by `MAX_UPSTREAM_BODY` (502), the cache by `limits.cache_entries`, the
upstream pool by `POOL_SIZE` connections per route host.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from perflab.gateway._client import (
    CallbackPool,
    ProtocolPool,
    RawPool,
    UpstreamError,
    request_bytes,
    split_base,
)
from perflab.gateway._config import Config, Route, load_config
from perflab.gateway._core import FieldPicker, Metrics, TTLCache, match_route, select_fields
from perflab.gateway._impl import DEFAULT, IMPLS, Impl
from perflab.gateway._writes import Writes

__all__ = ["Gateway", "create_app"]

MAX_UPSTREAM_BODY = 16 << 20  # an upstream answer larger than this is refused (502)
# Request headers beyond this are refused (431); nginx's default allows 4 x 8 KiB lines.
MAX_HEADER_BYTES = 32 << 10
POOL_SIZE = 256  # keep-alive connections per upstream host: above any sane concurrency here
ACCESS_LOG_SAMPLE = 1000  # one request in this many is logged
log = logging.getLogger("perflab.gateway.access")

Headers = list[tuple[bytes, bytes]]


class RequestHeaders(Protocol):
    """Lower-case names: a dict under ASGI, granian's own mapping under RSGI."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def __contains__(self, key: str) -> bool: ...


class Request:
    __slots__ = ("body", "cache_key", "headers", "id", "method", "path", "query", "rest",
                 "route", "started")

    def __init__(self, method: str, path: str, query: str, headers: RequestHeaders,
                 body: bytes) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.id = ""
        self.started = time.perf_counter()
        # Set by the route lookup for the upstream call that follows it.
        self.route: Route | None = None
        self.rest = ""
        self.cache_key: str | None = None  # where a 200 answer is cached, if it is


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: Headers | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else [
            (b"content-type", b"application/json")]


Handler = Callable[[Request], Awaitable[Response]]
Before = Callable[[Request], Response | None]
After = Callable[[Request, Response], None]


class Gateway:
    def __init__(self, config: Config, impl: Impl) -> None:
        self.config = config
        self.impl = impl
        self.metrics = Metrics()
        self.cache = TTLCache(config.cache_entries) if impl.cache else None
        self.buffers: list[bytearray] = []  # the free list of pooled body buffers
        self.session: Any = None
        self.raw: RawPool | ProtocolPool | None = None
        self.bases = {route.prefix: split_base(route.upstream) for route in config.routes}
        self.writes: Writes | None = None  # set by a server core that batches its writes
        self.counter = 0
        if impl.counter_ids:
            # A random prefix per worker and a counter: unique, as uuid4 is, at a fifth of
            # its cost (uuid4 reads the kernel's random pool and builds an object per call).
            ids, prefix = itertools.count(), os.urandom(8).hex()
            self._new_id: Callable[[], str] = lambda: f"{prefix}{next(ids):016x}"
        else:
            self._new_id = lambda: uuid.uuid4().hex
        if impl.fast_json:
            import orjson

            self.loads: Callable[[bytes], Any] = orjson.loads
            self.dumps: Callable[[Any], bytes] = orjson.dumps
        else:
            self.loads = json.loads
            self.dumps = lambda doc: json.dumps(doc).encode()
        self.pickers = {route.prefix: FieldPicker(route.fields, self.loads, self.dumps)
                        for route in config.routes if route.fields is not None and impl.picker}
        # Outermost first: a hook that answers early (auth's 401, /metrics) still passes
        # back through the afters of the hooks before it, nested or flat.
        hooks: list[tuple[Before, After]] = [
            (self._request_id, self._request_id_after),
            (_nothing_before, self._metrics_after),
            (_nothing_before, self._access_log),
            (self._auth, _nothing_after),
            (self._metrics_endpoint, _nothing_after),
        ]
        if impl.flat:
            # Each before with the afters to run when it answers early: those of the hooks
            # that ran, inner first. Hooks with nothing to do on a side are left out of it.
            self.befores = [(b, [a for _, a in reversed(hooks[:i + 1]) if a is not _nothing_after])
                            for i, (b, _) in enumerate(hooks) if b is not _nothing_before]
            self.afters = [a for _, a in reversed(hooks) if a is not _nothing_after]
            self.handle: Handler = self._flat
        else:
            handler: Handler = self._route
            for before, after in reversed(hooks):
                handler = _nest(before, after, handler)
            self.handle = handler

    # -- middleware hooks -------------------------------------------------------------
    def _request_id(self, req: Request) -> Response | None:
        req.id = req.headers.get("x-request-id") or self._new_id()
        return None

    def _request_id_after(self, req: Request, resp: Response) -> None:
        resp.headers.append((b"x-request-id", req.id.encode("latin-1")))

    def _auth(self, req: Request) -> Response | None:
        keys = self.config.api_keys
        if keys is None or req.path == "/metrics" or req.headers.get("x-api-key") in keys:
            return None
        return self.error(401, "missing or wrong X-API-Key")

    def _metrics_endpoint(self, req: Request) -> Response | None:
        if req.path != "/metrics":
            return None
        return Response(200, self.render_metrics().encode(),
                        [(b"content-type", b"text/plain; version=0.0.4")])

    def _metrics_after(self, req: Request, resp: Response) -> None:
        self.metrics.observe(resp.status, time.perf_counter() - req.started)

    def _access_log(self, req: Request, resp: Response) -> None:
        self._log_sampled(req.id, req.method, req.path, resp.status, req.started)

    def _log_sampled(self, request_id: str, method: str, path: str, status: int,
                     started: float) -> None:
        self.counter += 1
        if self.counter % ACCESS_LOG_SAMPLE == 0:
            log.info("%s %s %s %d %.1fms", request_id, method, path, status,
                     (time.perf_counter() - started) * 1e3)

    def begin(self, req: Request) -> Response | None:
        """The flat chain up to the upstream call: the answer when it is known at once (an
        early hook's, a 404, a cache hit), else None, and `complete` finishes the request.

        Split so that a server core can answer without a coroutine when nothing is awaited.
        """
        for before, afters in self.befores:
            early = before(req)
            if early is not None:
                return _after(afters, req, early)
        resp = self._local(req)
        return None if resp is None else _after(self.afters, req, resp)

    def hit(self, method: bytes, target: bytes,
            headers: RequestHeaders) -> tuple[str, bytes] | None:
        """A cache hit in one call (the `hit-path` step): its request id and cached body.

        None when it is not a hit, or its API key is refused: the chain then answers. For a
        hit, what the chain's hooks would do is done inline: the request id, auth, metrics,
        the sampled access log. The server renders the answer around the id and body.
        """
        if method != b"GET" or self.cache is None:
            return None
        started = time.perf_counter()
        key = target.decode("latin-1")
        body = self.cache.get(key if "?" in key else f"{key}?")  # the key `_local` uses
        keys = self.config.api_keys
        if body is None or (keys is not None and headers.get("x-api-key") not in keys):
            return None
        request_id: str = headers.get("x-request-id") or self._new_id()
        self.metrics.cache_hits += 1
        self.metrics.observe(200, time.perf_counter() - started)
        self._log_sampled(request_id, "GET", key.partition("?")[0], 200, started)
        return request_id, body

    def fetch(self, method: bytes, target: bytes, headers: RequestHeaders,
              reply: Callable[[Response], None]) -> bool:
        """An upstream call in a few calls (the `miss-path` step); False leaves it to the chain.

        For a request without a body that goes upstream, what the chain's hooks do is
        done inline, as `hit` does for a hit: the request id, auth, the cache's miss,
        metrics, the sampled access log; there is no `Request`, no walk through the hook
        lists. The upstream call, field selection and errors are the chain's own code.
        Anything else (a refused key, /metrics, a 404, a hit) is left to the chain.
        `reply` gets the answer later, never before this returns.
        """
        started = time.perf_counter()
        path, _, query = target.decode("latin-1").partition("?")
        keys = self.config.api_keys
        if path == "/metrics" or (keys is not None and headers.get("x-api-key") not in keys):
            return False
        found = match_route(self.config.routes, path)
        if found is None:
            return False
        route, rest = found
        verb = method.decode("latin-1")
        cache_key = None
        if self.cache is not None and verb == "GET" and route.cache_ttl > 0:
            cache_key = f"{path}?{query}"
            if self.cache.get(cache_key) is not None:
                return False
            self.metrics.cache_misses += 1
        request_id: str = headers.get("x-request-id") or self._new_id()
        metrics = self.metrics

        def done(answer: tuple[int, str, bytes] | None, exc: Exception | None) -> None:
            try:
                resp = (self._failed(route, exc) if answer is None  # type: ignore[arg-type]
                        else self._shaped(route, *answer))
                if cache_key is not None and resp.status == 200:
                    self.cache.put(cache_key, resp.body, route.cache_ttl)  # type: ignore[union-attr]
            except Exception:  # a bug: the client still gets an answer
                log.exception("request %s failed", request_id)
                resp = self.error(500, "internal error")
            self._log_sampled(request_id, verb, path, resp.status, started)
            metrics.observe(resp.status, time.perf_counter() - started)
            resp.headers.append((b"x-request-id", request_id.encode("latin-1")))
            reply(resp)

        self._call(route, rest, query, verb, _forwarded(request_id, headers), b"", done)
        return True

    async def complete(self, req: Request) -> Response:
        """The upstream call of a request that `begin` could not answer, then the afters."""
        return _after(self.afters, req, await self._fetch(req))

    async def _flat(self, req: Request) -> Response:
        resp = self.begin(req)
        return resp if resp is not None else await self.complete(req)

    # -- the handler ------------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        return Response(status, self.dumps({"error": message, "status": status}))

    async def _route(self, req: Request) -> Response:
        resp = self._local(req)
        return resp if resp is not None else await self._fetch(req)

    def _local(self, req: Request) -> Response | None:
        """A 404 or a cache hit; else None, with the route noted on `req` for `_fetch`."""
        found = match_route(self.config.routes, req.path)
        if found is None:
            return self.error(404, f"no route for {req.path}")
        req.route, req.rest = found
        if self.cache is not None and req.method == "GET" and req.route.cache_ttl > 0:
            key = f"{req.path}?{req.query}"
            hit = self.cache.get(key)
            if hit is not None:
                self.metrics.cache_hits += 1
                return Response(200, hit)
            self.metrics.cache_misses += 1
            req.cache_key = key
        return None

    async def _fetch(self, req: Request) -> Response:
        route = req.route
        assert route is not None
        return self._remember(req, await self._upstream(route, req.rest, req))

    def _remember(self, req: Request, resp: Response) -> Response:
        """Cache a 200 answer to a request `_local` found cacheable."""
        if req.cache_key is not None and resp.status == 200:
            assert self.cache is not None and req.route is not None
            self.cache.put(req.cache_key, resp.body, req.route.cache_ttl)
        return resp

    def _raw_pool(self) -> RawPool | ProtocolPool:
        if self.raw is None:
            if self.impl.callbacks:
                self.raw = CallbackPool(POOL_SIZE, MAX_UPSTREAM_BODY, self.writes,
                                        sweep=self.impl.sweep_timeouts)
            else:
                pool = ProtocolPool if self.impl.protocol_client else RawPool
                self.raw = pool(POOL_SIZE, MAX_UPSTREAM_BODY)
        return self.raw

    def start(self, req: Request, reply: Callable[[Response], None]) -> None:
        """`complete` without a coroutine (`CallbackPool`): `reply` gets the finished answer."""
        route = req.route
        assert route is not None

        def done(answer: tuple[int, str, bytes] | None, exc: Exception | None) -> None:
            try:
                resp = (self._failed(route, exc) if answer is None  # type: ignore[arg-type]
                        else self._shaped(route, *answer))
                resp = _after(self.afters, req, self._remember(req, resp))
            except Exception:  # a bug: the client still gets an answer
                log.exception("request %s failed", req.id)
                resp = self.error(500, "internal error")
            reply(resp)

        self._call(route, req.rest, req.query, req.method, _forwarded(req.id, req.headers),
                   req.body, done)

    def _call(self, route: Route, rest: str, query: str, method: str, headers: dict[str, str],
              body: bytes, done: Callable[[tuple[int, str, bytes] | None, Exception | None],
                                          None]) -> None:
        """The upstream call of `start` and `fetch`, on the callback pool."""
        host, port, netloc, base = self.bases[route.prefix]
        target = (base + rest or "/") + (f"?{query}" if query else "")
        pool = self._raw_pool()
        assert isinstance(pool, CallbackPool)
        pool.start(host, port,
                   request_bytes(_upstream_method(method), netloc, target, headers, body),
                   route.timeout, done)

    async def _aiohttp(self, route: Route, method: str, url: str, headers: dict[str, str],
                       body: bytes) -> tuple[int, str, bytes]:
        import aiohttp

        try:
            async with self._client().request(
                method, url, data=body or None, headers=headers,
                timeout=aiohttp.ClientTimeout(total=route.timeout), allow_redirects=False,
            ) as up:
                if (up.content_length or 0) > MAX_UPSTREAM_BODY:
                    raise UpstreamError("upstream response too large")
                answer = await up.content.read(MAX_UPSTREAM_BODY + 1)
                if len(answer) > MAX_UPSTREAM_BODY or not up.content.at_eof():
                    raise UpstreamError("upstream response too large")
                return up.status, up.headers.get("Content-Type", "application/json"), answer
        except TimeoutError:
            raise  # a 504, not a 502 (TimeoutError is an OSError, and aiohttp's are ClientErrors)
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamError(type(exc).__name__) from exc

    def _client(self) -> Any:
        if self.session is None:
            import aiohttp

            # Baseline: a connection per request (force_close), as a first version does.
            connector = aiohttp.TCPConnector(limit=POOL_SIZE, force_close=not self.impl.pool,
                                             keepalive_timeout=30 if self.impl.pool else None)
            self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self.session

    async def _upstream(self, route: Route, rest: str, req: Request) -> Response:
        url = route.upstream + rest + (f"?{req.query}" if req.query else "")
        headers, method = _forwarded(req.id, req.headers), _upstream_method(req.method)
        try:
            if self.impl.raw_client:
                status, content_type, body = await self._raw_pool().request(
                    method, url, headers, req.body, route.timeout)
            else:
                status, content_type, body = await self._aiohttp(route, method, url, headers,
                                                                 req.body)
        except (TimeoutError, UpstreamError) as exc:
            return self._failed(route, exc)
        return self._shaped(route, status, content_type, body)

    def _failed(self, route: Route, exc: Exception) -> Response:
        self.metrics.upstream_errors += 1
        if isinstance(exc, TimeoutError):
            return self.error(504, f"upstream timed out after {route.timeout:g} s")
        return self.error(502, f"upstream unavailable: {exc}")

    def _shaped(self, route: Route, status: int, content_type: str, body: bytes) -> Response:
        """The upstream's answer as the gateway's: fields selected (502 if that fails)."""
        if route.fields is not None and status == 200:
            try:
                picker = self.pickers.get(route.prefix)
                body = (picker(body) if picker is not None
                        else self.dumps(select_fields(self.loads(body), route.fields)))
            except ValueError:
                self.metrics.upstream_errors += 1
                return self.error(502, "upstream sent invalid JSON")
            content_type = "application/json"
        return Response(status, body, [(b"content-type", content_type.encode("latin-1"))])

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
                 "perflab_gateway_cache_entries": float(len(self.cache) if self.cache else 0)}
        return self.metrics.render(extra)

    # -- ASGI ---------------------------------------------------------------------------
    async def _read_body(self, receive: Callable[[], Awaitable[dict[str, Any]]],
                         limit: int) -> bytes | None:
        """The whole request body, or None when it exceeds `limit`."""
        if self.impl.pooled_buffers:
            buf = self.buffers.pop() if self.buffers else bytearray()
            try:
                while True:
                    message = await receive()
                    buf += message.get("body", b"")
                    if len(buf) > limit:
                        return None
                    if not message.get("more_body"):
                        return bytes(buf)
            finally:
                buf.clear()
                if len(self.buffers) < 64:  # the pool is bounded too
                    self.buffers.append(buf)
        body = b""
        while True:
            message = await receive()
            body += bytes(message.get("body", b""))
            if len(body) > limit:
                return None
            if not message.get("more_body"):
                return body

    async def _answer(self, method: str, path: str, query: str, headers: RequestHeaders,
                      header_bytes: int, read_body: Callable[[int], Awaitable[bytes | None]],
                      ) -> Response:
        """One request, from either interface: the limits, then the middleware and the route."""
        limit = self.config.max_body
        declared = headers.get("content-length", "0")
        refuse = header_bytes > MAX_HEADER_BYTES or not declared.isdigit() or int(declared) > limit
        body = None if refuse else await read_body(limit)
        req = Request(method, path, query, headers, body or b"")
        if body is not None:
            return await self.handle(req)
        return self.refuse(req, 431 if header_bytes > MAX_HEADER_BYTES else 413)

    def refuse(self, req: Request, status: int, message: str | None = None) -> Response:
        """A request refused before the chain (431, 413, 400): still an id, still counted."""
        if message is None:
            message = (f"request headers larger than {MAX_HEADER_BYTES} bytes" if status == 431
                       else f"request body larger than {self.config.max_body} bytes")
        resp = self.error(status, message)
        self._request_id(req)
        self._request_id_after(req, resp)
        self._metrics_after(req, resp)
        return resp

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.raw is not None:
            await self.raw.close()

    # -- ASGI (uvicorn, and granian up to the ladder's "raw-client") -----------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        raw_headers = scope["headers"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        resp = await self._answer(
            scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers,
            sum(len(k) + len(v) for k, v in raw_headers),
            lambda limit: self._read_body(receive, limit))
        # With its length the server needs no chunked framing, and a HEAD's answer keeps it.
        length = [(b"content-length", b"%d" % len(resp.body))]
        await send({"type": "http.response.start", "status": resp.status,
                    "headers": resp.headers + length})
        await send({"type": "http.response.body", "body": resp.body})

    # -- RSGI (granian's own interface: plain attributes, one call to answer) ---------------
    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        headers = scope.headers  # lower-case names, looked up in Rust
        header_bytes = sum(len(k) + len(v) for k, v in headers.items())
        resp = await self._answer(scope.method, scope.path, scope.query_string, headers,
                                  header_bytes, lambda limit: self._read_rsgi_body(proto, limit,
                                                                                   headers))
        proto.response_bytes(resp.status, [(k.decode("latin-1"), v.decode("latin-1"))
                                           for k, v in resp.headers], resp.body)

    async def _read_rsgi_body(self, proto: Any, limit: int,
                              headers: RequestHeaders) -> bytes | None:
        if (self.impl.skip_empty_body and "content-length" not in headers
                and "transfer-encoding" not in headers):
            return b""  # HTTP/1.1: without either header a request has no body to wait for
        body = bytearray()
        async for chunk in proto:
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    def __rsgi_init__(self, loop: Any) -> None:
        pass

    def __rsgi_del__(self, loop: Any) -> None:
        loop.run_until_complete(self.close())


def _upstream_method(method: str) -> str:
    """A HEAD is asked upstream as a GET, as nginx's `proxy_cache_convert_head` does.

    Its fields are then selected as a GET's, and the Content-Length the client gets
    is the GET's; the server sends the answer without its body.
    """
    return "GET" if method == "HEAD" else method


def _forwarded(request_id: str, headers: RequestHeaders) -> dict[str, str]:
    """The headers an upstream call carries: the request id, and the body's type if any."""
    forwarded = {"X-Request-Id": request_id}
    if "content-type" in headers:
        forwarded["Content-Type"] = headers.get("content-type")
    return forwarded


def _after(afters: list[After], req: Request, resp: Response) -> Response:
    for after in afters:
        after(req, resp)
    return resp


def _nothing_before(req: Request) -> Response | None:
    return None


def _nothing_after(req: Request, resp: Response) -> None:
    return None


def _nest(before: Before, after: After, inner: Handler) -> Handler:
    async def layer(req: Request) -> Response:
        early = before(req)
        resp = early if early is not None else await inner(req)
        after(req, resp)
        return resp

    return layer


def create_app() -> Gateway:
    """The factory the servers import in each worker: config and variant from the environment."""
    from pathlib import Path

    config = load_config(Path(os.environ["PERFLAB_GATEWAY_CONFIG"]))
    impl = IMPLS[os.environ.get("PERFLAB_GATEWAY_IMPL", DEFAULT)]
    gateway = Gateway(config, impl)
    if impl.gc_freeze:
        # Everything alive after start-up (modules, the app, its config) lives as long as the
        # worker: frozen, it is never traversed again by a full collection. This one
        # collection is not a pause any request waits on: /metrics does not count it.
        gateway.metrics.gc.remove()
        gc.collect()
        gc.freeze()
        gateway.metrics.gc.install()
    return gateway


