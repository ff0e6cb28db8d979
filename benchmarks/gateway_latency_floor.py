"""Where does the gateway case's p99 come from? Open-loop latency, hop by hop.

    .venv/bin/python benchmarks/gateway_latency_floor.py [--rounds 3] [--duration 4]

At the case's fixed rate (`RATE`, `CONNECTIONS` connections) and with the
case's realistic request head (`REQUEST_HEADERS`), the same generator drives,
in turn:

- nginx answering `return 200`: the generator's own floor on this machine;
- the case's upstream (`perflab gateway upstream`, granian) directly;
- nginx as a keep-alive proxy to that upstream (the case's nginx reference);
- the gateway's final step in front of that upstream, and its baseline;
- the final step's cached route, which answers without the upstream (the
  baseline has no cache: its cached route is its uncached one).

Each line is the median of the rounds. A server's tail can be no shorter than
that of what it waits on: the gateway's p99 is bounded below by the upstream's,
and both by the generator's.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
from pathlib import Path

from perflab.cases import perflab_command
from perflab.errors import ToolUnavailable
from perflab.gateway._impl import DEFAULT
from perflab.gateway._loadgen import run_load
from perflab.gateway.case import (
    CONFIG,
    CONNECTIONS,
    ITEMS,
    NGINX_PROXY,
    RATE,
    REQUEST_HEADERS,
    free_port,
    run_nginx,
    start_process,
)

STATIC = """http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type application/json; return 200 '{{"ok": true}}'; }}
    }}
}}
"""
COLUMNS = ("latency_p50_s", "latency_p99_s", "latency_p99_9_s", "latency_max_s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        port = free_port()
        upstream = f"http://127.0.0.1:{port}"
        stack.enter_context(start_process(
            [*perflab_command(), "gateway", "upstream", "--port", str(port),
             "--items", str(ITEMS)], f"{upstream}/items", work / "upstream.log"))
        config = work / "gateway.toml"
        config.write_text(CONFIG.format(port=port))
        targets = {"upstream (granian), direct": f"{upstream}/items"}
        for impl in (DEFAULT, "baseline"):
            gateway = f"http://127.0.0.1:{free_port()}"
            stack.enter_context(start_process(
                [*perflab_command(), "gateway", "serve", "--config", str(config),
                 "--port", gateway.rsplit(":", 1)[1], "--impl", impl], f"{gateway}/metrics",
                work / f"gateway-{impl}.log"))
            targets[f"gateway ({impl}) -> upstream"] = f"{gateway}/api/items"
            if impl == DEFAULT:  # a cache hit: no upstream on the way
                targets[f"gateway ({impl}), cached route"] = f"{gateway}/cached/items"
        try:
            static = stack.enter_context(run_nginx(work / "static", STATIC, "/"))
            proxy = stack.enter_context(run_nginx(work / "proxy", NGINX_PROXY, "/api/items",
                                                  upstream=str(port)))
        except ToolUnavailable as exc:
            print(f"{exc}: nginx lines left out")
        else:
            targets = {"nginx return 200 (generator floor)": f"{static}/",
                       **targets, "nginx proxy -> upstream": f"{proxy}/api/items"}
        seen: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for _ in range(opts.rounds):
            for name, url in targets.items():
                result = run_load(url, connections=CONNECTIONS, duration=opts.duration,
                                  rate=RATE, headers=REQUEST_HEADERS)
                seen[name].append(result.latency)
        print(f"open loop, {RATE:g} req/s, {CONNECTIONS} connections, median of "
              f"{opts.rounds} x {opts.duration:g} s (ms): p50 / p99 / p99.9 / max")
        for name, runs in seen.items():
            cells = [statistics.median(run[c] for run in runs) * 1e3 for c in COLUMNS]
            print(f"  {name:<36} " + " / ".join(f"{cell:.2f}" for cell in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
