"""`perflab profile CASE|--cmd CMD`: where the time goes, as the guide's tools show it.

For a case: the variant once in this process under cProfile (the functions
with the most own time, and the case's "time breakdown" by category), then a
fresh run of it sampled by py-spy, written as a flame graph SVG, a speedscope
JSON and the folded stacks. For `--cmd`, the command sampled by py-spy.

- `--base OLD` (an earlier profile's speedscope JSON or folded stacks):
  pprof -base, the functions whose share of the samples changed most, and a
  differential flame graph;
- `--syscalls`: one more fresh run under `strace -c -f`, its system calls
  counted ("not available" without strace); `--syscalls=all`: one for every
  variant of the ladder, a column each;
- `--trace-alloc`: one more fresh run with tracemalloc, its traced peak; and
  memray's allocation flame graph when memray is installed.

Each tool gets its own run: two tracers cannot share a process (ptrace), and
tracemalloc's cost would show in the samples.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perflab.commands._common import add_scale_option, cache_dir

# py-spy's own default: its cost stays small (see benchmarks/profile_overhead.py).
DEFAULT_RATE = 100


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", nargs="?", help="case name (or module:attribute)")
    parser.add_argument("--cmd", help="profile this command line instead of a case")
    parser.add_argument("--variant", help="variant to profile (default: the last step)")
    add_scale_option(parser)
    parser.add_argument("--top", type=int, default=15, help="functions to list (default: 15)")
    parser.add_argument("--out", type=Path, default=Path("perflab-profile"),
                        help="directory for the profile files (default: %(default)s)")
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE,
                        help="py-spy samples per second (default: %(default)s)")
    # On by default: most cases' work happens in a forked worker or a server process.
    parser.add_argument("--subprocesses", "-s", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="follow forked workers and subprocesses (default: on)")
    parser.add_argument("--base", type=Path, metavar="OLD",
                        help="an earlier profile (.speedscope.json or .folded) to diff against")
    parser.add_argument("--syscalls", nargs="?", const="variant", choices=("variant", "all"),
                        help="count system calls (strace -c -f) in one more run; =all: of "
                             "every variant of the case")
    parser.add_argument("--trace-alloc", action="store_true",
                        help="the tracemalloc peak of one more run (and memray's flame graph "
                             "when memray is installed)")


def _table(sections: list[Any], heading: str, headers: Sequence[str],
           rows: Sequence[Sequence[str]]) -> str:
    """The table as text for the terminal; kept for the page too."""
    from perflab.measure._format import Table

    table = Table(headers, rows)
    sections.append((heading, table))
    return "\n".join(table.lines())


def _worker_argv(ref: str, variant: str, ctx: Any, specs: Path, name: str,
                 trace_allocations: bool = False) -> list[str]:
    """The measured child's command line, its spec and result files in `specs`."""
    spec = specs / f"{name}-spec.json"
    spec.write_text(json.dumps({
        "case": ref, "variant": variant, "scale": ctx.scale, "workdir": str(ctx.workdir),
        "params": dict(ctx.params), "out": str(specs / f"{name}-result.json"),
        "trace_allocations": trace_allocations,
    }))
    return [sys.executable, "-m", "perflab.measure._worker", str(spec)]


def _breakdown(case: Any, variant: str, ctx: Any, top: int, sections: list[Any]) -> None:
    from perflab.measure._format import format_value
    from perflab.measure._profile import breakdown, profile_call, top_functions

    # A case that measures child processes profiles the same work in-process.
    target = getattr(case, "profile", case.run)
    stats = profile_call(target, variant, ctx)
    parts = breakdown(stats, case.categories)
    print(f"{case.name}/{variant}: {parts.total_s:.3f} s of profiled own time (cProfile)\n")
    rows = [[fn, format_value(own, "s"), format_value(cum, "s"), str(calls)]
            for fn, own, cum, calls in top_functions(stats, top)]
    print(_table(sections, "cProfile: the functions with the most own time",
                 ["Function", "Own", "Cumulative", "Calls"], rows), end="\n\n")
    total = parts.total_s or 1.0
    rows = [[name, format_value(sec, "s"), f"{sec / total * 100:.0f}%"]
            for name, sec in sorted(parts.by_category.items(), key=lambda kv: -kv[1])]
    print(_table(sections, "Time breakdown", ["Time breakdown", "Own time", "Share"], rows),
          end="\n\n")


