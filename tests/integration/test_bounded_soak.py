"""`perflab bounded soak` of arbitrary commands under a real limit, and the guard keeping them up.

The command under test is a small leaking ASGI server written here (each request
keeps another MiB), served by uvicorn; with LEAK_GUARD=1 it is wrapped in
perflab.bounded's middleware. Which limit kinds run depends on the machine: the
cgroup ones need root and that hierarchy's memory controller (skipped elsewhere,
with the reason).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

LEAKY = '''
import os

KEPT = []


async def leaky(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] != "/health":
        KEPT.append(b"x" * (1 << 20))  # a MiB kept for good: the leak
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"%d" % len(KEPT)})


app = leaky
if os.environ.get("LEAK_GUARD") == "1":
    from perflab.bounded import MemoryGuardMiddleware

    app = MemoryGuardMiddleware(leaky)
'''


def available(kind: str) -> str | None:
    """None when this machine can make a `kind` group; else why not."""
    from perflab.bounded._confine import confine
    from perflab.errors import UsageError

    try:
        confine(64 * 2**20, kind).close()
    except UsageError as exc:
        return f"{kind}: {exc} ({exc.hint})"
    return None


def leaky_command(tmp_path: Path) -> list[str]:
    (tmp_path / "leaky.py").write_text(LEAKY)
    return [sys.executable, "-m", "uvicorn", "--app-dir", str(tmp_path), "leaky:app",
            "--port", "{port}", "--log-level", "warning"]


def soak(*args: str, command: list[str], env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-m", "perflab", "bounded", "soak", "--json", *args,
                           "--", *command], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    assert proc.stdout, proc.stderr
    summary = json.loads(proc.stdout)
    assert proc.returncode == (1 if summary["deaths"] or summary["oom_kills"] else 0), proc.stderr
    return summary


@pytest.mark.parametrize("kind", ["cgroup-v2", "cgroup-v1"])
def test_a_leaking_command_is_oom_killed_and_reported(tmp_path, kind):
    why = available(kind)
    if why:
        pytest.skip(why)
    s = soak("--memory-limit", "96MiB", "--limit-kind", kind, "--duration", "3",
             "--connections", "4", command=leaky_command(tmp_path))
    assert s["limit_kind"] == kind and s["rlimit_factor"] is None
    assert s["oom_kills"] >= 1 and s["deaths"] >= 1 and s["restarts"] >= 1
    assert s["peak_bytes"] <= 96 * 2**20 and s["requests"] > 0
    assert len(s["memory_series"]) > 5


def test_the_same_command_with_the_middleware_survives(tmp_path):
    if available("cgroup-v2") and available("cgroup-v1"):
        pytest.skip("no memory cgroup can be made here: " + str(available("cgroup-v1")))
    s = soak("--memory-limit", "96MiB", "--duration", "3", "--connections", "4",
             command=leaky_command(tmp_path), env={"LEAK_GUARD": "1"})
    assert (s["oom_kills"], s["deaths"], s["errors_5xx"]) == (0, 0, 0)
    assert s["shed"] > 0 and s["served"] > 0 and s["peak_bytes"] < 96 * 2**20


def test_rlimit_fallback_is_reported_with_its_factor(tmp_path):
    s = soak("--memory-limit", "96MiB", "--limit-kind", "rlimit", "--duration", "2",
             "--connections", "4", command=leaky_command(tmp_path), env={"LEAK_GUARD": "1"})
    assert s["limit_kind"] == "rlimit" and s["rlimit_factor"] == 4
    assert s["enforced_bytes"] == 4 * 96 * 2**20
    # The guard learnt the limit from PERFLAB_MEMORY_LIMIT, which the soak sets under an rlimit.
    assert s["shed"] > 0 and s["deaths"] == 0


def get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_readiness_fails_while_shedding(tmp_path):
    from perflab.services import free_port, wait_listening

    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in leaky_command(tmp_path)]
    env = {**os.environ, "LEAK_GUARD": "1", "PERFLAB_MEMORY_LIMIT": "96MiB"}
    proc = subprocess.Popen(argv, env=env, cwd=ROOT)
    try:
        wait_listening(port, "leaky", 20, process=proc)
        assert get(port, "/ready") == 200
        statuses = [get(port, "/") for _ in range(150)]  # a MiB each: past 90% of 96 MiB
        assert statuses[0] == 200 and statuses[-1] == 503
        assert get(port, "/ready") == 503 and get(port, "/health") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_starlette_example_is_killed_bare_and_survives_guarded():
    """The worked example of docs/bounded.md: whole-body uploads at 128 MiB, same run."""
    if available("cgroup-v2") and available("cgroup-v1"):
        pytest.skip("no memory cgroup can be made here: " + str(available("cgroup-v1")))
    command = [sys.executable, "-m", "uvicorn", "examples.bounded_starlette:app", "--port",
               "{port}", "--log-level", "warning"]
    args = ("--memory-limit", "128MiB", "--duration", "6", "--upload-path", "/upload",
            "--upload-size", "30MB", "--uploaders", "4", "--connections", "2")
    bare = soak(*args, command=command, env={"BOUNDED_EXAMPLE_GUARD": "0"})
    guarded = soak(*args, command=command, env={"BOUNDED_EXAMPLE_GUARD": "1"})
    assert bare["oom_kills"] >= 1
    assert (guarded["oom_kills"], guarded["deaths"]) == (0, 0)
    # Whole uploads may not finish in 6 s on a loaded machine; shedding is what keeps it up.
    assert guarded["served"] >= 1 and guarded["shed"] >= 1
    assert guarded["gc_pause_max_s"] is not None  # its /metrics, through the middleware
