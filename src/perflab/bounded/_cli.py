"""`perflab bounded serve` and `perflab bounded soak [-- CMD ARGS...]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

__all__ = ["configure", "main"]

BUILTIN_URLS = ("/items/{key}",)  # GETs over many distinct keys: the cache grows to its bound
BUILTIN_UPLOAD = "30MB"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = sub.add_parser("serve", help="run the memory-bounded service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--memory-limit", default=None,
                       help="e.g. 256MiB (default: PERFLAB_MEMORY_LIMIT, else the cgroup's)")
    serve.add_argument("--cache-bytes", default="50MiB", help="cache bound (default: 50MiB)")
    serve.add_argument("--trim-at", type=float, default=None,
                       help="fraction of the limit where memory is given back (default 0.8)")
    serve.add_argument("--shed-at", type=float, default=None,
                       help="fraction of the limit where requests get 503 (default 0.9)")
    serve.add_argument("--impl", default=None, help=argparse.SUPPRESS)  # a ladder step
    soak = sub.add_parser(
        "soak", help="run a service (default: the built-in one) under a hard memory limit",
        usage="perflab bounded soak [options] [-- CMD ARGS...]",
        description="CMD learns its port from a {port} in ARGS and from $PORT.")
    soak.add_argument("--variant", default=None,
                      help="built-in service only: a ladder step (default: the final one)")
    soak.add_argument("--memory-limit", default="256MiB")
    soak.add_argument("--limit-kind", default="auto",
                      choices=("auto", "cgroup-v2", "cgroup-v1", "rlimit"),
                      help="how the limit is enforced (default: the strongest available)")
    soak.add_argument("--duration", type=float, default=None,
                      help="seconds (default: 30 unless --requests is given)")
    soak.add_argument("--requests", type=int, default=None, help="stop after this many")
    soak.add_argument("--connections", type=int, default=16, help="concurrent GET clients")
    soak.add_argument("--url", action="append", default=None, metavar="PATH[@WEIGHT]",
                      help="a GET path, repeatable; {key} is a random id below --keys "
                           "(default: / for a command, /items/{key} for the built-in)")
    soak.add_argument("--keys", type=int, default=200_000, help="range of {key} (200000)")
    soak.add_argument("--upload-path", default="/ingest")
    soak.add_argument("--upload-size", default=None,
                      help="size of each JSON-array upload, e.g. 30MB (built-in: 30MB)")
    soak.add_argument("--uploaders", type=int, default=None,
                      help="concurrent uploads (default: 2 when there are uploads)")
    soak.add_argument("--upload-rate", type=float, default=0.0,
                      help="uploads per second in all (default: back to back)")
    soak.add_argument("--no-restart", action="store_true",
                      help="end the soak at the first death instead of restarting")
    soak.add_argument("--metrics-path", default="/metrics",
                      help="Prometheus text with *gc_pause_seconds_max/_total ('' for none)")
    soak.add_argument("--plot", default=None, metavar="FILE.svg",
                      help="write the memory-over-time chart")
    soak.add_argument("--log", default=None, metavar="FILE", help="the service's output")
    soak.add_argument("--json", action="store_true", help="print the summary as JSON")
    soak.add_argument("--keep", action="store_true",
                      help="keep the summary as results/<date>-<host>-<commit>-soak/ "
                           "(results.json for the docs' tables, soak.json whole)")
    soak.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _positive(name: str, value: float | None) -> None:
    from perflab.errors import UsageError

    if value is not None and value <= 0:
        raise UsageError(f"{name} must be positive, got {value:g}")


def _soak(args: argparse.Namespace) -> int:
    import json

    from perflab.bounded._impl import DEFAULT, IMPLS
    from perflab.bounded._load import LoadSpec, parse_url
    from perflab.bounded._memory import parse_size
    from perflab.bounded._soak import builtin_command, soak
    from perflab.errors import UsageError

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if command and args.variant:
        raise UsageError("--variant picks a step of the built-in service, not of a command")
    variant = args.variant or DEFAULT
    if variant not in IMPLS:
        raise UsageError(f"unknown --variant {variant!r}", hint=f"one of: {', '.join(IMPLS)}")
    for name in ("duration", "requests", "connections", "keys"):
        _positive(f"--{name}", getattr(args, name))
    if args.uploaders is not None and args.uploaders < 0:
        raise UsageError("--uploaders must be >= 0")
    limit = parse_size(args.memory_limit)
    urls = [parse_url(u) for u in (args.url or ([] if command else BUILTIN_URLS))] or [("/", 1)]
    upload = args.upload_size or (None if command else BUILTIN_UPLOAD)
    uploaders = 0 if upload is None else (2 if args.uploaders is None else args.uploaders)
    spec = LoadSpec(urls=urls, keys=args.keys, connections=args.connections,
                    upload_path=args.upload_path,
                    upload_bytes=parse_size(upload) if upload else 0, uploaders=uploaders,
                    upload_rate=args.upload_rate)
    duration = args.duration if args.duration is not None or args.requests else 30.0
    r = soak(command or builtin_command(variant), limit, spec, duration=duration,
             requests=args.requests, limit_kind=args.limit_kind, restart=not args.no_restart,
             metrics_path=args.metrics_path or None, log=Path(args.log) if args.log else None)
    if args.plot:
        from perflab.bounded._plot import memory_chart

        svg = memory_chart(r.memory_series, limit, _short(r.command), r.death_times)
        if svg:
            Path(args.plot).write_text(svg)
    if args.keep:
        print(f"kept: {keep_soak(r, sys.argv[1:])}", file=sys.stderr)
    if args.json:
        print(json.dumps(r.as_json()))
    else:
        print("\n".join(summary_lines(r)))
    return 1 if r.deaths or r.oom_kills else 0


Better = Literal["lower", "higher"]
SOAK_METRICS: tuple[tuple[str, str, str, Better], ...] = (  # the kept soak's values table
    ("requests", "Requests", "count", "higher"),
    ("seconds", "Wall time", "s", "lower"),
    ("req_per_s", "Requests/s", "1/s", "higher"),
    ("uploads_done", "Uploads done", "count", "higher"),
    ("oom_kills", "OOM kills", "count", "lower"),
    ("errors_5xx", "5xx (not 503)", "count", "lower"),
    ("shed", "Shed (503)", "count", "lower"),
    ("idle_bytes", "Idle memory", "B", "lower"),
    ("peak_bytes", "Peak memory", "B", "lower"),
    ("p50_s", "GET p50", "s", "lower"),
    ("p99_s", "GET p99", "s", "lower"),
)


def _short(command: list[str], width: int = 80) -> str:
    """The command's last words that fit in `width` characters: a chart's title."""
    words: list[str] = []
    for word in reversed(command):
        if words and len(" ".join([word, *words])) > width - 2:
            return "… " + " ".join(words)
        words.insert(0, word)
    return " ".join(words)


# Options that change what is written, not what is measured: left out of the kept
# description (with their values), which names the measurement.
OUTPUT_OPTIONS = {"--json": 0, "--keep": 0, "--plot": 1, "--log": 1}


def measured_argv(argv: list[str]) -> list[str]:
    out, skip = [], 0
    for i, arg in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if "--" in argv[:i]:  # the command's own arguments are kept whole
            out.append(arg)
            continue
        name = arg.split("=", 1)[0]
        if name in OUTPUT_OPTIONS:
            skip = 0 if "=" in arg else OUTPUT_OPTIONS[name]
            continue
        out.append(arg)
    return out


def keep_soak(r: Any, argv: list[str], root: Path | None = None) -> Path:
    """results/<date>-<host>-<commit>-soak/: results.json (one variant, one sample per
    figure: a `table=values` region shows it) and soak.json (the whole summary, with
    the memory series the chart is drawn from)."""
    import json

    from perflab.measure import Metric, keep_benchmark

    values = {**r.as_json(series=False), "req_per_s": r.requests / r.seconds if r.seconds
              else float("nan")}
    table = [Metric(n, label, unit, better) for n, label, unit, better in SOAK_METRICS]
    limit = f"{r.limit_bytes / 2**20:.0f} MiB ({r.limit_kind})"
    description = f"perflab {' '.join(measured_argv(argv))}, under {limit}"
    samples = {m.name: [float(values[m.name])] for m in table if values[m.name] is not None}
    path = keep_benchmark("soak", "perflab bounded soak", table,
                          {"soak": (description, samples)},
                          **({"root": root} if root is not None else {}))
    (path.parent / "soak.json").write_text(json.dumps(r.as_json()) + "\n")
    return path


def summary_lines(r: Any) -> list[str]:
    mib = 2**20

    def ms(s: float | None) -> str:
        return "n/a" if s is None or s != s else f"{s * 1e3:.1f} ms"

    kind = r.limit_kind if r.rlimit_factor is None else (
        f"rlimit: RLIMIT_AS at {r.rlimit_factor}x = {r.enforced_bytes / mib:.0f} MiB of "
        "address space, a weaker limit than a cgroup's")
    return [
        f"{' '.join(r.command)}",
        f"under {r.limit_bytes / mib:.0f} MiB ({kind}), {r.seconds:.1f} s: "
        f"{r.requests:,} requests, {r.served:,} served, {r.shed:,} shed, "
        f"{r.uploads_done} uploads",
        f"OOM kills {r.oom_kills}, deaths {r.deaths}, restarts {r.restarts}, "
        f"5xx {r.errors_5xx}, 4xx {r.errors_4xx}, client errors {r.client_errors}",
        f"idle {r.idle_bytes / mib:.0f} MiB, peak {r.peak_bytes / mib:.0f} MiB, "
        f"GC pause max {ms(r.gc_pause_max_s)}, p50 {ms(r.p50_s)}, p99 {ms(r.p99_s)}",
    ]


def main(args: argparse.Namespace) -> int:
    if args.action == "soak":
        return _soak(args)
    from perflab.bounded._impl import DEFAULT, IMPLS
    from perflab.bounded._memory import memory_limit, parse_size
    from perflab.errors import UsageError
    from perflab.services.asgi import serve

    impl = IMPLS.get(args.impl or DEFAULT)
    if impl is None:
        raise UsageError(f"unknown --impl {args.impl!r}", hint=f"one of: {', '.join(IMPLS)}")
    limit, source = memory_limit(args.memory_limit)  # validates the sizes before starting
    parse_size(args.cache_bytes)
    env = {"PERFLAB_BOUNDED_IMPL": impl.name, "PERFLAB_BOUNDED_CACHE": args.cache_bytes}
    for name in ("trim_at", "shed_at"):
        value = getattr(args, name)
        if value is not None:
            if not 0 < value <= 1:
                raise UsageError(f"--{name.replace('_', '-')} must be in (0, 1], got {value:g}")
            env[f"PERFLAB_BOUNDED_{name.upper()}"] = str(value)
    shown = f"{limit / 2**20:.0f} MiB from {source}" if limit else "none"
    print(f"bounded ({impl.name}) on http://{args.host}:{args.port}, memory limit {shown}",
          file=sys.stderr)
    if limit:
        env["PERFLAB_BOUNDED_LIMIT"] = str(limit)
    serve("perflab.bounded._app:create_app", host=args.host, port=args.port, workers=1,
          server="granian", env=env)
    return 0
