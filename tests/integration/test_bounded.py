"""The bounded service as a real server: eviction, streamed uploads, bad input, shedding."""

from __future__ import annotations

import http.client
import json
import sys
from contextlib import ExitStack

import pytest

from perflab.gateway.case import free_port, start_process

pytestmark = pytest.mark.integration


def start(stack, tmp_path, *args, impl="trimming"):
    port = free_port()
    cmd = [sys.executable, "-m", "perflab", "bounded", "serve", "--port", str(port),
           "--impl", impl, *args]
    stack.enter_context(start_process(cmd, f"http://127.0.0.1:{port}/health",
                                      tmp_path / f"bounded-{impl}.log"))
    return port


def request(port, method, path, body=None, chunked=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, body=body, encode_chunked=chunked,
                 headers={"Transfer-Encoding": "chunked"} if chunked else {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def metrics(port):
    _, _, body = request(port, "GET", "/metrics")
    return {k: float(v) for k, v in (line.split() for line in body.decode().splitlines())}


def test_cache_stays_within_its_byte_bound(tmp_path):
    with ExitStack() as stack:
        port = start(stack, tmp_path, "--cache-bytes", "256KiB")
        for item in range(60):  # values of 1-64 KiB: far more than 256 KiB in all
            status, _, body = request(port, "GET", f"/items/{item}")
            assert status == 200 and json.loads(body)["id"] == item
        m = metrics(port)
        assert 0 < m["perflab_bounded_cache_bytes"] <= 256 * 1024
        assert m["perflab_bounded_cache_entries"] < 60


def items(count, chunk_items=5000):
    """A JSON array upload generated on the fly: never whole in the test's memory either."""
    yield b"["
    for start in range(0, count, chunk_items):
        end = min(start + chunk_items, count)
        yield (b"," if start else b"") + b",".join(
            b'{"id": %d, "value": %d.5, "tag": "t%d", "note": "%s"}' % (i, i % 100, i % 7,
                                                                       b"n" * 80)
            for i in range(start, end))
    yield b"]"


def test_streaming_ingest_of_a_body_larger_than_the_memory_limit(tmp_path):
    count = 1_200_000  # about 150 MB of JSON against a 120 MiB limit
    with ExitStack() as stack:
        port = start(stack, tmp_path, "--memory-limit", "120MiB")
        status, _, body = request(port, "POST", "/ingest", body=items(count), chunked=True)
        assert status == 200, body
        result = json.loads(body)
        assert result["count"] == count and result["distinct_tags"] == 7
        assert result["sum"] == sum(i % 100 + 0.5 for i in range(count))
        assert metrics(port)["perflab_bounded_rss_bytes"] < 120 * 2**20


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"id": 1, "value": 1, "tag": "a"}, {"id": 2', "malformed JSON at the end"),
        (b'[{"id": 1, "value": [], "tag": "a"}]', "item 0"),
        (b'"just a string"', "expected a JSON array at byte 0"),
        # an oversized item: refused by its size or by its over-long tag, either way with where
        (b"[" + b'{"id": 1, "value": 1, "tag": "' + b"x" * 100_000 + b'"}]', "item 0"),
    ],
)
def test_malformed_uploads_are_400_with_where(tmp_path, body, message):
    with ExitStack() as stack:
        port = start(stack, tmp_path)
        status, _, answer = request(port, "POST", "/ingest", body=body)
        assert status == 400 and message in json.loads(answer)["error"]
        assert request(port, "GET", "/health")[0] == 200


def test_bad_uploads_do_not_leak(tmp_path):
    with ExitStack() as stack:
        port = start(stack, tmp_path)
        bad = b"[" + b'{"id": 1, "value": 2, "tag": "a"},' * 20_000 + b'{"id": "x"}]'
        request(port, "POST", "/ingest", body=bad)
        before = metrics(port)["perflab_bounded_rss_bytes"]
        for _ in range(30):
            assert request(port, "POST", "/ingest", body=bad)[0] == 400
        after = metrics(port)
        assert after["perflab_bounded_bad_requests_total"] == 31
        assert after["perflab_bounded_rss_bytes"] - before < 8 * 2**20


def test_sheds_with_retry_after_under_a_small_limit(tmp_path):
    with ExitStack() as stack:
        port = start(stack, tmp_path, "--memory-limit", "16MiB")  # below any Python's RSS
        status, headers, body = request(port, "GET", "/items/1")
        assert status == 503 and headers["retry-after"] == "1"
        assert json.loads(body)["error"] == "memory pressure: retry later"
        assert request(port, "GET", "/health")[0] == 200  # still up, still answering
        m = metrics(port)
        assert m["perflab_bounded_shed_total"] == 1 and m["perflab_bounded_trims_total"] >= 1


def test_metrics_and_errors(tmp_path):
    with ExitStack() as stack:
        port = start(stack, tmp_path, "--memory-limit", "256MiB")
        assert request(port, "GET", "/items/abc")[0] == 400
        assert request(port, "GET", "/nope")[0] == 404
        m = metrics(port)
        for name in ("perflab_bounded_rss_bytes", "perflab_bounded_cache_bytes",
                     "perflab_bounded_gc_pause_seconds_max", "perflab_bounded_shed_total"):
            assert name in m
        assert m["perflab_bounded_memory_limit_bytes"] == 256 * 2**20


def test_bad_memory_limit_is_one_line():
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "perflab", "bounded", "serve",
                           "--memory-limit", "lots"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == "error: invalid size 'lots'"


def test_ready_is_503_while_shedding_health_stays_200(tmp_path):
    with ExitStack() as stack:
        port = start(stack, tmp_path, "--memory-limit", "16MiB")  # below any Python's RSS
        assert request(port, "GET", "/ready")[0] == 503
        assert request(port, "GET", "/health")[0] == 200
    with ExitStack() as stack:
        port = start(stack, tmp_path, "--memory-limit", "1GiB")
        status, _, body = request(port, "GET", "/ready")
        assert status == 200 and json.loads(body)["ready"] is True


def test_builtin_soak_baseline_is_oom_killed_final_survives():
    from perflab.bounded._confine import confine
    from perflab.bounded._load import LoadSpec
    from perflab.bounded._soak import builtin_command, soak
    from perflab.errors import UsageError

    limit = 200 * 2**20
    try:
        confine(limit, "cgroup-v1").close()
    except UsageError:
        try:
            confine(limit, "cgroup-v2").close()
        except UsageError as exc:
            pytest.skip(f"needs a memory cgroup: {exc}")
    spec = LoadSpec(urls=[("/items/{key}", 1.0)], connections=8, upload_bytes=30 * 10**6,
                    uploaders=2)
    final = soak(builtin_command("trimming"), limit, spec, duration=5)
    assert (final.oom_kills, final.deaths, final.errors_5xx) == (0, 0, 0)
    assert final.served > 0 and final.peak_bytes < limit
    assert final.gc_pause_max_s is not None  # scraped from its /metrics
    baseline = soak(builtin_command("baseline"), limit, spec, duration=5)
    assert baseline.oom_kills >= 1 and baseline.restarts >= 1  # the guide's "before": killed
