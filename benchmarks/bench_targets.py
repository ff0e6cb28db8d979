"""The targets of `perflab bench` (issue 21), measured: not a test.

    .venv/bin/python benchmarks/bench_targets.py [--trials 20]

1. `sleep 0.05` against `sleep 0.055` (10%), 30 runs: how often significant;
2. two identical commands (`sleep 0.02` twice), 30 runs: how often `~`;
3. overhead on `true`: perflab bench's median against hyperfine -N's (same runs,
   the two tools alternated), and each tool's whole wall time per run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perflab.measure._bench import BenchOptions, expand, run_bench, to_case
from perflab.measure._stats import is_significant, mann_whitney_p


def verdicts(a: str, b: str, trials: int, runs: int) -> list[float]:
    ps = []
    for _ in range(trials):
        benches = expand([a, b])
        case = to_case(benches, run_bench(benches, BenchOptions(runs=runs, warmups=1)))
        x, y = (v.metrics["wall_s"].samples for v in case.variants)
        ps.append(mann_whitney_p(x, y))
    return ps


def overhead(rounds: int, runs: int) -> None:
    hyperfine = shutil.which("hyperfine")
    if hyperfine is None:
        print("hyperfine is not installed: no overhead comparison")
        return
    perflab = [sys.executable, "-m", "perflab", "bench"]
    ours, theirs, ours_total, theirs_total = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "r.json")
        for _ in range(rounds):
            t = time.perf_counter()
            subprocess.run([*perflab, "true", "--runs", str(runs), "-w", "20",
                            "--export-json", str(out)], check=True, capture_output=True)
            ours_total.append((time.perf_counter() - t) / runs)
            data = json.loads(out.read_text())
            ours.append(data["cases"][0]["variants"][0]["metrics"]["wall_s"]["median"])
            t = time.perf_counter()
            subprocess.run([hyperfine, "-N", "--runs", str(runs), "-w", "20", "--export-json",
                            str(out), "true"], check=True, capture_output=True)
            theirs_total.append((time.perf_counter() - t) / runs)
            theirs.append(json.loads(out.read_text())["results"][0]["median"])
    med = statistics.median
    print(f"true, median per run as reported, {rounds} alternated rounds of {runs} runs:")
    print(f"  perflab bench {med(ours) * 1e3:.3f} ms (rounds {min(ours) * 1e3:.3f}-"
          f"{max(ours) * 1e3:.3f}), hyperfine -N {med(theirs) * 1e3:.3f} ms "
          f"({min(theirs) * 1e3:.3f}-{max(theirs) * 1e3:.3f}): "
          f"difference {(med(ours) - med(theirs)) * 1e3:+.3f} ms")
    print(f"  whole tool wall time per run: perflab {med(ours_total) * 1e3:.3f} ms, "
          f"hyperfine {med(theirs_total) * 1e3:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    ps = verdicts("sleep 0.05", "sleep 0.055", args.trials, args.runs)
    hits = sum(is_significant(p) for p in ps)
    print(f"sleep 0.05 vs sleep 0.055, {args.runs} runs: significant in {hits}/{args.trials} "
          f"trials (largest p {max(ps):.2g})")
    ps = verdicts("sleep 0.02", "sleep 0.02", args.trials, args.runs)
    same = sum(not is_significant(p) for p in ps)
    print(f"sleep 0.02 twice, {args.runs} runs: ~ in {same}/{args.trials} trials "
          f"(smallest p {min(ps):.2g})")
    overhead(rounds=5, runs=300)


if __name__ == "__main__":
    main()
