"""The soak's pure parts: URL weights, upload bodies, counters, meters, the summary."""

import asyncio
import json
import subprocess
import sys

import pytest

from perflab.bounded._confine import _field, confine, meter_from_spec
from perflab.bounded._load import parse_url, upload_body
from perflab.bounded._soak import SoakResult, gc_pauses
from perflab.errors import UsageError


@pytest.mark.parametrize(("text", "parsed"), [
    ("/", ("/", 1.0)), ("/items/{key}@9", ("/items/{key}", 9.0)), ("/a?b=1@0.5", ("/a?b=1", 0.5)),
])
def test_parse_url(text, parsed):
    assert parse_url(text) == parsed


@pytest.mark.parametrize("text", ["items", "/x@0", "/x@many", "@3", "/x@-1"])
def test_parse_url_rejects(text):
    with pytest.raises(UsageError, match="invalid --url"):
        parse_url(text)


def test_upload_body_is_a_json_array_of_about_the_size_asked():
    for size in (50, 10_000, 1_000_000):
        body = b"".join(upload_body(size))
        items = json.loads(body)
        assert isinstance(items, list) and items[0]["id"] == 0
        assert size * 0.9 <= len(body) <= size + 200 or size < 200


def test_flat_keyed_counters():
    events = "low 0\nhigh 3\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n"
    assert _field(events, "oom_kill") == 2 and _field(events, "oom") == 2
    assert _field("oom_kill_disable 0\nunder_oom 0\n", "oom_kill") == 0


def test_meter_specs_round_trip(tmp_path):
    for spec in (f"cgroup-v1:{tmp_path}", f"cgroup-v2:{tmp_path}", "rlimit:123"):
        assert meter_from_spec(spec).spec() == spec
    (tmp_path / "memory.events").write_text("oom 1\noom_kill 1\n")
    (tmp_path / "memory.current").write_text("1048576\n")
    v2 = meter_from_spec(f"cgroup-v2:{tmp_path}")
    assert v2.oom_kills() == 1 and v2.usage_bytes() == 2**20
    assert v2.peak_bytes() == 2**20  # no memory.peak: the sampled maximum
    with pytest.raises(ValueError, match="not a meter spec"):
        meter_from_spec("docker:abc")


def test_unknown_limit_kind_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown --limit-kind 'zfs'"):
        confine(2**28, "zfs")
    rlimit = confine(2**28, "rlimit")
    assert (rlimit.kind, rlimit.factor) == ("rlimit", 4)


def test_gc_pauses_from_any_prefix():
    assert gc_pauses({"app_gc_pause_seconds_max": 0.02, "app_gc_pause_seconds_total": 0.5,
                      "other": 1}) == (0.02, 0.5)
    assert gc_pauses({"rss": 1.0}) == (None, None)


def test_summary_json_has_the_issue_fields_and_no_nan():
    r = SoakResult(command=["x"], limit_kind="rlimit", limit_bytes=1, enforced_bytes=4,
                   rlimit_factor=4, seconds=1.0, requests=0, served=0, shed=0, errors_5xx=0,
                   errors_4xx=0, client_errors=0, uploads_done=0, oom_kills=0, deaths=0,
                   restarts=0, idle_bytes=1.0, peak_bytes=float("nan"), gc_pause_max_s=None,
                   gc_pause_total_s=None, p50_s=float("nan"), p99_s=float("nan"))
    out = json.loads(json.dumps(r.as_json()))
    for key in ("oom_kills", "peak_bytes", "requests", "errors_5xx", "limit_kind"):
        assert key in out
    assert out["peak_bytes"] is None and out["rlimit_factor"] == 4


@pytest.mark.parametrize(("args", "message"), [
    (["--url", "items"], "error: invalid --url 'items'"),
    (["--memory-limit", "lots"], "error: invalid size 'lots'"),
    (["--duration", "0"], "error: --duration must be positive, got 0"),
    (["--variant", "baseline", "--", "true"],
     "error: --variant picks a step of the built-in service, not of a command"),
    (["--duration", "1", "--", "/nonexistent/server", "--port", "{port}"],
     "error: cannot run '/nonexistent/server': No such file or directory"),
    (["--duration", "1", "--", "false"], "error: false exited with 1"),
])
def test_soak_bad_options_are_one_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "perflab", "bounded", "soak", *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.splitlines()[0] == message


