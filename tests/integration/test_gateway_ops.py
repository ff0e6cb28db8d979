"""HTTPS upstreams, limits and operations, against real servers on loopback.

TLS with a CA and a certificate this test makes (the `openssl` CLI); a slow
client for the head deadline; more connections than allowed; the access log;
SIGTERM with a request in flight.
"""

from __future__ import annotations

import http.server
import json
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from contextlib import ExitStack

import pytest

from perflab.gateway.case import free_port, start_process, wait_ready
from tests.integration.test_gateway import PERFLAB, get, read_answers, start_gateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("ops-upstream") / "log"
    cmd = [*PERFLAB, "gateway", "upstream", "--port", str(port), "--items", "3"]
    with start_process(cmd, f"http://127.0.0.1:{port}/items", log):
        yield port


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=perflab test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=localhost")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return d


@pytest.fixture(scope="module")
def tls_upstream(certs):
    """An HTTPS server (keep-alive) that records its connections and the SNI names it saw."""
    seen = {"connections": 0, "sni": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            seen["connections"] += 1
            super().setup()

        def do_GET(self):
            body = json.dumps({"path": self.path, "tls": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "server.pem", certs / "server.key")
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_https_upstream_verified_with_sni_and_pooled(tmp_path, certs, tls_upstream):
    port, seen = tls_upstream
    text = f"""
[[route]]
prefix = "/tls"
upstream = "https://localhost:{port}/v1"
ca_file = "{certs / 'ca.pem'}"
[[route]]
prefix = "/untrusted"
upstream = "https://localhost:{port}"
[[route]]
prefix = "/wrong-name"
upstream = "https://127.0.0.1:{port}"
ca_file = "{certs / 'ca.pem'}"
"""
    with ExitStack() as stack:
        base = start_gateway(stack, tmp_path, text)
        before = seen["connections"]
        for _ in range(3):
            status, _, body = get(f"{base}/tls/x?q=1")
            assert status == 200 and json.loads(body) == {"path": "/v1/x?q=1", "tls": True}
        assert seen["connections"] - before == 1  # one TLS connection, kept alive
        assert "localhost" in seen["sni"]
        for path in ("/untrusted/x", "/wrong-name/x"):  # never a plaintext fallback
            status, _, body = get(f"{base}{path}")
            assert status == 502 and "not verified" in json.loads(body)["error"]
    log = (tmp_path / "gateway-gc-freeze.log").read_text().splitlines()
    reasons = [line for line in log if "not verified" in line]
    assert len(reasons) == 2 and "502 for /untrusted: TLS certificate of" in reasons[0]


def test_ssl_cert_file_is_honoured(tmp_path, certs, tls_upstream, monkeypatch):
    port, _ = tls_upstream
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "ca.pem"))
    text = f'[[route]]\nprefix = "/tls"\nupstream = "https://localhost:{port}"\n'
    with ExitStack() as stack:
        base = start_gateway(stack, tmp_path, text)
        assert get(f"{base}/tls/y")[0] == 200


@pytest.fixture(scope="module")
def limited(upstream, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limited")
    text = f"""
[[route]]
prefix = "/api"
upstream = "http://127.0.0.1:{upstream}"
[limits]
header_timeout = 0.5
max_connections = 3
[log]
access = "access.log"
format = "json"
"""
    with ExitStack() as stack:
        yield start_gateway(stack, tmp, text), tmp


def test_slow_loris_gets_408_and_a_close(limited):
    base, _ = limited
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        started = time.monotonic()
        s.sendall(b"GET /api/items HTTP/1.1\r\n")
        s.settimeout(0.1)
        answer = b""
        for _ in range(30):  # a byte now and then does not keep it open
            s.sendall(b"X")
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            if not chunk:  # answered, then closed for writing
                break
            answer += chunk
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert elapsed > 0.45  # not before the 0.5 s limit (the close itself ended the loop)


def test_past_the_connection_limit_a_503(limited):
    base, _ = limited
    host, port = base.removeprefix("http://").split(":")
    with ExitStack() as stack:
        held = [stack.enter_context(socket.create_connection((host, int(port)), timeout=10))
                for _ in range(3)]
        for s in held:  # answered: each is a live connection of the gateway now
            s.sendall(b"GET /api/items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_answers(s, 1)[0][0] == 200
        extra = stack.enter_context(socket.create_connection((host, int(port)), timeout=10))
        [(status, headers, body)] = read_answers(extra, 1)
        assert status == 503 and headers["connection"] == "close"
        assert json.loads(body)["error"] == "too many connections"
    time.sleep(0.1)
    assert get(f"{base}/api/items/1")[0] == 200  # the limit counts live connections only


def test_bad_request_ids_are_replaced_and_the_access_log_prints(limited):
    base, tmp = limited
    _, headers, _ = get(f"{base}/api/items/1", headers={"X-Request-Id": "a" * 200})
    assert headers["x-request-id"] != "a" * 200 and len(headers["x-request-id"]) == 32
    _, headers, _ = get(f"{base}/api/items/1", headers={"X-Request-Id": "two words"})
    assert headers["x-request-id"] != "two words"
    _, headers, _ = get(f"{base}/api/items/2?x=1", headers={"X-Request-Id": "ok-1"})
    assert headers["x-request-id"] == "ok-1"
    lines = [json.loads(line) for line in (tmp / "access.log").read_text().splitlines()]
    last = lines[-1]
    assert (last["method"], last["target"], last["status"], last["id"]) == (
        "GET", "/api/items/2?x=1", 200, "ok-1")
    assert last["client"] == "127.0.0.1" and last["bytes"] > 0 and last["ms"] >= 0


def test_access_log_text_lines(capsys):
    from perflab.gateway._accesslog import AccessLogWriter
    from perflab.gateway._app import Request, Response
    from perflab.gateway._config import AccessLog

    writer = AccessLogWriter(AccessLog("-", "text", sample=2))
    for i in range(4):
        req = Request(b"GET", f"/a/{i}", "q=1", [], {}, b"", b"10.0.0.1")
        req.id = b"rid%d" % i
        writer(req, Response(200, b"{}"))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].split()[1:] == ['10.0.0.1', '"GET', '/a/1?q=1"',
                                                       "200", "2", lines[0].split()[6], "rid1"]


@pytest.mark.parametrize("impl", ["gc-freeze", "baseline"])
def test_sigterm_finishes_the_request_in_flight_then_exits_0(upstream, tmp_path, impl):
    config = tmp_path / "g.toml"
    config.write_text(f'[[route]]\nprefix = "/api"\nupstream = "http://127.0.0.1:{upstream}"\n'
                      f'timeout = 5.0\n[limits]\nshutdown_grace = 5.0\n')
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "log").open("wb") as out:
        proc = subprocess.Popen([*PERFLAB, "gateway", "serve", "--config", str(config),
                                 "--port", str(port), "--impl", impl], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_ready(f"{base}/metrics")
        result = {}
        thread = threading.Thread(target=lambda: result.update(
            answer=get(f"{base}/api/slow?ms=1000")))
        thread.start()
        time.sleep(0.3)  # the request is in flight upstream
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(OSError):  # no longer accepting
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        thread.join(10)
        assert result["answer"][0] == 200 and json.loads(result["answer"][2]) == {"slow": True}
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
