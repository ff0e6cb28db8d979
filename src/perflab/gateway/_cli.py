"""`perflab gateway serve | upstream | load`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["configure", "main"]


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, required=True, help="gateway.toml")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes (default: 1; on 2 cores shared with the upstream "
                            "a second one only takes CPU from it)")
    serve.add_argument("--impl", default=None, help=argparse.SUPPRESS)  # a ladder step
    up = sub.add_parser("upstream", help="run the deterministic JSON upstream service")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=9001)
    up.add_argument("--latency-ms", type=float, default=0.0)
    up.add_argument("--items", type=int, default=20)
    load = sub.add_parser("load", help="generate HTTP load and report latency percentiles")
    load.add_argument("url")
    load.add_argument("--rate", type=float, help="requests/s, open loop (default: closed loop)")
    load.add_argument("--duration", type=float, default=10.0, help="seconds (default: 10)")
    load.add_argument("--connections", "-c", type=int, default=64)
    load.add_argument("--header", "-H", action="append", default=[], metavar="NAME: VALUE")
    load.add_argument("--json", action="store_true")


def main(args: argparse.Namespace) -> int:
    from perflab.errors import UsageError

    if args.action == "serve":
        from perflab.gateway._config import load_config
        from perflab.gateway._impl import DEFAULT, IMPLS
        from perflab.gateway._serve import serve_gateway

        impl = IMPLS.get(args.impl or DEFAULT)
        if impl is None:
            raise UsageError(f"unknown --impl {args.impl!r}", hint=f"one of: {', '.join(IMPLS)}")
        load_config(args.config)  # validate here: one clear error before any worker starts
        print(f"gateway ({impl.name}) on http://{args.host}:{args.port}", file=sys.stderr)
        serve_gateway(impl.server, str(args.config.resolve()), impl.name, host=args.host,
              port=args.port, workers=args.workers)
        return 0
    if args.action == "upstream":
        from perflab.gateway._serve import serve_upstream

        print(f"upstream on http://{args.host}:{args.port}", file=sys.stderr)
        serve_upstream(args.host, args.port, args.items, args.latency_ms)
        return 0
    from perflab.gateway._loadgen import run_load

    headers = {}
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep:
            raise UsageError(f"--header {header!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    result = run_load(args.url, connections=args.connections, duration=args.duration,
                      rate=args.rate, headers=headers)
    if args.json:
        print(json.dumps(result.as_json()))
        return 0
    lat = result.latency
    print(f"{result.requests:,} requests in {result.seconds:.2f} s: {result.rate:,.0f} req/s, "
          f"{result.errors} errors, statuses {dict(sorted(result.statuses.items()))}")
    names = {k: k.removeprefix("latency_").removesuffix("_s").replace("_", ".") for k in lat}
    print("latency " + "  ".join(f"{names[k]}={v * 1e3:.2f}ms" for k, v in lat.items()))
    return 0
