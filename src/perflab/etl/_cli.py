"""`perflab etl load` and `perflab etl gen-csv`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["configure", "main"]


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = sub.add_parser("load", help="load a CSV file into a table, validated")
    load.add_argument("file", type=Path, metavar="FILE.csv")
    load.add_argument("--table", required=True, help="target table (schema.table allowed)")
    load.add_argument("--dsn", help="postgresql://... (default: a private cluster perflab starts)")
    load.add_argument("--workers", "-j", type=int, default=2, help="worker processes (default: 2)")
    load.add_argument("--batch-rows", type=int, default=100_000,
                      help="rows per committed chunk (default: %(default)s)")
    load.add_argument("--rejects", type=Path, help="rejects CSV (default: FILE.csv.rejects.csv)")
    load.add_argument("--max-rejects", type=int, help="abort after more rejected rows than this")
    load.add_argument("--truncate", action="store_true", help="empty the table first")
    load.add_argument("--resume", action="store_true", help="continue an interrupted load")
    load.add_argument("--transform", metavar="MODULE:FUNCTION",
                      help="rewrite each row (a list of strings) before validation")
    load.add_argument("--create-table", action="store_true",
                      help="create the table for `gen-csv` files if it does not exist")
    load.add_argument("--keep-server", action="store_true",
                      help="leave the private cluster running afterwards")
    load.add_argument("--json", action="store_true", help="print the summary as JSON")
    load.add_argument("--impl", default=None, help=argparse.SUPPRESS)  # a ladder step
    gen = sub.add_parser("gen-csv", help="write the deterministic benchmark CSV")
    gen.add_argument("out", type=Path, metavar="OUT.csv")
    gen.add_argument("--rows", type=int, required=True)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--bad-ratio", type=float, default=0.0,
                     help="share of malformed rows, one of each kind in turn (default: 0)")


def _gen(args: argparse.Namespace) -> int:
    from perflab.etl._gen import generate

    rows = generate(args.out, args.rows, seed=args.seed, bad_ratio=args.bad_ratio)
    print(f"{args.out}: {rows:,} rows, {args.out.stat().st_size:,} bytes", file=sys.stderr)
    return 0


def _load(args: argparse.Namespace, dsn: str) -> int:
    from perflab.errors import UsageError
    from perflab.etl._impl import DEFAULT, IMPLS
    from perflab.etl._load import LoadOptions, load

    impl = IMPLS.get(args.impl or DEFAULT)
    if impl is None:
        raise UsageError(f"unknown --impl {args.impl!r}", hint=f"one of: {', '.join(IMPLS)}")
    if args.create_table:
        import psycopg
        from psycopg import sql

        from perflab.etl._gen import TABLE_DDL

        with psycopg.connect(dsn) as conn:
            name = sql.Identifier(*args.table.split(".")).as_string(conn)
            conn.execute(TABLE_DDL.format(table=name))
    summary = load(LoadOptions(
        path=args.file, table=args.table, dsn=dsn, impl=impl, workers=args.workers,
        batch_rows=args.batch_rows, rejects=args.rejects, max_rejects=args.max_rejects,
        truncate=args.truncate, resume=args.resume, transform=args.transform,
        progress=sys.stderr,
    ))
    if args.json:
        print(json.dumps(summary.as_json()))
    else:
        s = summary
        print(f"{s.rows_read:,} rows read = {s.rows_loaded:,} loaded + {s.rows_rejected:,} "
              f"rejected, in {s.seconds:.2f} s ({s.rows_read / max(s.seconds, 1e-9):,.0f} rows/s)")
        if s.rejects:
            print(f"rejects: {s.rejects}")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.action == "gen-csv":
        return _gen(args)
    if args.dsn:
        return _load(args, args.dsn)
    from perflab.services.postgres import private_cluster

    with private_cluster(keep=args.keep_server) as cluster:
        print(f"PostgreSQL (private cluster): {cluster.dsn}", file=sys.stderr)
        if args.keep_server:
            print(f"stop it with: {cluster.bin_dir / 'pg_ctl'} -D {cluster.datadir} stop",
                  file=sys.stderr)
        return _load(args, cluster.dsn)
