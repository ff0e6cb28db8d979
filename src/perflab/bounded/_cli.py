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
    soak = sub.add_parser("soak", help="run the service under a hard memory limit and load it")
    soak.add_argument("--variant", default=None, help="ladder step (default: the final one)")
    soak.add_argument("--memory-limit", default="256MiB")
    soak.add_argument("--duration", type=float, default=30.0, help="seconds (default: 30)")
    soak.add_argument("--requests", type=int, default=None, help="stop after this many")
    soak.add_argument("--connections", type=int, default=16)
    soak.add_argument("--uploaders", type=int, default=2, help="concurrent ~30 MB uploads")
    soak.add_argument("--json", action="store_true")


def _soak(args: argparse.Namespace) -> int:
    import json

    from perflab.bounded._impl import DEFAULT, IMPLS
    from perflab.bounded._memory import parse_size
    from perflab.bounded._soak import soak
    from perflab.errors import UsageError

    variant = args.variant or DEFAULT
    if variant not in IMPLS:
        raise UsageError(f"unknown --variant {variant!r}", hint=f"one of: {', '.join(IMPLS)}")
    r = soak(variant, parse_size(args.memory_limit), duration=args.duration,
             max_requests=args.requests, connections=args.connections, uploaders=args.uploaders)
    if args.json:
        print(json.dumps(r.as_json()))
    else:
        mib = 2**20
        print(f"{r.variant} under {r.limit_bytes / mib:.0f} MiB ({r.confinement}), "
              f"{r.seconds:.0f} s: {r.requests:,} requests, {r.served:,} served, "
              f"{r.shed:,} shed, {r.uploads_done} uploads")
        print(f"OOM kills {r.oom_kills}, crashed {r.crashed}, 5xx {r.server_errors}, "
              f"client errors {r.client_errors}")
        print(f"idle RSS {r.idle_rss_bytes / mib:.0f} MiB, peak {r.peak_bytes / mib:.0f} MiB, "
              f"GC pause max {r.gc_pause_max_s * 1e3:.1f} ms, GET p99 {r.p99_s * 1e3:.1f} ms")
    return 1 if r.oom_kills or r.crashed else 0


def main(args: argparse.Namespace) -> int:
    if args.action == "soak":
        return _soak(args)
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
