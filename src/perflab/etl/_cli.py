"""`perflab etl load` and `perflab etl gen-csv`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perflab.etl._load import LoadOptions

__all__ = ["check_inputs", "configure", "load_options", "main"]


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = sub.add_parser("load", help="load CSV files into a table, validated")
    load.add_argument("files", nargs="+", metavar="FILE",
                      help="CSV files (.gz and .zst are decompressed as a stream; - for stdin)")
    load.add_argument("--table", required=True, help="target table (schema.table allowed)")
    load.add_argument("--dsn", help="postgresql://... (default: a private cluster perflab starts)")
    load.add_argument("--workers", "-j", type=int, default=2,
                      help="worker processes for a file, connections for a .gz/.zst "
                           "(default: 2)")
    load.add_argument("--batch-rows", type=int, default=100_000,
                      help="rows per committed chunk (default: %(default)s)")
    load.add_argument("--rejects", type=Path, help="rejects CSV (default: FILE.csv.rejects.csv)")
    load.add_argument("--max-rejects", type=int, help="abort after more rejected rows than this")
    load.add_argument("--truncate", action="store_true", help="empty the table first")
    load.add_argument("--resume", action="store_true", help="continue an interrupted load")
    load.add_argument("--transform", metavar="MODULE:FUNCTION",
                      help="rewrite each row (a list of strings, None for NULL) before "
                           "validation")
    load.add_argument("--create-table", action="store_true",
                      help="create the table if it does not exist, with types inferred from "
                           "the header and a sample of rows (prints the DDL)")
    cols = load.add_argument_group("columns")
    cols.add_argument("--no-header", action="store_true",
                      help="the first line is data (columns: --columns, else the table's)")
    cols.add_argument("--columns", metavar="A,B,C",
                      help="the file's columns, by table column name (with --no-header, or "
                           "instead of the header's names)")
    cols.add_argument("--ignore-extra", action="store_true",
                      help="skip file columns that have no table column (rows are re-encoded)")
    dialect = load.add_argument_group("dialect (as COPY's CSV options)")
    dialect.add_argument("--delimiter", default=",", help="field delimiter (default: ,; "
                         "'\\t' for tab)")
    dialect.add_argument("--quote", default='"', help='quote character (default: ")')
    dialect.add_argument("--escape", default="",
                         help="escape character inside quotes (default: the quote, doubled)")
    dialect.add_argument("--null", default="", metavar="STRING",
                         help="unquoted text read as NULL (default: an empty field)")
    dialect.add_argument("--encoding", default="utf-8",
                         help="the file's encoding, converted to UTF-8 (default: utf-8)")
    upsert = load.add_argument_group("upsert")
    upsert.add_argument("--on-conflict", choices=("nothing", "update"),
                        help="rows whose key exists: skip them, or update them "
                             "(through a staging table)")
    upsert.add_argument("--conflict-columns", metavar="A,B",
                        help="the key for --on-conflict (default: the primary key)")
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


def _names(value: str | None) -> tuple[str, ...] | None:
    return tuple(n.strip() for n in value.split(",")) if value else None


def _char(value: str) -> str:
    return {"\\t": "\t", "tab": "\t"}.get(value, value)


def load_options(args: argparse.Namespace) -> list[LoadOptions]:
    """Every option and combination checked, one LoadOptions per FILE (pure: no I/O).

    Called before a private cluster is started, so a bad invocation costs nothing
    and starts nothing; the options are completed with the DSN once there is one.
    Only what needs the table's catalog or the journal is refused later, by `load`.
    """
    from perflab.errors import UsageError
    from perflab.etl._csv import Dialect, DialectError
    from perflab.etl._impl import DEFAULT, IMPLS
    from perflab.etl._load import LoadOptions

    impl = IMPLS.get(args.impl or DEFAULT)
    if impl is None:
        raise UsageError(f"unknown --impl {args.impl!r}", hint=f"one of: {', '.join(IMPLS)}")
    try:
        dialect = Dialect(delimiter=_char(args.delimiter), quote=args.quote,
                          escape=args.escape, null=args.null, encoding=args.encoding,
                          header=not args.no_header)
    except DialectError as exc:
        raise UsageError(str(exc)) from exc
    if len(args.files) > 1 and args.rejects:
        raise UsageError("--rejects names one file: with several inputs, each has its own "
                         "FILE.rejects.csv")
    if args.files.count("-") > 1:
        raise UsageError("standard input (-) can be read once")
    return [LoadOptions(
        path=file, table=args.table, dsn=args.dsn or "", impl=impl, workers=args.workers,
        batch_rows=args.batch_rows, rejects=args.rejects, max_rejects=args.max_rejects,
        truncate=args.truncate and i == 0, forget=args.truncate, resume=args.resume,
        transform=args.transform, progress=sys.stderr, dialect=dialect,
        columns=_names(args.columns), ignore_extra=args.ignore_extra,
        on_conflict=args.on_conflict, conflict_columns=_names(args.conflict_columns),
        create_table=args.create_table, ddl_out=sys.stderr,
    ) for i, file in enumerate(args.files)]


def check_inputs(args: argparse.Namespace) -> None:
    """The cheap checks that touch the file system: each FILE, --rejects, --transform."""
    from perflab.errors import UsageError
    from perflab.etl._loader import load_transform
    from perflab.etl._source import check_input

    for file in args.files:
        check_input(file)
    if args.rejects is not None:
        if args.rejects.is_dir():
            raise UsageError(f"--rejects {args.rejects} is a directory: name the file")
        if not args.rejects.parent.is_dir():
            raise UsageError(f"--rejects {args.rejects}: no such directory "
                             f"{args.rejects.parent}")
    load_transform(args.transform)  # imports the user's module: its error, now


def _load(args: argparse.Namespace, options: list[LoadOptions]) -> int:
    from perflab.etl._load import load

    for opts in options:
        summary = load(opts)
        if args.json:
            print(json.dumps(summary.as_json()), flush=True)
            continue
        s = summary
        where = f"{s.file}: " if len(args.files) > 1 else ""
        print(f"{where}{s.rows_read:,} rows read = {s.rows_loaded:,} loaded + "
              f"{s.rows_rejected:,} rejected"
              + (f" + {s.rows_skipped:,} skipped" if args.on_conflict else "")
              + f", in {s.seconds:.2f} s ({s.rows_read / max(s.seconds, 1e-9):,.0f} rows/s)")
        if args.on_conflict:
            print(f"{where}{s.rows_inserted:,} inserted, {s.rows_updated:,} updated, "
                  f"{s.rows_skipped:,} skipped")
        if s.rejects:
            print(f"{where}rejects: {s.rejects}")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.action == "gen-csv":
        return _gen(args)
    options = load_options(args)
    check_inputs(args)
    if args.dsn:
        return _load(args, options)
    import dataclasses

    from perflab.services.postgres import private_cluster

    with private_cluster(keep=args.keep_server) as cluster:
        found = "" if cluster.started else " (already running: left running)"
        print(f"PostgreSQL (private cluster): {cluster.dsn}{found}", file=sys.stderr)
        if args.keep_server or not cluster.started:  # only the server it started is stopped
            print(f"stop it with: {cluster.bin_dir / 'pg_ctl'} -D {cluster.datadir} stop",
                  file=sys.stderr)
        return _load(args, [dataclasses.replace(o, dsn=cluster.dsn) for o in options])
