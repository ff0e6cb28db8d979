"""Case study 1 for the harness: the ladder of `perflab gateway serve`, nginx beside it.

One upstream (`perflab gateway upstream`, granian) serves every variant. Each
repetition starts the gateway variant as its own process and drives it with
`perflab gateway load` (in this process):

- every request carries what a browser or API client sends (`REQUEST_HEADERS`:
  about 500 bytes, Authorization, Cookie, Accept, ...) and the upstream
  answers with six fields (Cache-Control, ETag, ...); the gateway and nginx
  both forward all of them both ways and add X-Forwarded-* and a request id;
- throughput: closed loop, `CONNECTIONS` connections, on the uncached route
  (upstream call + field selection) and on the cached route, with wrk when it
  is installed (it out-runs our own generator about 2x on nginx's static body,
  see benchmarks/loadgen_vs_nginx.py), else with `perflab gateway load`;
- latency: open loop at `RATE` req/s, a rate the baseline sustains, so p50/p99
  compare service time rather than queueing (coordinated omission corrected),
  on both routes, in windows of `LATENCY_S` (a tail set by collections a few
  seconds apart needs seconds to show): for the baseline, the final step and
  nginx only (`LATENCY_VARIANTS`), and only in a variant's second execution
  (the first measured one after the harness's warm-up), to keep the case's
  quick scale within its share of `make run`; a variant's first execution,
  the harness's warm-up round, whose figures are thrown away, drives each
  route for `WARMUP_S` only: what it warms (page cache, pyc files, nginx's
  cache directory) needs the processes started, not seconds of load;
- GC: the gateway's own collection count and pause (from its /metrics) per
  1,000 requests; CPython has no cheap allocation counter, and a gen-0
  collection happens every 700 net container allocations, so collections per
  request is the allocation-rate proxy shown for the guide's "Allocations/req".

The load generator, the gateway and the upstream share the machine's cores,
as in the issue's own measurements.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

from perflab.errors import MeasurementError, ToolUnavailable
from perflab.gateway._impl import DEFAULT, LADDER
from perflab.measure import Metric, RunContext, Variant, ladder_variants
from perflab.services import free_port, perflab_command, scrape_metrics, wait_ready

__all__ = ["CASE", "GatewayCase", "free_port", "run_nginx", "start_process", "wait_ready"]

CONNECTIONS = 64
RATE = 800.0  # req/s: about half what the baseline serves at most on 2 quiet cores
DURATION = {"quick": 1.0, "full": 10.0}  # closed-loop throughput window per route
LATENCY_S = {"quick": 10.0, "full": 30.0}  # open-loop window per route
LATENCY_VARIANTS = ("baseline", DEFAULT, "nginx")
LATENCY_RUN = 1  # the execution (0-based) that measures latency: the first after a warm-up
WARMUP_S = 0.25  # the first execution's windows (the harness's warm-up: thrown away)
ITEMS = 20
# What a browser's fetch() of a JSON API sends, about 500 bytes with Host.
REQUEST_HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0 Safari/537.36",
    "Accept": "application/json, text/plain, */*",
    "Accept-Encoding": "gzip, deflate, br",
    "Accept-Language": "en-US,en;q=0.9",
    "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIiwiZXhwIjoxOTAwMDAwMDAwfQ."
                     "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg",
    "Cookie": "session=7f3c9a1e2b4d6f80; theme=dark; _ga=GA1.2.1234567890.1700000000",
    "Referer": "http://127.0.0.1/app/dashboard",
}

CONFIG = """[[route]]
prefix = "/api"
upstream = "http://127.0.0.1:{port}"
timeout = 2.0
fields = ["id", "name", "score"]

