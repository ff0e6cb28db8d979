"""The memory guard's policy and its ASGI middleware, driven by a fake RSS (no server)."""

import asyncio
import json

import pytest

import perflab.bounded
from perflab.bounded import MemoryGuard, MemoryGuardMiddleware

MIB = 2**20


class FakeRss:
    def __init__(self, value):
        self.value = value

    def __call__(self):
        return self.value


def test_public_api_is_what_all_says():
    assert sorted(perflab.bounded.__all__) == sorted(
        name for name in dir(perflab.bounded) if not name.startswith("_"))


def test_guard_trims_then_sheds_at_its_thresholds():
    rss = FakeRss(50 * MIB)
    trimmed = []
    guard = MemoryGuard(100 * MIB, trim_at=0.6, shed_at=0.8, rss=rss,
                        on_trim=[lambda: trimmed.append(1)])
    assert not guard.check() and guard.ready() and guard.trims == 0
    rss.value = 70 * MIB  # past trim_at, not shed_at: trims (once per interval), serves
    assert not guard.check() and not guard.check()
    assert guard.trims == 1 and trimmed == [1] and not guard.ready()
    rss.value = 85 * MIB
    assert guard.check() and guard.shedding and not guard.ready()
    rss.value = 10 * MIB
    assert not guard.check() and guard.ready()


def test_guard_without_a_limit_never_acts(monkeypatch):
    monkeypatch.setenv("PERFLAB_MEMORY_LIMIT", "64MiB")
    assert MemoryGuard(rss=FakeRss(1)).limit == 64 * MIB  # the environment's, by default
    guard = MemoryGuard(100 * MIB, trim_at=None, shed_at=None, rss=FakeRss(10**12))
    assert not guard.check() and guard.ready() and guard.trims == 0


@pytest.mark.parametrize("bad", [0, 1.5, -0.1])
def test_guard_rejects_thresholds_outside_the_limit(bad):
    with pytest.raises(ValueError, match="shed_at must be a fraction"):
        MemoryGuard(100, shed_at=bad)


async def whole_body_app(scope, receive, send):
    """A tiny ASGI app reading whole bodies, as Starlette's request.body() does."""
    if scope["path"] == "/health":
        body = b"ok"
    else:
        parts, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("client went away")
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"%d" % len(b"".join(parts))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def call(app, path, chunks=(b"",), on_chunk=None):
    sent = []
    queue = list(chunks)

    async def receive():
        chunk = queue.pop(0)
        if on_chunk:
            on_chunk()
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "POST", "headers": []}
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"")
                                                            for m in sent[1:])


def test_middleware_serves_below_and_sheds_above_with_retry_after():
    rss = FakeRss(10 * MIB)
    app = MemoryGuardMiddleware(whole_body_app, 100 * MIB, rss=rss, retry_after_s=3)
    assert call(app, "/up", [b"ab", b"cd"])[::2] == (200, b"4")
    rss.value = 95 * MIB
    status, headers, body = call(app, "/up")
    assert status == 503 and headers[b"retry-after"] == b"3"
    assert json.loads(body) == {"error": "memory pressure: retry later"}
    assert call(app, "/health")[0] == 200  # liveness is never shed
    assert app.guard.shed == 1


def test_middleware_sheds_a_body_that_crosses_the_threshold_as_it_arrives():
    rss = FakeRss(10 * MIB)
    app = MemoryGuardMiddleware(whole_body_app, 100 * MIB, rss=rss)

    def grow():
        rss.value += 30 * MIB  # each chunk the app buffers costs 30 MiB

    status, headers, _ = call(app, "/up", [b"x"] * 10, on_chunk=grow)
    assert status == 503 and b"retry-after" in headers and app.guard.shed == 1


def test_ready_fails_while_shedding_and_above_trim():
    rss = FakeRss(10 * MIB)
    app = MemoryGuardMiddleware(whole_body_app, 100 * MIB, rss=rss, metrics_path="/metrics")
    status, _, body = call(app, "/ready")
    assert status == 200 and json.loads(body)["ready"] is True
    rss.value = 85 * MIB  # above trim_at (0.8), below shed_at (0.9)
    assert call(app, "/ready")[0] == 503
    rss.value = 95 * MIB
    status, _, body = call(app, "/ready")
    assert status == 503 and json.loads(body)["memory_limit_bytes"] == 100 * MIB
    metrics = call(app, "/metrics")[2].decode()
    assert "perflab_guard_gc_pause_seconds_max " in metrics
    assert f"perflab_guard_rss_bytes {95 * MIB}" in metrics
    app.gc.remove()


def test_a_declared_body_too_large_for_the_room_left_is_shed_before_it_is_read():
    rss = FakeRss(50 * MIB)
    app = MemoryGuardMiddleware(whole_body_app, 100 * MIB, rss=rss)
    read = []

    def scope_call(length):
        sent = []

        async def receive():
            read.append(1)
            return {"type": "http.request", "body": b"x", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "path": "/up", "method": "POST",
                 "headers": [(b"content-length", str(length).encode())]}
        asyncio.run(app(scope, receive, send))
        return sent[0]["status"]

    assert scope_call(30 * MIB) == 200 and read == [1]  # 80 MiB: below shed_at (90)
    assert scope_call(45 * MIB) == 503 and read == [1]  # 95 MiB would be past it: not read


def test_shed_bodies_serves_reads_while_refusing_uploads():
    rss = FakeRss(95 * MIB)  # past shed_at (0.9)

    def status(app, headers, chunks=(b"",)):
        sent = []
        queue = list(chunks)

        async def receive():
            chunk = queue.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

        async def send(message):
            sent.append(message)

        asyncio.run(app({"type": "http", "path": "/x", "method": "GET", "headers": headers},
                        receive, send))
        return sent[0]["status"]

    everything = MemoryGuardMiddleware(whole_body_app, 100 * MIB, rss=rss)
    assert status(everything, []) == 503  # the default: every new request
    bodies = MemoryGuardMiddleware(whole_body_app, 100 * MIB, rss=rss, shed="bodies")
    assert status(bodies, []) == 200 and status(bodies, [(b"content-length", b"0")]) == 200
    assert status(bodies, [(b"content-length", b"2")], [b"ab"]) == 503
    assert status(bodies, [(b"transfer-encoding", b"chunked")], [b"a", b"b"]) == 503
    assert bodies.guard.shed == 2
    rss.value = 10 * MIB  # below the threshold a chunked body is checked as it arrives
    assert status(bodies, [(b"transfer-encoding", b"chunked")], [b"a", b"b"]) == 200
    with pytest.raises(ValueError, match="shed must be one of all, bodies"):
        MemoryGuardMiddleware(whole_body_app, 100 * MIB, shed="gets")