def _sample(argv: list[str], title: str, args: argparse.Namespace, env: dict[str, str],
            sections: list[Any]) -> bool:
    from perflab.errors import ToolUnavailable
    from perflab.measure._profile import pyspy_record
    from perflab.measure._stacks import diff_shares, load_stacks, parse_folded, to_speedscope
    from perflab.report._flamegraph import flamegraph_svg

    # Read first: a bad base fails before the recording, and --out may hold the base.
    base = load_stacks(args.base) if args.base is not None else None
    folded = args.out / "profile.folded"
    try:
        error = pyspy_record(argv, folded, rate=args.rate, subprocesses=args.subprocesses,
                             env=env)
    except ToolUnavailable as exc:
        error = f"{exc} ({exc.hint})"
    if error is not None:
        print(f"flame graph: not available: {error}")
        sections.append(("Flame graph", f"not available: {error}"))
        return False
    stacks = parse_folded(folded.read_text(), str(folded))
    total = sum(stacks.values())
    svg, speedscope = args.out / "flamegraph.svg", args.out / "profile.speedscope.json"
    svg.write_text(flamegraph_svg(stacks, f"{title}: {total} samples at {args.rate} Hz"))
    speedscope.write_text(json.dumps(to_speedscope(stacks, title)))
    print(f"py-spy: {total} samples at {args.rate} Hz\n"
          f"flame graph: {svg}\nspeedscope:  {speedscope}  (open at https://www.speedscope.app)")
    sections.append((f"Flame graph (py-spy, {total} samples at {args.rate} Hz)", svg))
    if base is not None:
        rows = [[c.function, f"{c.old.self_share * 100:.1f}%", f"{c.new.self_share * 100:.1f}%",
                 f"{c.self_delta * 100:+.1f}", f"{c.old.total_share * 100:.1f}%",
                 f"{c.new.total_share * 100:.1f}%", f"{c.total_delta * 100:+.1f}"]
                for c in diff_shares(base, stacks, args.top)]
        print(f"\nagainst {args.base} ({sum(base.values())} samples), share of samples:")
        print(_table(sections, f"Against {args.base}: share of samples",
                     ["Function", "Self old", "new", "points", "Total old", "new", "points"],
                     rows))
        diff = args.out / "diff.svg"
        diff.write_text(flamegraph_svg(stacks, f"{title} against {args.base} "
                                       "(red: a larger share, blue: a smaller one)", base))
        print(f"differential flame graph: {diff}")
        sections.append(("Differential flame graph (red: a larger share, blue: a smaller one)",
                         diff))
    return True


def _syscalls(argv: list[str], out: Path, env: dict[str, str], sections: list[Any]) -> None:
    from perflab.errors import ToolUnavailable
    from perflab.measure._format import format_value
    from perflab.measure._profile import strace_count

    try:
        counts = strace_count(argv, out / "strace.txt", env)
    except ToolUnavailable as exc:
        print(f"\nsystem calls: not available ({exc}; {exc.hint})")
        sections.append(("System calls", f"not available ({exc}; {exc.hint})"))
        return
    total = sum(c.calls for c in counts) or 1
    rows = [[c.name, str(c.calls), f"{c.calls / total * 100:.1f}%", str(c.errors),
             format_value(c.seconds, "s")] for c in counts[:20]]
    rows.append(["total", str(sum(c.calls for c in counts)), "", "",
                 format_value(sum(c.seconds for c in counts), "s")])
    print(f"\nsystem calls (strace -c -f, the process and its children; {out / 'strace.txt'}):")
    print(_table(sections, "System calls (strace -c -f)",
                 ["Syscall", "Calls", "Share", "Errors", "Time in calls"], rows))


def _syscalls_per_variant(ref: str, names: Sequence[str], ctx: Any, out: Path, specs: Path,
                          env: dict[str, str], sections: list[Any]) -> None:
    from perflab.errors import ToolUnavailable
    from perflab.measure._profile import strace_count

    counts: dict[str, dict[str, int]] = {}
    try:
        for name in names:
            argv = _worker_argv(ref, name, ctx, specs, f"strace-{name}")
            found = strace_count(argv, out / f"strace-{name}.txt", env)
            counts[name] = {r.name: r.calls for r in found}
    except ToolUnavailable as exc:
        print(f"\nsystem calls: not available ({exc}; {exc.hint})")
        sections.append(("System calls per variant", f"not available ({exc}; {exc.hint})"))
        return
    calls = sorted({c for per in counts.values() for c in per},
                   key=lambda c: -max(per.get(c, 0) for per in counts.values()))
    rows = [[c, *(str(counts[n].get(c, 0)) for n in names)] for c in calls[:25]]
    rows.append(["total", *(str(sum(counts[n].values())) for n in names)])
    print("\nsystem calls per variant (strace -c -f, one fresh run each):")
    print(_table(sections, "System calls per variant (strace -c -f)", ["Syscall", *names],
                 rows))


