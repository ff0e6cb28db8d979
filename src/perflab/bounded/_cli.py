"""`perflab bounded serve`."""

from __future__ import annotations

import argparse
import sys

__all__ = ["configure", "main"]


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = sub.add_parser("serve", help="run the memory-bounded service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--memory-limit", default=None,
                       help="e.g. 256MiB (default: PERFLAB_MEMORY_LIMIT, else the cgroup's)")
    serve.add_argument("--cache-bytes", default="50MiB", help="cache bound (default: 50MiB)")
    serve.add_argument("--impl", default=None, help=argparse.SUPPRESS)  # a ladder step


def main(args: argparse.Namespace) -> int:
    from perflab.bounded._impl import DEFAULT, IMPLS
    from perflab.bounded._memory import memory_limit, parse_size
    from perflab.errors import UsageError
    from perflab.gateway._serve import serve

    impl = IMPLS.get(args.impl or DEFAULT)
    if impl is None:
        raise UsageError(f"unknown --impl {args.impl!r}", hint=f"one of: {', '.join(IMPLS)}")
    limit, source = memory_limit(args.memory_limit)  # validates the sizes before starting
    parse_size(args.cache_bytes)
    shown = f"{limit / 2**20:.0f} MiB from {source}" if limit else "none"
    print(f"bounded ({impl.name}) on http://{args.host}:{args.port}, memory limit {shown}",
          file=sys.stderr)
    env = {"PERFLAB_BOUNDED_IMPL": impl.name, "PERFLAB_BOUNDED_CACHE": args.cache_bytes}
    if limit:
        env["PERFLAB_BOUNDED_LIMIT"] = str(limit)
    serve("perflab.bounded._app:create_app", host=args.host, port=args.port, workers=1,
          server="granian", env=env)
    return 0
