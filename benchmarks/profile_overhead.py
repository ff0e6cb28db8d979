"""What py-spy at its default rate costs a profiled case (issue 21's <= 10% target).

    .venv/bin/python benchmarks/profile_overhead.py [CASE] [--variant V] [--rounds 10]
        [--subprocesses]

CASE defaults to this file's own `profile_overhead:CASE`: a pure-Python loop
(`spin`, every sample in Python frames) and many small calls (`calls`, deep
and changing stacks), each a few hundred milliseconds.

Runs the variant's measured child (`python -m perflab.measure._worker`) bare
and under `py-spy record` (what `perflab profile` runs), alternated, and
compares the wall time the child measured itself (the case's run, not the
interpreter's start-up nor py-spy's), the child's CPU time, and the whole
command's wall time. On a machine other work keeps busy, a process py-spy
pauses 100 times a second can win CPU from the scheduler that a busy one does
not (it wakes as a sleeper), so read the CPU time there too.
Medians, with Mann-Whitney's p; a shared machine is noisy, so alternate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from perflab.cases import resolve
from perflab.commands._common import cache_dir
from perflab.commands.profile import DEFAULT_RATE, _worker_argv
from perflab.measure import function_case
from perflab.measure._case import RunContext
from perflab.measure._profile import _beside_python
from perflab.measure._runner import _child_env
from perflab.measure._stats import mann_whitney_p
from perflab.measure._worker import load_case


def spin() -> int:
    """a pure-Python loop"""
    total = 0
    for i in range(5_000_000):
        total += i * i % 7
    return total


def calls() -> int:
    """many small calls"""
    def f(x: int) -> int:
        return g(x) + 1

    def g(x: int) -> int:
        return x % 3

    return sum(f(i) for i in range(1_000_000))


CASE = function_case("cpu", [spin, calls])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", nargs="?", default="profile_overhead:CASE")
    parser.add_argument("--variant")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--subprocesses", action="store_true")
    args = parser.parse_args()
    ref = resolve(args.case)
    case = load_case(ref)
    variant = args.variant or [v.name for v in case.variants if v.kind != "reference"][-1]
    workdir = cache_dir() / "work" / case.name / "quick"
    workdir.mkdir(parents=True, exist_ok=True)
    py_spy = _beside_python("py-spy")
    env = _child_env()
    inner: dict[str, list[float]] = {"bare": [], "py-spy": []}
    cpu: dict[str, list[float]] = {"bare": [], "py-spy": []}
    outer: dict[str, list[float]] = {"bare": [], "py-spy": []}
    with case.session(RunContext("quick", workdir)) as params, \
            tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext("quick", workdir, dict(params))
        argv = _worker_argv(ref, variant, ctx, Path(tmp), "w")
        spy = [str(py_spy), "record", "--format", "raw", "--rate", str(DEFAULT_RATE),
               "--output", str(Path(tmp, "stacks")),
               *(["--subprocesses"] if args.subprocesses else []), "--"]
        subprocess.run(argv, env=env, check=True, capture_output=True)  # warm-up
        for _ in range(args.rounds):
            for name, prefix in (("bare", []), ("py-spy", spy)):
                start = time.perf_counter()
                subprocess.run([*prefix, *argv], env=env, check=True, capture_output=True)
                outer[name].append(time.perf_counter() - start)
                result = json.loads(Path(tmp, "w-result.json").read_text())
                inner[name].append(result["metrics"]["wall_s"])
                cpu[name].append(result["metrics"]["cpu_s"])
    med = statistics.median
    for label, data in (("the case's run (measured in the child)", inner),
                        ("its CPU time (the child's, user + system)", cpu),
                        ("the whole command", outer)):
        a, b = med(data["bare"]), med(data["py-spy"])
        print(f"{case.name}/{variant}, {label}: bare {a * 1e3:.1f} ms, under py-spy at "
              f"{DEFAULT_RATE} Hz {b * 1e3:.1f} ms: {(b / a - 1) * 100:+.1f}% "
              f"(p={mann_whitney_p(data['bare'], data['py-spy']):.3f}, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