def _allocations(ref: str, variant: str, ctx: Any, out: Path, specs: Path,
                 env: dict[str, str], sections: list[Any]) -> None:
    import shutil
    import subprocess

    from perflab.measure._format import format_value

    argv = _worker_argv(ref, variant, ctx, specs, "trace-alloc", trace_allocations=True)
    subprocess.run(argv, env=env, capture_output=True, check=False)
    result = json.loads((specs / "trace-alloc-result.json").read_text())
    peak = result.get("metrics", {}).get("traced_peak_bytes")
    text = format_value(peak, "B") if peak is not None else result.get("error", "n/a")
    print(f"\ntracemalloc peak of a fresh run: {text}")
    sections.append(("Allocations", f"tracemalloc peak of a fresh run: {text}"))
    memray = shutil.which("memray") or str(Path(sys.executable).with_name("memray"))
    if not Path(memray).exists():
        print("memray allocation flame graph: not available (pip install memray)")
        sections.append(("memray", "not available (pip install memray)"))
        return
    capture, page = out / "memray.bin", out / "memray-flamegraph.html"
    capture.unlink(missing_ok=True)
    argv = _worker_argv(ref, variant, ctx, specs, "memray")
    ran = subprocess.run([memray, "run", "--follow-fork", "-o", str(capture), *argv[1:]],
                         env=env, capture_output=True, text=True)
    made = ran.returncode == 0 and subprocess.run(
        [memray, "flamegraph", "-f", "-o", str(page), str(capture)], capture_output=True
    ).returncode == 0
    text = str(page) if made else "failed: " + ran.stderr[-200:]
    print(f"memray allocation flame graph: {text}")
    sections.append(("memray allocation flame graph", text))


def main(args: argparse.Namespace) -> int:
    from perflab.errors import UsageError
    from perflab.measure._runner import _child_env

    if (args.case is None) == (args.cmd is None):
        raise UsageError("give a case or --cmd, not both or neither")
    if args.rate < 1:
        raise UsageError("--rate must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    env = _child_env()
    if args.cmd is not None:
        if args.variant or args.trace_alloc:
            raise UsageError("--variant and --trace-alloc need a case, not --cmd")
        try:
            argv = shlex.split(args.cmd)
        except ValueError as exc:
            raise UsageError(f"--cmd: {exc}") from exc
        if not argv:
            raise UsageError("--cmd is empty")
        sections: list[Any] = []
        sampled = _sample(argv, args.cmd, args, env, sections)
        if args.syscalls:
            _syscalls(argv, args.out, env, sections)
        _page(args.out, args.cmd, sections)
        return 0 if sampled else 1
    return _profile_case(args, env)


def _page(out: Path, title: str, sections: list[Any]) -> None:
    from perflab.report._profile_page import write_profile_page

    write_profile_page(out / "index.html", f"perflab profile: {title}", sections)
    print(f"page: {out / 'index.html'}")


def _profile_case(args: argparse.Namespace, env: dict[str, str]) -> int:
    from perflab.cases import resolve
    from perflab.errors import UsageError
    from perflab.measure._case import RunContext
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
    with case.session(RunContext(args.scale, workdir)) as params, \
            tempfile.TemporaryDirectory(prefix="perflab-profile-") as tmp:
        specs = Path(tmp)
        ctx = RunContext(args.scale, workdir, dict(params))
        sections: list[Any] = []
        _breakdown(case, variant, ctx, args.top, sections)
        argv = _worker_argv(ref, variant, ctx, specs, "sample")
        sampled = _sample(argv, f"{case.name}/{variant}", args, env, sections)
        if args.syscalls == "all":
            _syscalls_per_variant(ref, names, ctx, args.out, specs, env, sections)
        elif args.syscalls:
            _syscalls(_worker_argv(ref, variant, ctx, specs, "strace"), args.out, env,
                      sections)
        if args.trace_alloc:
            _allocations(ref, variant, ctx, args.out, specs, env, sections)
    _page(args.out, f"{case.name}/{variant}", sections)
    return 0 if sampled else 1