def test_memory_chart_draws_usage_limit_and_deaths():
    from perflab.bounded._plot import memory_chart

    assert memory_chart([], 2**27) is None
    svg = memory_chart([(0.1, 2**25), (0.2, 2**26), (0.3, float("nan"))], 2**27, "t",
                       deaths=[0.25])
    assert svg is not None and svg.startswith("<svg") and "death" in svg and "limit" in svg


def test_upload_body_closes_its_array_early_when_told_to_stop():
    chunks, cut = [], []
    for chunk in upload_body(10_000_000, lambda: len(chunks) >= 3, cut):
        chunks.append(chunk)
    body = b"".join(chunks)
    assert cut == [True] and 0 < len(json.loads(body)) < 10_000_000 // 100


@pytest.mark.parametrize(("raw", "status", "closing", "retry_after", "rest"), [
    (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloNEXT", 200, False, None, b"NEXT"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nNEXT",
     200, False, None, b"NEXT"),
    (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 2\r\n"
     b"Connection: close\r\n\r\n{}", 503, True, 2.0, b""),
    (b"HTTP/1.0 200 OK\r\n\r\nuntil the close", 200, True, None, b""),
    (b"HTTP/1.1 204 No Content\r\n\r\nNEXT", 204, False, None, b"NEXT"),
])
def test_read_answer_reads_one_response_whole(raw, status, closing, retry_after, rest):
    from perflab.bounded._load import read_answer

    async def read():
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_answer(reader), await reader.read()

    answer, left = asyncio.run(read())
    assert (answer.status, answer.closing, answer.retry_after) == (status, closing, retry_after)
    assert left == rest


def test_kept_soak_has_a_values_table_and_the_whole_summary(tmp_path):
    from perflab.bounded._cli import keep_soak
    from perflab.measure import load

    r = SoakResult(command=["x"], limit_kind="cgroup-v1", limit_bytes=2**28,
                   enforced_bytes=2**28, rlimit_factor=None, seconds=10.0, requests=1000,
                   served=1000, shed=0, errors_5xx=0, errors_4xx=0, client_errors=0,
                   uploads_done=2, oom_kills=0, deaths=0, restarts=0, idle_bytes=2**24,
                   peak_bytes=2**26, gc_pause_max_s=None, gc_pause_total_s=None, p50_s=0.004,
                   p99_s=float("nan"), memory_series=[(0.1, 2**24)])
    path = keep_soak(r, ["bounded", "soak", "--keep"], root=tmp_path)
    case = load(path).cases[0]
    assert case.name == "soak" and path.parent.name.endswith("-soak")
    metrics = case.variants[0].metrics
    assert metrics["req_per_s"].samples == (100.0,) and "p99_s" not in metrics
    whole = json.loads((path.parent / "soak.json").read_text())
    assert whole["memory_series"] == [[0.1, 2**24]] and whole["p99_s"] is None


def test_why_no_cgroup_v2_group_names_the_cause():
    from pathlib import Path

    from perflab.bounded._confine import v2_unavailable

    v1_bound = "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t42\t1\n"
    v2_only = "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t80\t1\n"
    unified = [(Path("/sys/fs/cgroup/unified"), "hugetlb\n")]
    assert v2_unavailable([], v2_only) == "no cgroup2 file system is mounted"
    assert v2_unavailable(unified, v1_bound) == (
        "the memory controller is bound to cgroup v1 (hierarchy 4 in /proc/cgroups), so "
        "cgroup2 cannot have it: /sys/fs/cgroup/unified offers hugetlb")
    assert v2_unavailable([(Path("/sys/fs/cgroup"), "cpu memory pids\n")], v2_only) == (
        "/sys/fs/cgroup offers cpu memory pids; making a group there needs root")


def test_the_kept_description_names_the_measurement_not_the_outputs():
    from perflab.bounded._cli import _short, measured_argv

    argv = ["bounded", "soak", "--requests", "10", "--json", "--keep", "--plot", "m.svg",
            "--log=s.log", "--upload-rate", "0.25", "--", "app", "--log", "x"]
    assert measured_argv(argv) == ["bounded", "soak", "--requests", "10", "--upload-rate",
                                   "0.25", "--", "app", "--log", "x"]
    assert _short(["python", "-m", "app", "--port", "{port}"]) == "python -m app --port {port}"
    title = _short(["/a/very/long/path/to/python"] * 4 + ["-m", "app"], 40)
    assert title.startswith("… ") and title.endswith("-m app") and len(title) <= 40
