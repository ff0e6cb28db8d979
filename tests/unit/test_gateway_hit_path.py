"""The `hit-path` step answers a cache hit as the whole chain would, byte for byte."""

from __future__ import annotations

import asyncio

import pytest

from perflab.gateway._app import Gateway
from perflab.gateway._config import parse_config
from perflab.gateway._impl import IMPLS
from perflab.gateway._server import HttpConnection
from tests.unit.gateway_transport import Transport

BODY = b'[{"id": 1}]'


def answer(impl: str, request: bytes, api_keys: list[str] | None = None) -> tuple[bytes, Gateway]:
    """What a connection writes for `request` when /cached/items is in the cache."""
    raw = {"route": [{"prefix": "/cached", "upstream": "http://127.0.0.1:9", "cache_ttl": 60.0}]}
    if api_keys is not None:
        raw["auth"] = {"api_keys": api_keys}
    gateway = Gateway(parse_config(raw), IMPLS[impl])  # no batched writes: written at once
    gateway.cache.put("/cached/items?", BODY, 60.0)
    transport = Transport()
    loop = asyncio.new_event_loop()
    try:
        conn = HttpConnection(gateway, loop, set())
        conn.connection_made(transport)
        conn.data_received(request)
    finally:
        loop.close()
        gateway.metrics.gc.remove()  # its GC watch is this test process's otherwise
    return b"".join(transport.written), gateway


@pytest.mark.parametrize("request_bytes", [
    b"GET /cached/items HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n\r\n",
    b"GET /cached/items HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\nX-API-Key: k\r\n\r\n",
])
def test_a_hit_is_the_chains_answer_byte_for_byte(request_bytes):
    keys = ["k"] if b"X-API-Key" in request_bytes else None
    fast, gateway = answer("hit-path", request_bytes, keys)
    chain, _ = answer("batch-writes", request_bytes, keys)
    assert fast == chain and fast.endswith(b"\r\n\r\n" + BODY)
    assert gateway.metrics.cache_hits == 1 and gateway.metrics.requests == {200: 1}


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /cached/items HTTP/1.1\r\nHost: x\r\nX-API-Key: wrong\r\n\r\n", b"401"),
    (b"GET /cached/items HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"200"),
])
def test_what_the_hit_path_leaves_to_the_chain_is_answered_the_same(request_bytes, status):
    keys = ["k"] if b"API" in request_bytes else None
    fast, _ = answer("hit-path", request_bytes, keys)
    chain, _ = answer("batch-writes", request_bytes, keys)
    assert fast.startswith(b"HTTP/1.1 " + status)
    # the same answer but for the request id each made up
    assert fast.split(b"x-request-id")[0] == chain.split(b"x-request-id")[0]


def test_only_a_get_of_a_cached_target_is_a_hit():
    _, gateway = answer("hit-path", b"")
    assert gateway.hit(b"GET", b"/cached/items", {}) is not None
    assert gateway.hit(b"GET", b"/cached/items?", {}) is not None  # the same cache key
    assert gateway.hit(b"HEAD", b"/cached/items", {}) is None
    assert gateway.hit(b"GET", b"/cached/items?page=2", {}) is None
    assert gateway.metrics.cache_misses == 0  # a miss is counted by the chain, once
