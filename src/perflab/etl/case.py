"""Case study 2 for the harness: the ladder of `perflab etl load`, psql and raw COPY beside it.

Every variant runs the real command (`perflab etl load --impl NAME --json`)
against the same real PostgreSQL (the private cluster, started once for the
case) and the same file, into an emptied table. The row-at-a-time variants
would take most of an hour at full scale: they load a sample of the file and
their totals are extrapolated from its rate, which the table says.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

from perflab.errors import MeasurementError, ToolUnavailable
from perflab.etl._gen import TABLE_DDL, generate
from perflab.etl._impl import LADDER
from perflab.measure import Metric, RunContext, Variant
from perflab.services import perflab_command

__all__ = ["CASE", "EtlCase"]

# Quick scale fits the case's share of `make run` (1.5 minutes on 2 shared cores: one
# warm-up and four rounds of twelve variants); full scale is the guide's 10M rows.
ROWS = {"quick": 50_000, "full": 10_000_000}
SAMPLE_ROWS = {"quick": 200, "full": 50_000}
TABLE = "perflab_people"
WORKERS = 2


def _sampled(variant: str, scale: str) -> bool:
    method = next((i.method for i in LADDER if i.name == variant), "")
    return method in ("insert", "executemany")


def _truncate(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLE}")
        # Every variant starts from the same server state: without this, whichever
        # variant a checkpoint lands in pays for the WAL of the ones before it.
        conn.execute("CHECKPOINT")


def _count(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {TABLE}").fetchone()
    assert row is not None
    if row[0] != row[1]:
        raise MeasurementError(f"{row[0] - row[1]} duplicate ids in {TABLE}")
    return int(row[0])


class EtlCase:
    name = "etl"
    title = "Case study 2: CSV -> PostgreSQL (perflab etl load)"
    budget_s = 60.0
    variants = (
        *(Variant(i.name, "baseline" if n == 0 else "step", i.description)
          for n, i in enumerate(LADDER)),
        Variant("psql-copy", "reference", "psql \\copy ... (FORMAT csv): no validation"),
        Variant("raw-copy", "reference", "psycopg COPY of the file's bytes: no parsing at all"),
    )
    metrics = (
        Metric("total_s", "Total Time (whole file)", "s"),
        Metric("rows_per_s", "Throughput", "1/s", "higher"),
        Metric("per_row_us", "Per-record cost (µs)", "count"),
        Metric("read_s", "Read+validate time (worker sum)", "s"),
        Metric("load_s", "Load time (worker sum)", "s"),
        Metric("peak_rss_bytes", "Memory Peak", "B"),
    )
    categories: ClassVar = {
        "parse (csv)": ("_reader.py", "_csv", "codecs", "io.TextIOWrapper", "utf_8"),
        "validate": ("_types.py", "re.Pattern", "fromisoformat"),
        "send (libpq, COPY)": ("psycopg", "_copy", "socket", "select", "poll"),
        "transform and chunking": ("_loader.py",),
    }

    @contextlib.contextmanager
    def session(self, ctx: RunContext) -> Iterator[Mapping[str, str]]:
        import psycopg

        from perflab.services.postgres import private_cluster

        rows, sample_rows = ROWS[ctx.scale], SAMPLE_ROWS[ctx.scale]
        data = ctx.workdir / f"people-{rows}.csv"
        sample = ctx.workdir / f"people-{sample_rows}.csv"
        for path, count in ((data, rows), (sample, sample_rows)):
            if not path.exists():
                partial = path.with_suffix(".partial")
                generate(partial, count)
                partial.rename(path)
        with private_cluster("bench") as cluster:
            with psycopg.connect(cluster.dsn, autocommit=True) as conn:
                conn.execute(TABLE_DDL.format(table=TABLE))
            yield {"dsn": cluster.dsn, "data": str(data), "sample": str(sample),
                   "rows": str(rows), "sample_rows": str(sample_rows),
                   "psql": str(cluster.psql())}

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        p = ctx.params
        sampled = _sampled(variant, ctx.scale)
        path, rows = p["data"], int(p["rows"])
        if sampled:
            path, rows = p["sample"], int(p["sample_rows"])
        full_rows = int(p["rows"])
        read_s = load_s = float("nan")
        if variant == "psql-copy":
            _truncate(p["dsn"])
            if not Path(p["psql"]).exists():
                raise ToolUnavailable("psql is not available")
            command = f"\\copy {TABLE} FROM '{path}' WITH (FORMAT csv, HEADER true)"
            started = time.perf_counter()
            proc = subprocess.run([p["psql"], p["dsn"], "-q", "-c", command],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if proc.returncode != 0:
                raise MeasurementError(f"psql failed: {proc.stderr.strip()}")
        elif variant == "raw-copy":
            import psycopg

            _truncate(p["dsn"])
            started = time.perf_counter()
            with psycopg.connect(p["dsn"]) as conn, conn.cursor() as cur, cur.copy(
                f"COPY {TABLE} FROM STDIN (FORMAT csv, HEADER true)"
            ) as copy, open(path, "rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)
            seconds = time.perf_counter() - started
        else:
            _truncate(p["dsn"])  # the loader truncates too (timed), an empty table is quick
            cmd = [*perflab_command(), "etl", "load", path, "--table", TABLE, "--dsn", p["dsn"],
                   "--truncate", "--json", "--impl", variant, "--workers", str(WORKERS)]
            started = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if proc.returncode != 0:
                raise MeasurementError(f"etl load failed: {proc.stderr.strip()[-300:]}")
            summary = json.loads(proc.stdout)
            if summary["rows_loaded"] != rows or summary["rows_rejected"] != 0:
                raise MeasurementError(f"{variant} loaded {summary['rows_loaded']} of {rows}")
            read_s, load_s = summary["read_s"], summary["load_s"]
        loaded = _count(p["dsn"])
        if loaded != rows:
            raise MeasurementError(f"{variant}: {loaded} rows in the table, expected {rows}")
        rate = rows / seconds
        metrics = {"total_s": full_rows / rate, "rows_per_s": rate, "per_row_us": 1e6 / rate,
                   "sampled": float(sampled)}
        scale = full_rows / rows
        if read_s == read_s:  # not NaN: the loader reported its own split
            metrics |= {"read_s": read_s * scale, "load_s": load_s * scale}
        return metrics

    def profile(self, variant: str, ctx: RunContext) -> None:
        """One load in this process (one worker), for cProfile."""
        from perflab.cli import main

        p = ctx.params
        path = p["sample"] if _sampled(variant, ctx.scale) else p["data"]
        main(["etl", "load", path, "--table", TABLE, "--dsn", p["dsn"], "--truncate",
              "--json", "--impl", variant, "--workers", "1"])


CASE = EtlCase()
