"""Is `perflab gateway load` the bottleneck? Measure it against nginx serving a static body.

    .venv/bin/python benchmarks/loadgen_vs_nginx.py [--duration 5] [--connections 64]

nginx answering `return 200` is about the cheapest HTTP server there is: the
rate our generator reaches against it is its own ceiling on this machine.
With `wrk` installed, wrk's rate on the same server is printed beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from perflab.errors import ToolUnavailable
from perflab.gateway._loadgen import run_load
from perflab.gateway.case import run_nginx

STATIC = """http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type application/json; return 200 '{{"ok": true}}'; }}
    }}
}}
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        try:
            base = stack.enter_context(run_nginx(Path(tmp), STATIC, "/"))
        except ToolUnavailable as exc:
            print(exc)
            return 1
        url = f"{base}/"
        ours = run_load(url, connections=opts.connections, duration=opts.duration)
        print(f"perflab gateway load: {ours.rate:,.0f} req/s, "
              f"p99 {ours.latency['latency_p99_s'] * 1e3:.2f} ms, {ours.errors} errors")
        wrk = shutil.which("wrk")
        if wrk:
            out = subprocess.run([wrk, "-t2", f"-c{opts.connections}",
                                  f"-d{opts.duration:g}s", url],
                                 capture_output=True, text=True).stdout
            found = re.search(r"Requests/sec:\s+([\d.]+)", out)
            print(f"wrk: {float(found.group(1)) if found else 0:,.0f} req/s")
        else:
            print("wrk: not installed (apt install wrk)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
