"""The gateway against real servers on loopback: its upstream, slow and broken clients."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest

from perflab.gateway._impl import DEFAULT, IMPLS
from perflab.gateway._loadgen import run_load
from perflab.gateway.case import free_port, start_process

pytestmark = pytest.mark.integration

PERFLAB = [sys.executable, "-m", "perflab"]


def get(url, headers=None, data=None, method=None):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, headers=headers or {}, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def metric(base, name):
    _, _, body = get(f"{base}/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("upstream") / "log"
    cmd = [*PERFLAB, "gateway", "upstream", "--port", str(port), "--items", "5"]
    with start_process(cmd, f"http://127.0.0.1:{port}/items", log):
        yield port


def config_text(up: int, down: int, extra: str = "") -> str:
    return f"""
[[route]]
prefix = "/api"
upstream = "http://127.0.0.1:{up}"
timeout = 0.5

[[route]]
prefix = "/api/items"
upstream = "http://127.0.0.1:{up}/items"
fields = ["id", "name"]

[[route]]
prefix = "/cached"
upstream = "http://127.0.0.1:{up}"
cache_ttl = 0.5
fields = ["id"]

[[route]]
prefix = "/down"
upstream = "http://127.0.0.1:{down}"
timeout = 0.5

[limits]
max_body = 1000
{extra}"""


def start_gateway(stack, tmp_path, text, impl=DEFAULT, workers=1):
    config = tmp_path / f"gateway-{impl}.toml"
    config.write_text(text)
    port = free_port()
    cmd = [*PERFLAB, "gateway", "serve", "--config", str(config), "--port", str(port),
           "--impl", impl, "--workers", str(workers)]
    stack.enter_context(start_process(cmd, f"http://127.0.0.1:{port}/metrics",
                                      tmp_path / f"gateway-{impl}.log"))
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory):
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp("gateway")
        yield start_gateway(stack, tmp, config_text(upstream, free_port()))


@pytest.mark.parametrize("impl", list(IMPLS))
def test_every_variant_routes_selects_fields_and_reports_errors(upstream, tmp_path, impl):
    with ExitStack() as stack:
        base = start_gateway(stack, tmp_path, config_text(upstream, free_port()), impl=impl)
        status, headers, body = get(f"{base}/api/items/3")  # longest prefix: /api/items
        assert status == 200 and json.loads(body) == {"id": 3, "name": "user-00003"}
        assert len(headers["x-request-id"]) == 32
        status, _, body = get(f"{base}/api/items")
        assert status == 200 and json.loads(body)[0] == {"id": 0, "name": "user-00000"}
        status, _, body = get(f"{base}/nowhere")
        assert status == 404 and json.loads(body)["error"] == "no route for /nowhere"
        assert_head_then_get(base, "/api/items/3", {"id": 3, "name": "user-00003"})


def assert_head_then_get(base, path, doc):
    """A HEAD gets the GET's length and no body, and the connection serves a GET after it."""
    import http.client

    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    try:
        conn.request("HEAD", path)
        head = conn.getresponse()
        assert head.status == 200 and head.read() == b""
        conn.request("GET", path)  # the same connection: nothing of a body was left on it
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200 and json.loads(body) == doc
        assert int(head.headers["content-length"]) == len(body)
    finally:
        conn.close()


def test_prefix_rest_of_path_and_query_go_upstream(gateway):
    status, _, body = get(f"{gateway}/api/items/2")
    assert json.loads(body) == {"id": 2, "name": "user-00002"}
    status, _, body = get(f"{gateway}/api/slow?ms=10")  # /api route, no field selection
    assert status == 200 and json.loads(body) == {"slow": True}


def test_request_id_is_kept_or_made(gateway):
    _, headers, _ = get(f"{gateway}/api/items/1", headers={"X-Request-Id": "abc-123"})
    assert headers["x-request-id"] == "abc-123"


