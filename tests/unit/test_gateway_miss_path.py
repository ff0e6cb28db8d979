"""The `miss-path` step answers an upstream call as the whole chain would, byte for byte."""

from __future__ import annotations

import asyncio

import pytest

from perflab.gateway._app import Gateway
from perflab.gateway._client import _Connection
from perflab.gateway._config import parse_config
from perflab.gateway._impl import IMPLS
from perflab.gateway._server import HttpConnection
from tests.unit.gateway_transport import Transport

UPSTREAM = ("127.0.0.1", 9)
ITEMS = b'[{"id": 1, "name": "a", "bio": "x"}, {"id": 2, "name": "b", "bio": "y"}]'


def upstream_answer(body: bytes, content_type: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s" % (
        content_type, len(body), body)


def exchange(impl: str, request: bytes, answer: bytes | None,
             api_keys: list[str] | None = None) -> tuple[bytes, bytes, Gateway]:
    """(what went upstream, what the client got, the gateway) for one request.

    The upstream is a pooled connection whose transport keeps what it is sent;
    `answer` is fed back to it as the upstream's bytes (None: nothing goes upstream).
    """
    raw = {"route": [
        {"prefix": "/api", "upstream": "http://127.0.0.1:9/v1", "fields": ["id", "name"]},
        {"prefix": "/raw", "upstream": "http://127.0.0.1:9"},
        {"prefix": "/cached", "upstream": "http://127.0.0.1:9", "cache_ttl": 60.0},
    ]}
    if api_keys is not None:
        raw["auth"] = {"api_keys": api_keys}
    gateway = Gateway(parse_config(raw), IMPLS[impl])  # no batched writes: written at once
    loop = asyncio.new_event_loop()
    try:
        pool = gateway._raw_pool()
        pool.loop = loop  # type: ignore[union-attr]  # as if started from inside the loop
        up, up_transport = _Connection(loop, 1 << 20), Transport()
        up.transport = up_transport  # type: ignore[assignment]
        pool.idle[UPSTREAM] = [up]
        client = Transport()
        conn = HttpConnection(gateway, loop, set())
        conn.connection_made(client)
        conn.data_received(request)
        if answer is not None:
            up.data_received(answer)
    finally:
        loop.close()
        gateway.metrics.gc.remove()  # its GC watch is this test process's otherwise
    return b"".join(up_transport.written), b"".join(client.written), gateway


CASES = [
    (b"GET /api/items?page=2 HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n\r\n",
     upstream_answer(ITEMS)),
    (b"DELETE /raw/items/1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n"
     b"Content-Type: text/plain\r\n\r\n", upstream_answer(b"gone", b"text/plain")),
    (b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n\r\n",
     upstream_answer(b"{not json")),  # 502
    (b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n\r\n",
     b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort"),  # not whole yet: no answer
    (b"GET /cached/items HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n\r\n",
     upstream_answer(ITEMS)),
]


@pytest.mark.parametrize("request_bytes, answer", CASES)
def test_an_upstream_call_is_the_chains_byte_for_byte(request_bytes, answer):
    sent, got, gateway = exchange("miss-path", request_bytes, answer)
    chain_sent, chain_got, chain = exchange("sweep-timeouts", request_bytes, answer)
    assert sent == chain_sent and sent.startswith(request_bytes.split(b" ")[0] + b" /")
    assert got == chain_got
    assert gateway.metrics.requests == chain.metrics.requests
    assert gateway.metrics.upstream_errors == chain.metrics.upstream_errors
    assert gateway.metrics.cache_misses == chain.metrics.cache_misses
    assert len(gateway.cache) == len(chain.cache)


def test_the_upstream_sees_the_routes_path_and_the_request_id():
    sent, got, _ = exchange("miss-path", CASES[0][0], CASES[0][1])
    assert sent.startswith(b"GET /v1/items?page=2 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
    assert b"X-Request-Id: abc\r\n" in sent
    assert got.endswith(b'\r\n\r\n[{"id":1,"name":"a"},{"id":2,"name":"b"}]')


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-API-Key: wrong\r\n\r\n", b"401"),
    (b"GET /nowhere HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\n\r\n", b"404"),
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"200"),
])
def test_what_the_miss_path_leaves_to_the_chain_is_answered_by_it(request_bytes, status):
    sent, got, gateway = exchange("miss-path", request_bytes, None, api_keys=["k"])
    assert sent == b"" and got.startswith(b"HTTP/1.1 " + status)
    assert gateway.metrics.requests == {int(status): 1}


def test_an_allowed_key_goes_upstream():
    request = b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\n\r\n"
    sent, got, _ = exchange("miss-path", request, upstream_answer(ITEMS), api_keys=["k"])
    assert sent.startswith(b"GET /v1/items ") and got.startswith(b"HTTP/1.1 200")


def test_a_head_goes_upstream_as_a_get_and_comes_back_without_a_body():
    request = b"HEAD /api/items HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n\r\n"
    _, as_get, _ = exchange("miss-path", request.replace(b"HEAD", b"GET"), upstream_answer(ITEMS))
    for impl in ("miss-path", "sweep-timeouts"):
        sent, got, _ = exchange(impl, request, upstream_answer(ITEMS))
        assert sent.startswith(b"GET /v1/items HTTP/1.1\r\n")
        # the GET's answer, Content-Length of the selected fields included, but no body
        assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"\r\n\r\n")
        assert as_get == got + b'[{"id":1,"name":"a"},{"id":2,"name":"b"}]'


@pytest.mark.parametrize("status", [204, 304])
def test_an_answer_without_content_is_whole_at_its_head(status):
    answer = b"HTTP/1.1 %d Whatever\r\ncontent-type: application/json\r\n\r\n" % status
    _, got, _ = exchange("miss-path", b"GET /raw/x HTTP/1.1\r\nHost: x\r\n\r\n", answer)
    assert got.startswith(b"HTTP/1.1 %d " % status) and got.endswith(b"\r\n\r\n")
    assert b"content-length" not in got


def test_an_interim_answer_is_skipped():
    answer = (b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n"
              + upstream_answer(b"ok", b"text/plain"))
    _, got, _ = exchange("miss-path", b"GET /raw/x HTTP/1.1\r\nHost: x\r\n\r\n", answer)
    assert got.startswith(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n")
    assert got.endswith(b"\r\n\r\nok")
