"""The reverse proxy's job against real servers on loopback: what crosses it, where it may go.

One upstream (`perflab gateway upstream`, whose /echo returns the request as it
arrived), one deliberately broken upstream (a raw socket server answering
malformed HTTP, or recording a request's head byte for byte), and in front of
both the gateway on each server core: the default step (the own core) and the
baseline (uvicorn).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from contextlib import ExitStack

import pytest

from perflab.gateway._impl import DEFAULT, IMPLS
from perflab.gateway.case import free_port, start_process
from tests.integration.test_gateway import PERFLAB, read_answers, start_gateway

pytestmark = pytest.mark.integration

BAD_ANSWERS = {  # what the broken upstream answers, by path
    "/cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"0\r\n\r\n",
    "/dup-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    "/bad-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nab",
    "/obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nab",
    "/bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nab",
    "/bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    "/te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nab",
    "/garbage": b"SMTP ready\r\n\r\n",
    "/truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
    "/many-fields": b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 300 + b"Content-Length: 0\r\n\r\n",
    "/huge-field": b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 70_000 + b"\r\nContent-Length: 0\r\n\r\n",
}


def broken_upstream(stop: threading.Event) -> int:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):  # the gateway may hang up first
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                path = data.split(b" ", 2)[1].decode() if data else ""
                if path.startswith("/record"):  # the request's head, byte for byte
                    head = data.split(b"\r\n\r\n")[0]
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(head), head))
                    continue
                conn.sendall(BAD_ANSWERS.get(path, b"HTTP/1.1 404 Not Found\r\n\r\n"))
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


@pytest.fixture(scope="module", params=[DEFAULT, "baseline"])
def proxy(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proxy")
    up = free_port()
    stop = threading.Event()
    bad = broken_upstream(stop)
    text = f"""