def test_upstream_errors_are_json(gateway):
    status, _, body = get(f"{gateway}/api/slow?ms=2000")
    assert status == 504 and json.loads(body)["error"].startswith("upstream timed out")
    status, _, body = get(f"{gateway}/api/broken")
    assert status == 200  # no field selection on /api: passed through as it is
    status, _, body = get(f"{gateway}/down/items")
    assert status == 502 and json.loads(body)["error"].startswith("upstream unavailable")


def test_invalid_json_from_upstream_is_502_when_transforming(upstream, tmp_path):
    route = f'prefix = "/api"\nupstream = "http://127.0.0.1:{upstream}"\ntimeout = 0.5'
    text = config_text(upstream, free_port()).replace(route, route + '\nfields = ["id"]')
    with ExitStack() as stack:
        base = start_gateway(stack, tmp_path, text)
        status, _, body = get(f"{base}/api/broken")
        assert status == 502 and json.loads(body)["error"] == "upstream sent invalid JSON"


def test_body_too_large_is_413(gateway):
    status, _, body = get(f"{gateway}/api/echo", data=b"x" * 5000, method="POST")
    assert status == 413 and "larger than 1000 bytes" in json.loads(body)["error"]
    status, _, body = get(f"{gateway}/api/echo", data=b"x" * 500, method="POST")
    assert status == 200 and json.loads(body)["received"] == 500


def test_chunked_request_body_is_read_and_bounded(gateway):
    """No Content-Length: the body comes chunked, and is still read (and limited)."""
    import http.client

    host, port = gateway.removeprefix("http://").split(":")
    for chunks, expected in (([b"x" * 300, b"y" * 200], 200), ([b"x" * 600] * 2, 413)):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("POST", "/api/echo", body=iter(chunks), encode_chunked=True)
            resp = conn.getresponse()
            body = json.loads(resp.read())
        finally:
            conn.close()
        assert resp.status == expected, body
        if expected == 200:
            assert body["received"] == 500


def test_cache_hits_then_expires(gateway):
    hits = metric(gateway, "perflab_gateway_cache_hits_total")
    for _ in range(3):
        status, _, body = get(f"{gateway}/cached/items/4")
        assert status == 200 and json.loads(body) == {"id": 4}
    assert metric(gateway, "perflab_gateway_cache_hits_total") == hits + 2
    misses = metric(gateway, "perflab_gateway_cache_misses_total")
    time.sleep(0.6)  # past the route's 0.5 s TTL
    get(f"{gateway}/cached/items/4")
    assert metric(gateway, "perflab_gateway_cache_misses_total") == misses + 1


def test_metrics_text(gateway):
    get(f"{gateway}/api/items/1")
    status, headers, body = get(f"{gateway}/metrics")
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    for needle in ('perflab_gateway_requests_total{status="200"}',
                   'perflab_gateway_request_seconds_bucket{le="+Inf"}',
                   "perflab_gateway_upstream_errors_total", "perflab_gateway_cache_hits_total",
                   "process_resident_memory_bytes"):
        assert needle in text


def test_api_keys(upstream, tmp_path):
    text = config_text(upstream, free_port(), '[auth]\napi_keys = ["s3cret"]\n')
    with ExitStack() as stack:
        base = start_gateway(stack, tmp_path, text)
        status, _, body = get(f"{base}/api/items/1")
        assert status == 401 and json.loads(body)["error"] == "missing or wrong X-API-Key"
        assert get(f"{base}/api/items/1", headers={"X-API-Key": "wrong"})[0] == 401
        assert get(f"{base}/api/items/1", headers={"X-API-Key": "s3cret"})[0] == 200
        assert get(f"{base}/metrics")[0] == 200


