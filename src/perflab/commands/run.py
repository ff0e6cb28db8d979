"""`perflab run`: the main job. Every case's ladder, its tables, the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from perflab.commands._common import add_scale_option, cache_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--case", action="append", dest="cases", metavar="NAME",
                        help="run only this case (repeatable; also module:attribute)")
    add_scale_option(parser)
    parser.add_argument("--out", type=Path, default=Path("perflab-report"),
                        help="directory for results.json and index.html (default: %(default)s)")
    parser.add_argument("--repetitions", "-r", type=int, default=5,
                        help="measured repetitions per variant (default: %(default)s)")
    parser.add_argument("--warmups", type=int, default=1,
                        help="unmeasured rounds first (default: %(default)s)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds per case before stopping early (default: the case's)")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.add_argument("--trace-alloc", action="store_true",
                        help="record each run's tracemalloc peak (slows the runs several-fold)")


def main(args: argparse.Namespace) -> int:
    from perflab.cases import REGISTRY, resolve
    from perflab.commands._progress import ProgressPrinter
    from perflab.errors import PerflabError
    from perflab.measure import Results, RunOptions, run_case, save
    from perflab.measure._environment import collect_environment
    from perflab.measure._tables import (
        geomean_improvement,
        guide_table,
        ladder_metrics,
        ladder_table,
        references_table,
    )

    names = args.cases or list(REGISTRY)
    if not names:
        print("no case studies are registered yet: nothing to run", file=sys.stderr)
        return 0
    refs = [resolve(name) for name in names]
    options = RunOptions(
        workdir=args.workdir or cache_dir() / "work",
        scale=args.scale,
        repetitions=args.repetitions,
        warmups=args.warmups,
        budget_s=args.budget,
        trace_allocations=args.trace_alloc,
    )
    environment = collect_environment()
    results = []
    failures = []
    for ref in refs:
        progress = ProgressPrinter()
        try:
            case = run_case(ref, options, progress)
        except PerflabError as exc:
            progress.done()
            print(f"error: {exc}", file=sys.stderr)
            failures.append(ref)
            continue
        progress.done()
        results.append(case)
        print(f"\n{case.title} ({case.name}, {case.scale} scale)\n")
        ladders = [ladder_table(case, m) for m in ladder_metrics(case)]
        for table in (guide_table(case), *ladders, references_table(case)):
            if table is not None:
                print("\n".join(table.lines()), end="\n\n")
        for note in case.notes:
            print(f"note: {note}")

    overall = geomean_improvement(results)
    if overall is not None and len(results) > 1:
        print(f"geometric mean of baseline→final improvement across cases: {overall:.2f}x")
    out = Results(environment, results)
    save(out, args.out / "results.json")
    print(f"results: {args.out / 'results.json'}")
    if not args.no_report:
        from perflab.report import write_report

        write_report(out, args.out / "index.html")
        print(f"report:  {args.out / 'index.html'}")
    return 1 if failures else 0
