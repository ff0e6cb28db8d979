"""Start-up time of a perflab command: median and spread of N fresh runs.

    .venv/bin/python benchmarks/startup.py [-n 20] -- --version
    .venv/bin/python benchmarks/startup.py -n 30 -- search x /tmp/empty

Runs `.venv/bin/perflab` (the console script, no shim) directly. Outside the
test suite on purpose: a timing is a benchmark, never an assertion.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from perflab.measure import median_ci


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20, help="runs (default: 20)")
    parser.add_argument("args", nargs="*", default=["--version"])
    opts = parser.parse_args()
    exe = Path(sys.executable).with_name("perflab")
    cmd = [str(exe), *opts.args]
    subprocess.run(cmd, capture_output=True)  # warm the page cache and pyc files
    samples = []
    for _ in range(opts.n):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    s = median_ci(samples)
    print(f"{' '.join(cmd)}: median {s.median * 1e3:.1f} ms "
          f"[{s.ci_low * 1e3:.1f}, {s.ci_high * 1e3:.1f}] ({s.confidence:.0%} CI), n={s.n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