def test_upstream_killed_mid_test_then_back(tmp_path):
    port = free_port()
    cmd = [*PERFLAB, "gateway", "upstream", "--port", str(port)]
    with ExitStack() as stack:
        base = start_gateway(stack, tmp_path, config_text(port, free_port()))
        with start_process(cmd, f"http://127.0.0.1:{port}/items", tmp_path / "up1.log"):
            assert get(f"{base}/api/items/1")[0] == 200
        assert get(f"{base}/api/items/1")[0] == 502  # killed: the pool's connections are dead
        with start_process(cmd, f"http://127.0.0.1:{port}/items", tmp_path / "up2.log"):
            assert get(f"{base}/api/items/1")[0] == 200  # back, without restarting the gateway


def test_slow_client_does_not_block_others(gateway):
    host, port = gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as slow:
        slow.sendall(b"GET /api/items/1 HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        for _ in range(20):
            assert get(f"{gateway}/api/items/2")[0] == 200


def test_oversized_headers_are_refused_and_the_gateway_goes_on(gateway):
    host, port = gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /api/items/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000
                  + b"\r\n\r\n")
        try:
            answer = s.recv(100)
        except ConnectionResetError:
            answer = b""
    # refused by the server (a 4xx or a closed connection) or by the gateway (431)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4"))
    assert get(f"{gateway}/api/items/1")[0] == 200


def read_answers(sock, count):
    """`count` HTTP/1.1 answers read off a raw socket: [(status, headers, body)]."""
    data, answers = b"", []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in head[1:])
            end = head_end + 4 + int(headers["content-length"])
            if len(data) >= end:
                answers.append((int(head[0].split()[1]), headers, data[head_end + 4:end]))
                data = data[end:]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed after {len(answers)} answers")
        data += chunk
    return answers


def test_pipelined_requests_are_answered_in_order(gateway):
    """An upstream call, a 404 and a cache hit sent at once: the answers keep their order."""
    get(f"{gateway}/cached/items/2")  # cached from here on (0.5 s)
    host, port = gateway.removeprefix("http://").split(":")
    paths = ["/api/items/1", "/nowhere", "/cached/items/2", "/api/items/3"]
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths))
        answers = read_answers(s, len(paths))
    assert [status for status, _, _ in answers] == [200, 404, 200, 200]
    assert [json.loads(body) for _, _, body in answers][::2] == [
        {"id": 1, "name": "user-00001"}, {"id": 2}]
    assert json.loads(answers[3][2]) == {"id": 3, "name": "user-00003"}


