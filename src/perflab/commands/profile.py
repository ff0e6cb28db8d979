"""`perflab profile CASE [--variant V]`: where one variant spends its time.

Runs the variant once in this process under cProfile, prints the functions
with the most own time and the case's category breakdown (the guide's "time
breakdown"). With py-spy installed, also records a flame graph SVG of a fresh
run of the same variant.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from perflab.commands._common import add_scale_option, cache_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", help="case name (or module:attribute)")
    parser.add_argument("--variant", help="variant to profile (default: the last step)")
    add_scale_option(parser)
    parser.add_argument("--top", type=int, default=15, help="functions to list (default: 15)")
    parser.add_argument("--flamegraph", type=Path, default=None,
                        help="write a py-spy flame graph SVG here (needs py-spy)")


def _flamegraph(ref: str, variant: str, ctx: object, out: Path) -> str:
    from perflab.measure._case import RunContext

    assert isinstance(ctx, RunContext)
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        return "flame graph skipped: py-spy is not installed (pip install py-spy)"
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp, "spec.json")
        spec.write_text(json.dumps({
            "case": ref, "variant": variant, "scale": ctx.scale, "workdir": str(ctx.workdir),
            "params": dict(ctx.params), "out": str(Path(tmp, "out.json")),
        }))
        cmd = [py_spy, "record", "--subprocesses", "-o", str(out), "--",
               sys.executable, "-m", "perflab.measure._worker", str(spec)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"flame graph failed: {proc.stderr.strip().splitlines()[-1:]}"
    return f"flame graph: {out}"


def main(args: argparse.Namespace) -> int:
    from perflab.cases import resolve
    from perflab.errors import UsageError
    from perflab.measure._case import RunContext
    from perflab.measure._format import Table, format_value
    from perflab.measure._profile import breakdown, profile_call, top_functions
    from perflab.measure._worker import load_case

    ref = resolve(args.case)
    case = load_case(ref)
    names = [v.name for v in case.variants if v.kind != "reference"]
    variant = args.variant or names[-1]
    if variant not in names:
        raise UsageError(f"case {case.name!r} has no variant {variant!r}",
                         hint=f"variants: {', '.join(names)}")
    workdir = (args.workdir or cache_dir() / "work") / case.name / args.scale
    workdir.mkdir(parents=True, exist_ok=True)
    base = RunContext(args.scale, workdir)
    with case.session(base) as params:
        ctx = RunContext(args.scale, workdir, dict(params))
        # A case that measures child processes profiles the same work in-process.
        target = getattr(case, "profile", case.run)
        stats = profile_call(target, variant, ctx)
        parts = breakdown(stats, case.categories)
        print(f"{case.name}/{variant}: {parts.total_s:.3f} s of profiled own time\n")
        rows = [[fn, format_value(own, "s"), format_value(cum, "s"), str(calls)]
                for fn, own, cum, calls in top_functions(stats, args.top)]
        print("\n".join(Table(["Function", "Own", "Cumulative", "Calls"], rows).lines()))
        print()
        total = parts.total_s or 1.0
        rows = [[name, format_value(sec, "s"), f"{sec / total * 100:.0f}%"]
                for name, sec in sorted(parts.by_category.items(), key=lambda kv: -kv[1])]
        print("\n".join(Table(["Time breakdown", "Own time", "Share"], rows).lines()))
        if args.flamegraph is not None:
            print(_flamegraph(ref, variant, ctx, args.flamegraph))
    return 0
