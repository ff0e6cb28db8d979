"""The memory guard: trim, then shed, as RSS nears the limit; as a core and an ASGI middleware.

    MemoryGuard             the pure policy: past `trim_at` of the limit give memory back
                            (your `on_trim` callbacks, a full collection, malloc_trim), at
                            most once per `trim_interval_s`; past `shed_at` refuse new work
    MemoryGuardMiddleware   wraps any ASGI app: 503 + Retry-After for a request that
                            arrives while shedding (with `shed="bodies"`: only one that
                            carries a body), that declares a body (Content-Length)
                            too large for the room left below `shed_at`, or whose body
                            arrives while shedding
                            (the app sees the client go away: Starlette raises
                            ClientDisconnect); `ready_path` answers 503 while shedding or
                            above `trim_at`, so a readiness probe takes the pod out of
                            rotation before the kernel kills it; `metrics_path` serves
                            Prometheus text (RSS, limit, shed, trims, GC pauses)

Checking each body chunk, not only the request's start, is what bounds an app that
reads whole bodies: ten uploads admitted at 50% of the limit would otherwise all
grow together past it. The headroom above `shed_at` must hold what one request
allocates after its body is read (a copy, a parse): lower `shed_at` for such apps.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from perflab.bounded._memory import malloc_trim, memory_limit, parse_size, rss_bytes

__all__ = ["SHED_AT", "TRIM_AT", "MemoryGuard", "MemoryGuardMiddleware"]

TRIM_AT = 0.80  # of the limit: give memory back
SHED_AT = 0.90  # of the limit: refuse new work (503)
TRIM_INTERVAL_S = 1.0  # a full collection costs; not more often than this

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


class MemoryGuard:
    """When to trim and when to shed, from RSS against a limit.

    `limit`: bytes, a size string ("256MiB"), or None: PERFLAB_MEMORY_LIMIT, else the
    cgroup's; no limit found means the guard never acts. `trim_at`/`shed_at` are
    fractions of the limit, None to never trim or never shed.
    """

    def __init__(self, limit: int | str | None = None, *, trim_at: float | None = TRIM_AT,
                 shed_at: float | None = SHED_AT, trim_interval_s: float = TRIM_INTERVAL_S,
                 on_trim: Iterable[Callable[[], object]] = (),
                 rss: Callable[[], int] = rss_bytes) -> None:
        for name, value in (("trim_at", trim_at), ("shed_at", shed_at)):
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"{name} must be a fraction of the limit in (0, 1], got {value}")
        if isinstance(limit, str):
            limit = parse_size(limit)
        self.limit = limit if limit is not None else memory_limit(None)[0]
        self.trim_at = trim_at
        self.shed_at = shed_at
        self.trim_interval_s = trim_interval_s
        self.on_trim = list(on_trim)
        self.rss = rss
        self.shed = 0  # requests refused
        self.trims = 0
        self.shedding = False  # the last check's answer
        self._last_trim = -float("inf")

    def _over(self, fraction: float | None, rss: int) -> bool:
        return self.limit is not None and fraction is not None and rss > fraction * self.limit

    def check(self) -> bool:
        """True when new work must be refused now; trims first when it is time to."""
        if self.limit is None:
            return False
        rss = self.rss()
        if self._over(self.trim_at, rss):
            now = time.monotonic()
            if now - self._last_trim >= self.trim_interval_s:
                self._last_trim = now
                self.trim()
                rss = self.rss()
        self.shedding = self._over(self.shed_at, rss)
        return self.shedding

    def fits(self, size: int) -> bool:
        """Whether `size` more bytes stay below the shed threshold (a declared body)."""
        if self.limit is None or self.shed_at is None:
            return True
        return self.rss() + size <= self.shed_at * self.limit

    def ready(self) -> bool:
        """False while shedding or above the trim threshold: stop sending me traffic."""
        rss = self.rss()
        return not (self._over(self.shed_at, rss) or self._over(self.trim_at, rss))

    def trim(self) -> None:
        self.trims += 1
        for callback in self.on_trim:
            callback()
        gc.collect()
        malloc_trim()

    def status(self) -> dict[str, Any]:
        return {"ready": self.ready(), "rss_bytes": self.rss(), "memory_limit_bytes": self.limit,
                "trim_at": self.trim_at, "shed_at": self.shed_at, "shed_total": self.shed,
                "trims_total": self.trims}


_SHED_BODY = json.dumps({"error": "memory pressure: retry later"}).encode()


SHED_KINDS = ("all", "bodies")


class MemoryGuardMiddleware:
    """ASGI middleware: `MemoryGuardMiddleware(app, limit="256MiB", shed_at=0.85)`.

    Keyword arguments not named here go to `MemoryGuard` (trim_at, shed_at, on_trim, ...);
    or pass a ready `guard=`. Paths in `exempt` (and the probe paths) are never shed.

    `shed`: what is refused while shedding. "all" (the default): every new request,
    since the middleware cannot know what a request without a body allocates (a GET
    that renders a large answer or fills a cache grows memory too), and a shedding
    pod is out of rotation anyway (its readiness fails; its 503s are retried
    elsewhere). "bodies": only requests that carry a body (Content-Length > 0 or
    Transfer-Encoding), for services whose growth is what clients send: reads go on
    while uploads back off. Bodies are checked as they arrive either way.
    """

    def __init__(self, app: Any, limit: int | str | None = None, *,
                 guard: MemoryGuard | None = None, retry_after_s: int = 1,
                 ready_path: str | None = "/ready", metrics_path: str | None = None,
                 exempt: Iterable[str] = ("/health", "/metrics"), shed: str = "all",
                 **guard_options: Any) -> None:
        if shed not in SHED_KINDS:
            raise ValueError(f"shed must be one of {', '.join(SHED_KINDS)}, got {shed!r}")
        self.app = app
        self.shed_all = shed == "all"
        self.guard = guard if guard is not None else MemoryGuard(limit, **guard_options)
        self.retry_after = str(retry_after_s).encode()
        self.ready_path = ready_path
        self.metrics_path = metrics_path
        self.exempt = frozenset(exempt)
        self.gc: Any = None
        if metrics_path is not None:
            from perflab.measure import GcWatch

            self.gc = GcWatch().install()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == self.ready_path:
            status = self.guard.status()
            await _answer(send, 200 if status["ready"] else 503, json.dumps(status).encode())
            return
        if path == self.metrics_path:
            await _answer(send, 200, self._metrics().encode(), b"text/plain; version=0.0.4")
            return
        if path in self.exempt:
            await self.app(scope, receive, send)
            return
        over = self.guard.check()  # always: it is also what trims
        declared = _content_length(scope)
        if (over and (self.shed_all or _has_body(scope))) \
                or (declared and not self.guard.fits(declared)):
            self.guard.shed += 1
            await self._shed(send)
            return
        await self._guarded(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        aborted = started = False

        async def guarded_receive() -> Message:
            nonlocal aborted
            if aborted:
                return {"type": "http.disconnect"}
            message: Message = await receive()
            if message["type"] == "http.request" and message.get("more_body") \
                    and self.guard.check():
                # Mid-body: drop this request's buffers by telling the app the client left.
                aborted = True
                self.guard.shed += 1
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if aborted:  # the app's own answer to a vanished client is replaced by ours
                if not started:
                    started = True
                    await self._shed(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if not aborted:
                raise
        if aborted and not started:
            await self._shed(send)

    async def _shed(self, send: Send) -> None:
        await _answer(send, 503, _SHED_BODY, extra=[(b"retry-after", self.retry_after)])

    def _metrics(self) -> str:
        g = self.guard
        values = {
            "perflab_guard_rss_bytes": g.rss(),
            "perflab_guard_memory_limit_bytes": g.limit or 0,
            "perflab_guard_shed_total": g.shed,
            "perflab_guard_trims_total": g.trims,
            "perflab_guard_gc_collections_total": self.gc.collections,
            "perflab_guard_gc_pause_seconds_total": round(self.gc.pause_total, 6),
            "perflab_guard_gc_pause_seconds_max": round(self.gc.pause_max, 6),
        }
        return "".join(f"{k} {v}\n" for k, v in values.items())


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value not in
                                            (b"0", b"")):
            return True
    return False


def _content_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0  # chunked: checked as it arrives


async def _answer(send: Send, status: int, body: bytes,
                  content_type: bytes = b"application/json",
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
               *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
