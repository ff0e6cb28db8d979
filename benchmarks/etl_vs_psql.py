"""`perflab etl load` against `psql \\copy` at any row count, alternated in one run.

    .venv/bin/python benchmarks/etl_vs_psql.py [--rows 2000000] [-n 3] [--impl server-checks ...]
        [--gz] [--dialect] [--baseline-src /path/to/older/src] [--cluster NAME]

`--gz` adds the same file gzipped (one reader: a stream cannot be split), `--dialect`
the same rows `;`-separated loaded with `--delimiter ';' --quote '"' --null ''`, and
`--baseline-src` the default step of another checkout of perflab (its `src`), so that a
change's cost is measured against the code before it in the same run.

`perflab run --case etl` measures 500k rows (quick) or 10M (full); this measures
the sizes in between, such as the issue's 2M. Same private cluster, same file,
an emptied table and a CHECKPOINT before every load, median of n alternated runs.
Beside each median, the median of the paired ratios (each run over the psql run of
the same round, so that drift of a busy machine cancels) with its order-statistics
confidence interval (`perflab.measure.median_ci`, its real coverage printed: with
n < 6 no interval reaches 95%).

Bytecode is compiled before timing (perflab's package and --baseline-src), and every
timed process runs with PYTHONDONTWRITEBYTECODE=1: neither side pays compilation, in
its first run or (when the caller's environment sets that variable over stale or
absent bytecode) in every run, whatever the environment.
Outside the test suite on purpose: a timing is a benchmark, never an assertion.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import perflab
from perflab.commands._common import cache_dir
from perflab.etl._gen import TABLE_DDL, generate
from perflab.etl.case import TABLE, _truncate
from perflab.measure import median_ci
from perflab.services.postgres import private_cluster

# A fresh wrapper process per load times it and reports RUSAGE_CHILDREN: the peak RSS
# of the largest process the load ran (workers included), and only of this load.
_MEASURED = """
import resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("-n", type=int, default=3, help="runs of each (default: 3)")
    parser.add_argument("--impl", action="append", help="loader variants (default: "
                        "server-checks and block-regex)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gz", action="store_true", help="add the gzipped file")
    parser.add_argument("--dialect", action="store_true", help="add a ;-separated copy")
    parser.add_argument("--baseline-src", help="an older perflab's src/ to compare with")
    # Its own cluster beside another benchmark's: a running cluster of that name is
    # reused (its table emptied before every load) and left running at the end, since
    # only the run that started a server stops it; but that run stops it when it ends.
    parser.add_argument("--cluster", default="bench",
                        help="the private cluster's name (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, default=cache_dir() / "work" / "etl",
                        help="where the files are generated (default: %(default)s)")
    opts = parser.parse_args()
    if opts.n < 1:
        parser.error("-n must be at least 1")
    impls = opts.impl or ["server-checks", "block-regex"]
    _compile([Path(perflab.__file__).parent, *([Path(opts.baseline_src)]
                                                if opts.baseline_src else [])])
    # Whatever the caller's environment: no timed process writes bytecode (all of it is
    # compiled above), so no run does work that another run skips.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    data = opts.workdir / f"people-{opts.rows}.csv"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        generate(data, opts.rows)
    perflab_cmd = str(Path(sys.executable).with_name("perflab"))
    with private_cluster(opts.cluster) as cluster:
        import psycopg

        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute(TABLE_DDL.format(table=TABLE))
        commands = {"psql": [str(cluster.psql()), cluster.dsn, "-q", "-c",
                             f"\\copy {TABLE} FROM '{data}' WITH (FORMAT csv, HEADER true)"]}
        def loader(path: Path, *extra: str) -> list[str]:
            return [perflab_cmd, "etl", "load", str(path), "--table", TABLE, "--dsn", cluster.dsn,
                    "--truncate", "--workers", str(opts.workers), *extra]

        for impl in impls:
            commands[impl] = loader(data, "--impl", impl)
        if opts.gz:
            gz = data.with_name(data.name + ".gz")
            if not gz.exists():
                subprocess.run(["gzip", "-k", "-1", str(data)], check=True)
            commands["gz"] = loader(gz)
        if opts.dialect:
            semi = data.with_name(data.stem + "-semicolon.csv")
            if not semi.exists():
                _semicolon_copy(data, semi)
            commands["dialect ;"] = loader(semi, "--delimiter", ";", "--quote", '"',
                                           "--null", "")
        if opts.baseline_src:
            commands["baseline-src"] = ["env", f"PYTHONPATH={opts.baseline_src}",
                                        *loader(data)]
        samples: dict[str, list[float]] = {name: [] for name in commands}
        peak_rss: dict[str, int] = {}
        for _ in range(opts.n):
            for name, cmd in commands.items():
                _truncate(cluster.dsn)
                seconds, kib = subprocess.run([sys.executable, "-c", _MEASURED, *cmd],
                                              check=True, capture_output=True, text=True,
                                              env=env).stdout.split()
                samples[name].append(float(seconds))
                peak_rss[name] = max(peak_rss.get(name, 0), int(kib))
    psql = statistics.median(samples["psql"])
    print(f"{opts.rows:,} rows, {data.stat().st_size / 1e6:.0f} MB, median of {opts.n}; "
          "paired: median of (run / psql's run in the same round), its CI:")
    for name, values in samples.items():
        median = statistics.median(values)
        line = (f"  {name:14} {median:7.3f} s  {opts.rows / median:>10,.0f} rows/s  "
                f"{median / psql:.2f}x psql's time  peak RSS {peak_rss[name] / 1024:4.0f} MiB")
        if name != "psql":
            line += "  paired " + _paired(values, samples["psql"])
        print(line)
    return 0


def _paired(runs: list[float], psql: list[float]) -> str:
    """The median of the paired ratios and its confidence interval, as a column."""
    ratios = median_ci([run / base for run, base in zip(runs, psql, strict=True)])
    return (f"{ratios.median:.2f}x [{ratios.ci_low:.2f}, {ratios.ci_high:.2f}] "
            f"{ratios.confidence:.0%} CI")


def _compile(trees: list[Path]) -> None:
    """Bytecode for the code under test, written now (compileall writes it whatever
    PYTHONDONTWRITEBYTECODE says), so that no timed run compiles."""
    for tree in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree)], check=True,
                       stdout=subprocess.DEVNULL)


def _semicolon_copy(src: Path, dst: Path) -> None:
    """The same rows with `;` between fields (a field holding `;` is quoted)."""
    import csv

    with src.open(newline="") as f, dst.open("w", newline="") as out:
        csv.writer(out, delimiter=";", lineterminator="\n").writerows(csv.reader(f))


if __name__ == "__main__":
    raise SystemExit(main())