[[route]]
prefix = "/cached"
upstream = "http://127.0.0.1:{port}"
timeout = 2.0
cache_ttl = 1.0
fields = ["id", "name", "score"]
cache_authorized = true  # as nginx's proxy_cache, which caches whatever Authorization says
"""

NGINX_HEAD = """daemon off;
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
"""

NGINX_PROXY = """http {{
    access_log off;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    proxy_cache_path {dir}/cache keys_zone=api:10m;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    # The gateway's job: every end-to-end field both ways (nginx's default), X-Forwarded-*,
    # a request id sent up and back.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Request-Id $request_id;
    add_header X-Request-Id $request_id always;
    server {{
        listen 127.0.0.1:{port};
        location /api/ {{ proxy_pass http://app/; }}
        location /cached/ {{
            proxy_pass http://app/;
            proxy_cache api; proxy_cache_valid 200 1s;
        }}
    }}
}}
"""


@contextlib.contextmanager
def start_process(cmd: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server in its own process group, stopped (with its workers) on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_ready(ready_url)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _check(base: str, errors: int, statuses: Mapping[int, int]) -> None:
    if errors or set(statuses) != {200}:
        raise MeasurementError(f"{base}: {errors} errors, statuses {dict(statuses)}")


def _wrk(url: str, duration: float) -> float | None:
    """Closed-loop req/s from wrk (it out-runs our generator about 2x here), or None."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    headers = [arg for name, value in REQUEST_HEADERS.items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run([wrk, "-t2", f"-c{CONNECTIONS}", f"-d{duration:g}s", *headers, url],
                         capture_output=True, text=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out.stdout)
    if out.returncode != 0 or rate is None or bad:
        raise MeasurementError(f"wrk against {url}: {(bad.group(0) if bad else out.stderr)}")
    return float(rate.group(1))


class GatewayCase:
    name = "gateway"
    title = "Case study 1: HTTP API gateway (perflab gateway)"
    budget_s = 200.0  # quick: the warm-up and 4 rounds fit; a 5th would not
    variants = (
        *ladder_variants(LADDER),
        Variant("nginx", "reference", "nginx reverse proxy forwarding the same headers, "
                                      "keep-alive upstream, proxy_cache (no field selection: "
                                      "it passes the whole body)"),
    )
    metrics = (
        Metric("req_per_s", "Throughput (uncached route)", "1/s", "higher"),
        Metric("cached_req_per_s", "Throughput (cached route)", "1/s", "higher"),
        Metric("p50_s", f"P50 Latency at {RATE:g} req/s", "s"),
        Metric("p99_s", f"P99 Latency at {RATE:g} req/s", "s", ladder=True),
        Metric("cached_p99_s", f"P99 Latency at {RATE:g} req/s, cached route", "s",
               ladder=True),
        Metric("gc_per_1k", "GC collections per 1k req (allocation proxy)", "count"),
        Metric("gc_pause_max_s", "GC Pause (max)", "s"),
        Metric("rss_bytes", "Memory Usage (RSS, one worker)", "B"),
    )
    categories: ClassVar = {
        "json": ("json", "orjson"),
        "upstream client": ("_client.py",),
        "proxy rules and routing": ("_app.py", "_core.py", "_proxy.py", "_middleware.py"),
        "event loop and sockets": ("asyncio", "uvloop", "selectors", "socket"),
        "server core": ("_server.py", "_asgi.py", "uvicorn", "httptools"),
    }

    @contextlib.contextmanager
    def session(self, ctx: RunContext) -> Iterator[Mapping[str, str]]:
        port = free_port()
        config = ctx.workdir / "gateway.toml"
        config.write_text(CONFIG.format(port=port))
        cmd = [*perflab_command(), "gateway", "upstream", "--port", str(port),
               "--items", str(ITEMS)]
        state = ctx.workdir / f"executions-{os.getpid()}"  # this run's, counted per variant
        state.mkdir(exist_ok=True)
        try:
            with start_process(cmd, f"http://127.0.0.1:{port}/items",
                               ctx.workdir / "upstream.log"):
                yield {"upstream_port": str(port), "config": str(config), "state": str(state)}
        finally:
            shutil.rmtree(state, ignore_errors=True)

    def _execution(self, variant: str, ctx: RunContext) -> int:
        """How many times this variant ran before in this run (see the module docstring)."""
        count = Path(ctx.params["state"]) / variant
        done = int(count.read_text()) if count.exists() else 0
        count.write_text(str(done + 1))
        return done

    def _drive(self, base: str, scale: str, execution: int, latency: bool) -> dict[str, float]:
        from perflab.gateway._loadgen import run_load

        paths = ("/api/items", "/cached/items")
        duration = DURATION[scale] if execution else WARMUP_S
        # wrk's shortest window is a second: the warm-up's is our own generator's
        rates = [_wrk(f"{base}{path}", duration) if execution else None for path in paths]
        requests = 0.0
        if None in rates:  # no wrk: our own closed loop (about half wrk's ceiling here)
            rates = []
            for path in paths:
                closed = run_load(f"{base}{path}", connections=CONNECTIONS, duration=duration,
                                  headers=REQUEST_HEADERS)
                _check(base, closed.errors, closed.statuses)
                rates.append(closed.rate)
                requests += closed.requests
        out = {"req_per_s": rates[0] or 0.0, "cached_req_per_s": rates[1] or 0.0}
        if latency:
            paced, paced_cached = (run_load(f"{base}{path}", connections=CONNECTIONS,
                                            duration=LATENCY_S[scale], rate=RATE,
                                            headers=REQUEST_HEADERS) for path in paths)
            for result in (paced, paced_cached):
                _check(base, result.errors, result.statuses)
            out.update({"p50_s": paced.latency["latency_p50_s"],
                        "p99_s": paced.latency["latency_p99_s"],
                        "p99_9_s": paced.latency["latency_p99_9_s"],
                        "cached_p99_s": paced_cached.latency["latency_p99_s"]})
            requests += paced.requests + paced_cached.requests
        out["requests"] = requests
        return out

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        execution = self._execution(variant, ctx)
        latency = variant in LATENCY_VARIANTS and execution == LATENCY_RUN
        if variant == "nginx":
            return self._nginx(ctx, execution, latency)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [*perflab_command(), "gateway", "serve", "--config", ctx.params["config"],
               "--port", str(port), "--impl", variant]
        with start_process(cmd, f"{base}/metrics", ctx.workdir / f"gateway-{variant}.log"):
            before = scrape_metrics(base)
            out = self._drive(base, ctx.scale, execution, latency)
            after = scrape_metrics(base)
        # /metrics answers from one worker: per-worker figures, scaled by its share of requests.
        served = after.get("perflab_gateway_request_seconds_count", 0) - before.get(
            "perflab_gateway_request_seconds_count", 0)
        collections = after.get("perflab_gateway_gc_collections_total", 0) - before.get(
            "perflab_gateway_gc_collections_total", 0)
        out["gc_per_1k"] = 1000 * collections / served if served else float("nan")
        out["gc_pause_max_s"] = after.get("perflab_gateway_gc_pause_seconds_max", 0.0)
        out["rss_bytes"] = after.get("process_resident_memory_bytes", 0.0)
        return out

    def _nginx(self, ctx: RunContext, execution: int, latency: bool) -> Mapping[str, float]:
        with run_nginx(ctx.workdir / "nginx", NGINX_PROXY, "/api/items",
                       upstream=ctx.params["upstream_port"]) as base:
            return self._drive(base, ctx.scale, execution, latency)


@contextlib.contextmanager
def run_nginx(workdir: Path, http_block: str, ready_path: str, **values: str) -> Iterator[str]:
    """nginx serving `http_block` (formatted with dir, port and `values`) on a free port.

    Yields its base URL; raises ToolUnavailable when nginx is not installed.
    """
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if nginx is None:
        raise ToolUnavailable("nginx is not installed (apt install nginx)")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    # As root, nginx's workers would drop to `nobody` and could not write their cache here.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_HEAD.format(dir=workdir, user=user)
                    + http_block.format(dir=workdir, port=port, **values))
    base = f"http://127.0.0.1:{port}"
    with start_process([nginx, "-c", str(conf), "-p", str(workdir)], f"{base}{ready_path}",
                       workdir / "stdout.log"):
        yield base


CASE = GatewayCase()