def test_connection_close_and_malformed_requests(gateway):
    host, port = gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /api/items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        [(status, headers, _)] = read_answers(s, 1)
        assert status == 200 and headers.get("connection") == "close"
        assert s.recv(100) == b""  # closed by the gateway
    with socket.create_connection((host, int(port)), timeout=10) as s:  # no other protocol
        s.sendall(b"GET /api/items/1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                  b"Upgrade: websocket\r\n\r\n")
        [(status, headers, _)] = read_answers(s, 1)
        assert status == 200 and headers.get("connection") == "close"
        assert s.recv(100) == b""
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        [(status, _, body)] = read_answers(s, 1)
        assert status == 400 and json.loads(body)["status"] == 400
        assert s.recv(100) == b""
    assert get(f"{gateway}/api/items/1")[0] == 200


def test_two_workers_serve_and_a_taken_port_is_one_clear_error(upstream, tmp_path):
    with ExitStack() as stack:
        base = start_gateway(stack, tmp_path, config_text(upstream, free_port()), workers=2)
        for i in range(10):  # new connections each: the kernel spreads them over the workers
            assert get(f"{base}/api/items/{i % 5}")[0] == 200
        config = tmp_path / f"gateway-{DEFAULT}.toml"
        proc = perflab("gateway", "serve", "--config", str(config), "--port",
                       base.rsplit(":", 1)[1])
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith("error: cannot listen on 127.0.0.1:")


def perflab(*args):
    return subprocess.run([*PERFLAB, *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[route]]\nprefix = "/a"\nupstream = "ftp://x"\n',
         "route[0].upstream: expected an http:// or https:// URL, got 'ftp://x'"),
        ('[[route]]\nprefix = "/a"\nupstream = "http://x"\nca_file = "ca.pem"\n',
         "route[0].ca_file: only for an https:// upstream"),
        ('[[route]]\nprefix = "/a"\nupstream = "http://x"\nforward_headers = "all"\n',
         "route[0].forward_headers: expected a list of non-empty strings"),
        ('[[route]]\nprefix = "/a"\nupstream = "http://x"\n[log]\naccess = "-"\nformat = 1\n',
         "log.format: expected \"text\" or \"json\", got 1"),
        ('[[route]]\nprefix = "/a"\nupstream = "http://x"\n[limits]\nheader_timeout = 0\n',
         "limits.header_timeout: expected a positive number, got 0"),
        ('[[route]]\nprefix = "/a"\nupstream = "http://x"\ntimeout = -1\n',
         "route[0].timeout: expected a positive number, got -1"),
        ('[[route]]\nprefix = "/a"\nupstream = "http://x"\ncolour = 1\n',
         "route[0].colour: unknown key"),
        ('[auth]\napi_keys = []\n', "route: expected at least one [[route]] table"),
        ('[[route]]\nprefix = "/a"\nupstream = "http://x"\n[limits]\nmax_body = "big"\n',
         "limits.max_body: expected a positive integer, got 'big'"),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    proc = perflab("gateway", "serve", "--config", str(config))
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith(f"error: {config}: {message}")


def test_invalid_toml_names_line_and_column(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[[route]]\nprefix = "/a\n')
    proc = perflab("gateway", "serve", "--config", str(config))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {config}:2:")


def test_load_generator_open_and_closed_loop(upstream):
    paced = run_load(f"http://127.0.0.1:{upstream}/items", connections=4, duration=1.0,
                     rate=200)
    assert paced.errors == 0 and paced.statuses == {200: paced.requests}
    assert 180 <= paced.requests <= 200  # the schedule, not the server, sets the count
    closed = run_load(f"http://127.0.0.1:{upstream}/items", connections=4, duration=0.5)
    assert closed.errors == 0 and closed.requests > 0
    assert set(paced.latency) == {"latency_p50_s", "latency_p90_s", "latency_p99_s",
                                  "latency_p99_9_s", "latency_max_s"}


def test_open_loop_counts_the_queue_behind_a_slow_server(upstream):
    """Coordinated omission corrected: 2 connections, 200 ms answers, 50 due each second.

    The server answers 10 a second, so requests wait for a free connection, and
    that wait counts: latency from when each was due, not from its send (200 ms).
    """
    paced = run_load(f"http://127.0.0.1:{upstream}/slow?ms=200", connections=2,
                     duration=1.0, rate=50)
    assert paced.errors == 0 and paced.requests >= 8
    assert paced.latency["latency_max_s"] > 0.6
    assert paced.latency["latency_p50_s"] > 0.3


def test_client_times_out_a_silent_upstream():
    """A real listening socket that never answers: each call times out, once."""
    import asyncio

    from perflab.gateway._client import POOLS, Client

    async def scenario(port):
        client = Client(POOLS["keep-alive"], 1 << 20)
        upstream = client.upstream(f"http://127.0.0.1:{port}")
        loop = asyncio.get_running_loop()
        outcomes = []
        started = loop.time()
        for timeout in (0.05, 0.2):
            done = loop.create_future()
            client.start(upstream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout,
                         lambda answer, exc, done=done: done.set_result((answer, exc)))
            outcomes.append((timeout, done))
        for timeout, done in outcomes:
            answer, exc = await asyncio.wait_for(done, 5)
            assert answer is None and isinstance(exc, TimeoutError)
            assert loop.time() - started >= timeout
        assert not upstream.idle and upstream.open == 0  # timed out: closed, never reused
        await client.close()

    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody reads
        asyncio.run(scenario(silent.getsockname()[1]))