[[route]]
prefix = "/api"
upstream = "http://127.0.0.1:{up}"
[[route]]
prefix = "/keep"
upstream = "http://127.0.0.1:{up}"
preserve_host = true
[[route]]
prefix = "/allow"
upstream = "http://127.0.0.1:{up}"
forward_headers = ["Accept", "x-custom"]
[[route]]
prefix = "/drop"
upstream = "http://127.0.0.1:{up}"
drop_headers = ["cookie", "Authorization"]
[[route]]
prefix = "/f"
upstream = "http://127.0.0.1:{up}"
fields = ["id"]
[[route]]
prefix = "/base"
upstream = "http://127.0.0.1:{up}/echo/base"
[[route]]
prefix = "/c"
upstream = "http://127.0.0.1:{up}"
cache_ttl = 5.0
[[route]]
prefix = "/ca"
upstream = "http://127.0.0.1:{up}"
cache_ttl = 5.0
cache_authorized = true
[[route]]
prefix = "/bad"
upstream = "http://127.0.0.1:{bad}"
timeout = 1.0
"""
    with ExitStack() as stack:
        cmd = [*PERFLAB, "gateway", "upstream", "--port", str(up), "--items", "3"]
        stack.enter_context(start_process(cmd, f"http://127.0.0.1:{up}/items", tmp / "up.log"))
        base = start_gateway(stack, tmp, text, impl=request.param)
        yield base.removeprefix("http://"), IMPLS[request.param]
    stop.set()


def exchange(proxy, raw: bytes) -> tuple[int, dict[str, list[str]], bytes]:
    """One raw request on a fresh connection: status, fields (name -> values), body."""
    host, port = proxy[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while True:
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                head = data[:end].decode("latin-1").split("\r\n")
                fields: dict[str, list[str]] = {}
                for line in head[1:]:
                    name, _, value = line.partition(": ")
                    fields.setdefault(name, []).append(value)
                length = int(fields.get("content-length", ["0"])[0])
                if len(data) >= end + 4 + length:
                    return int(head[0].split()[1]), fields, data[end + 4:end + 4 + length]
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError(f"closed; got {data!r}")
            data += chunk


def get(proxy, target: str, *fields: str) -> tuple[int, dict[str, list[str]], bytes]:
    head = "".join(f"{f}\r\n" for f in fields)
    return exchange(proxy, f"GET {target} HTTP/1.1\r\nHost: gw.test\r\n{head}\r\n".encode())


def echoed(proxy, target: str, *fields: str) -> dict:
    status, _, body = get(proxy, target, *fields)
    assert status == 200, body
    return json.loads(body)


def test_request_fields_end_to_end_minus_hop_by_hop(proxy):
    status, _, body = get(proxy, "/bad/record?b=2&a=1", "Authorization: Bearer t",
                          "Cookie: a=1", "Accept: application/json",
                          "Connection: keep-alive, X-Hop", "X-Hop: secret",
                          "Keep-Alive: timeout=5", "TE: trailers", "Proxy-Connection: keep-alive",
                          "Trailer: X-T", "Cookie: b=2", "X-Forwarded-For: 10.0.0.1",
                          "X-Custom: kept")
    assert status == 200
    lines = body.decode().split("\r\n")
    assert lines[0] == "GET /record?b=2&a=1 HTTP/1.1"  # the query as sent
    fields = [line.split(": ", 1) for line in lines[1:]]
    assert fields[0][0] == "host" and fields[0][1].startswith("127.0.0.1:")
    assert fields[1:9] == [["authorization", "Bearer t"], ["cookie", "a=1"],
                           ["accept", "application/json"], ["cookie", "b=2"],
                           ["x-custom", "kept"], ["x-forwarded-for", "10.0.0.1, 127.0.0.1"],
                           ["x-forwarded-proto", "http"], ["x-forwarded-host", "gw.test"]]
    assert fields[9][0] == "x-request-id" and len(fields[9][1]) == 32
    if proxy[1].pool == "none":  # a connection per call: the gateway says so
        assert fields.pop(10) == ["connection", "close"]
    assert len(fields) == 10  # nothing hop-by-hop, nothing else
    seen = echoed(proxy, "/api/echo", "Cookie: a=1")  # a real server behind it, the same
    assert ["cookie", "a=1"] in seen["headers"]


def test_route_header_rules(proxy):
    assert dict(echoed(proxy, "/keep/echo")["headers"])["host"] == "gw.test"
    allowed = [n for n, _ in echoed(proxy, "/allow/echo", "Accept: */*", "Cookie: c=1",
                                    "X-Custom: 1")["headers"]]
    assert "accept" in allowed and "x-custom" in allowed and "cookie" not in allowed
    dropped = [n for n, _ in echoed(proxy, "/drop/echo", "Accept: */*", "Cookie: c=1",
                                    "Authorization: x")["headers"]]
    assert "accept" in dropped and "cookie" not in dropped and "authorization" not in dropped


def test_absolute_form_target_uses_its_authority(proxy):
    if proxy[1].server == "uvicorn":
        pytest.skip("uvicorn passes only the path of an absolute-form target to the app")
    seen = echoed(proxy, "http://example.org/api/echo?q=1")
    assert seen["path"] == "/echo" and seen["query"] == "q=1"
    assert dict(seen["headers"])["x-forwarded-host"] == "example.org"


def test_response_fields_both_set_cookies_and_location(proxy):
    status, fields, _ = get(proxy, "/api/cookies")
    assert status == 200 and fields["set-cookie"] == ["a=1; Path=/", "b=2; Path=/; HttpOnly"]
    assert fields["x-custom"] == ["kept"]
    status, fields, _ = get(proxy, "/api/redirect")
    assert status == 302 and fields["location"] == ["/items"]


def test_fields_change_only_the_body_and_its_length(proxy):
    _, whole, body = get(proxy, "/api/items")
    _, picked, picked_body = get(proxy, "/f/items")
    assert json.loads(picked_body) == [{"id": i} for i in range(3)]
    assert len(picked_body) < len(body)
    for fields in (whole, picked):
        for name in ("content-length", "x-request-id", "date"):
            fields.pop(name, None)
    assert whole == picked and "etag" in whole and "cache-control" in whole


@pytest.mark.parametrize(
    ("target", "status", "upstream_path"),
    [
        ("/base/../api/echo", 200, "/echo"),  # leaves /base: routed as /api/echo
        ("/base/x/../../../echo", 200, "/echo"),  # never above "/": /echo is no route
        ("/base/%2e%2e/api/echo", 200, "/echo"),
        ("/base/a/%2E%2E/b", 200, "/echo/base/b"),  # stays inside its base
        ("/base/./a/./b/..", 200, "/echo/base/a/"),
        ("/base/..%2fapi", 400, None), ("/base/%2F..", 400, None),
        ("/base/..%5capi", 400, None), ("/base/a%00", 400, None),
    ],
)
def test_paths_are_normalized_and_never_leave_their_base(proxy, target, status, upstream_path):
    got, _, body = get(proxy, target)
    if target.startswith("/base/x/"):  # "/echo" has no route
        assert got == 404
        return
    assert got == status, body
    if upstream_path is not None:
        assert json.loads(body)["path"] == upstream_path


# A request the gateway must refuse and then close: its framing cannot be trusted.
SMUGGLING = {
    "cl-te": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "dup-cl": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
              b"\r\nab",
    "same-dup-cl": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                   b"Content-Length: 2\r\n\r\nab",
    "bad-cl": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nab",
    "list-cl": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nab",
    "te-gzip": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
               b"0\r\n\r\n",
    "te-xchunked": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
    "te-twice": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-space": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
    "te-http10": b"POST /api/echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs-fold": b"GET /api/echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "bare-lf": b"GET /api/echo HTTP/1.1\nHost: x\n\n",
    "bad-chunk-size": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nab\r\n0\r\n\r\n",
    "chunk-overflow": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"fffffffffffffffff\r\nab\r\n0\r\n\r\n",
    "chunk-no-crlf": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"2\r\nabX0\r\n\r\n",
    "two-hosts": b"GET /api/echo HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "no-host": b"GET /api/echo HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("name", list(SMUGGLING))
def test_smuggling_forms_get_400_and_a_closed_connection(proxy, name):
    host, port = proxy[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        # A second request behind it must never be answered: the connection is done.
        s.sendall(SMUGGLING[name] + b"GET /api/items HTTP/1.1\r\nHost: x\r\n\r\n")
        [(status, _, body)] = read_answers(s, 1)
        assert status == 400, body
        rest = b""
        while chunk := s.recv(65536):
            rest += chunk
        assert rest == b""


@pytest.mark.parametrize("path", list(BAD_ANSWERS))
def test_a_malformed_upstream_answer_is_a_502_never_passed_on(proxy, path):
    status, fields, body = get(proxy, f"/bad{path}")
    assert status == 502, body
    assert json.loads(body)["error"].startswith("upstream unavailable")
    assert "x-a" not in fields


def count(proxy, target: str, *fields: str) -> tuple[int, dict[str, list[str]]]:
    status, headers, body = get(proxy, target, *fields)
    assert status == 200
    return json.loads(body)["count"], headers


def test_cache_rules(proxy):
    if proxy[1].cache == "off":
        pytest.skip("a step before the cache")
    first, _ = count(proxy, "/c/count?cc=public")
    again, headers = count(proxy, "/c/count?cc=public")
    assert again == first and headers["cache-control"] == ["public"]  # upstream's fields kept
    assert count(proxy, "/c/count?cc=public&other=1")[0] != first  # the query is in the key
    for control in ("private", "no-store", "cookie", "no-cache", "max-age%3D0"):
        a, _ = count(proxy, f"/c/count?cc={control}")
        assert count(proxy, f"/c/count?cc={control}")[0] == a + 1, control
    # Authorization: never from (nor into) a shared entry, unless the route allows it.
    a, _ = count(proxy, "/c/count?cc=public&auth", "Authorization: Bearer x")
    assert count(proxy, "/c/count?cc=public&auth", "Authorization: Bearer x")[0] == a + 1
    a, _ = count(proxy, "/ca/count?cc=public", "Authorization: Bearer x")
    assert count(proxy, "/ca/count?cc=public", "Authorization: Bearer x")[0] == a


def test_a_max_age_shorter_than_the_ttl_wins(proxy):
    if proxy[1].cache == "off":
        pytest.skip("a step before the cache")
    first, _ = count(proxy, "/c/count?cc=max-age%3D1")
    assert count(proxy, "/c/count?cc=max-age%3D1")[0] == first
    time.sleep(1.1)  # past max-age=1, well within the route's 5 s
    assert count(proxy, "/c/count?cc=max-age%3D1")[0] > first
