"""Start-up time of perflab commands against the bare interpreter: medians of N fresh runs.

    .venv/bin/python benchmarks/startup.py [-n 20]                 # the default commands
    .venv/bin/python benchmarks/startup.py -n 30 -- search x /tmp/empty
    .venv/bin/python benchmarks/startup.py --keep                  # kept, for the docs

Runs `.venv/bin/perflab` (the console script, no shim) directly, the commands
alternated run by run so drift spreads over all of them. With `--keep` the
samples are written as a results file, `results/<date>-<host>-<commit>-startup/`,
which the docs' `<!-- perflab:generated case=startup table=values -->` regions
show (`make docs`). Outside the test suite on purpose: a timing is a
benchmark, never an assertion.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perflab.measure import Metric, keep_benchmark, median_ci


def _commands(extra: list[str], empty: Path) -> list[tuple[str, str, list[str]]]:
    """(name, description, argv) of each command measured."""
    exe = Path(sys.executable).with_name("perflab")
    if extra:
        return [("command", " ".join(["perflab", *extra]), [str(exe), *extra])]
    return [
        ("python", "the interpreter alone: python -c pass", [sys.executable, "-c", "pass"]),
        ("version", "perflab --version: the CLI's table, no command imported",
         [str(exe), "--version"]),
        ("search", "perflab search x EMPTY_DIR: the search command's imports",
         [str(exe), "search", "x", str(empty)]),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20, help="runs of each command (default: 20)")
    parser.add_argument("--keep", action="store_true",
                        help="write results/<date>-<host>-<commit>-startup/results.json")
    parser.add_argument("args", nargs="*", help="one perflab command line instead of the default")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as empty:
        commands = _commands(opts.args, Path(empty))
        for _, _, cmd in commands:
            subprocess.run(cmd, capture_output=True)  # warm the page cache and pyc files
        samples: dict[str, list[float]] = {name: [] for name, _, _ in commands}
        for _ in range(opts.n):
            for name, _, cmd in commands:
                start = time.perf_counter()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                samples[name].append(time.perf_counter() - start)
    for name, description, _ in commands:
        s = median_ci(samples[name])
        print(f"{description}: median {s.median * 1e3:.1f} ms "
              f"[{s.ci_low * 1e3:.1f}, {s.ci_high * 1e3:.1f}] ({s.confidence:.0%} CI), n={s.n}")
    if opts.keep:
        path = keep_benchmark(
            "startup", "Start-up time of perflab commands",
            [Metric("wall_s", "Start-up (wall)", "s")],
            {name: (description, {"wall_s": samples[name]}) for name, description, _ in commands},
        )
        print(f"kept: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
