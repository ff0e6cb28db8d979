"""`perflab etl load` against `psql \\copy` at any row count, alternated in one run.

    .venv/bin/python benchmarks/etl_vs_psql.py [--rows 2000000] [-n 3] [--impl server-checks ...]

`perflab run --case etl` measures 500k rows (quick) or 10M (full); this measures
the sizes in between, such as the issue's 2M. Same private cluster, same file,
an emptied table and a CHECKPOINT before every load, median of n alternated runs.
Outside the test suite on purpose: a timing is a benchmark, never an assertion.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from perflab.commands._common import cache_dir
from perflab.etl._gen import TABLE_DDL, generate
from perflab.etl.case import TABLE, _truncate
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
    opts = parser.parse_args()
    impls = opts.impl or ["server-checks", "block-regex"]
    data = cache_dir() / "work" / "etl" / f"people-{opts.rows}.csv"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        generate(data, opts.rows)
    perflab = str(Path(sys.executable).with_name("perflab"))
    with private_cluster("bench") as cluster:
        import psycopg

        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            conn.execute(TABLE_DDL.format(table=TABLE))
        commands = {"psql": [str(cluster.psql()), cluster.dsn, "-q", "-c",
                             f"\\copy {TABLE} FROM '{data}' WITH (FORMAT csv, HEADER true)"]}
        for impl in impls:
            commands[impl] = [perflab, "etl", "load", str(data), "--table", TABLE, "--dsn",
                              cluster.dsn, "--truncate", "--impl", impl,
                              "--workers", str(opts.workers)]
        samples: dict[str, list[float]] = {name: [] for name in commands}
        peak_rss: dict[str, int] = {}
        for _ in range(opts.n):
            for name, cmd in commands.items():
                _truncate(cluster.dsn)
                seconds, kib = subprocess.run([sys.executable, "-c", _MEASURED, *cmd],
                                              check=True, capture_output=True,
                                              text=True).stdout.split()
                samples[name].append(float(seconds))
                peak_rss[name] = max(peak_rss.get(name, 0), int(kib))
    psql = statistics.median(samples["psql"])
    print(f"{opts.rows:,} rows, {data.stat().st_size / 1e6:.0f} MB, median of {opts.n}:")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:14} {median:7.3f} s  {opts.rows / median:>10,.0f} rows/s  "
              f"{median / psql:.2f}x psql's time  peak RSS {peak_rss[name] / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
