"""`perflab run`: the main job. Every case's ladder, its tables, the report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from perflab.commands._common import add_scale_option, cache_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--case", action="append", dest="cases", metavar="NAME",
                        help="run only this case (repeatable; also module:attribute)")
    add_scale_option(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for results.json, summary.md and index.html "
                             "(default: perflab-report/)")
    parser.add_argument("--keep", action="store_true",
                        help="write to results/<date>-<host>-<commit>/ instead: a kept run, "
                             "which `make docs` reads")
    parser.add_argument("--repetitions", "-r", type=int, default=5,
                        help="measured repetitions per variant (default: %(default)s)")
    parser.add_argument("--warmups", type=int, default=1,
                        help="unmeasured rounds first (default: %(default)s)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds per case before stopping early (default: the case's)")
    parser.add_argument("--no-adaptive", dest="adaptive", action="store_false", default=None,
                        help="run every repetition even when every verdict is settled "
                             "(default: adaptive stopping at quick scale, not at full)")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.add_argument("--trace-alloc", action="store_true",
                        help="record each run's tracemalloc peak (slows the runs several-fold)")


def main(args: argparse.Namespace) -> int:
    from perflab.cases import REGISTRY, resolve
    from perflab.commands._progress import ProgressPrinter, format_duration
    from perflab.errors import PerflabError
    from perflab.measure import Results, RunOptions, kept_dir_name, run_case, save
    from perflab.measure._environment import collect_environment
    from perflab.measure._tables import (
        geomean_improvement,
        guide_table,
        ladder_metrics,
        ladder_table,
        references_table,
        summary_table,
    )
    from perflab.measure._worker import load_case
    from perflab.report import results_markdown

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
        adaptive=args.adaptive,
        trace_allocations=args.trace_alloc,
    )
    started = time.monotonic()
    environment = collect_environment()
    out_dir = args.out or (Path("results") / kept_dir_name(environment) if args.keep
                           else Path("perflab-report"))
    expected = [_expected_s(load_case(ref), args.scale, Path(".")) for ref in refs]
    results = []
    failures = []
    for index, ref in enumerate(refs):
        progress = ProgressPrinter(case_index=index + 1, cases=len(refs),
                                   later_s=sum(expected[index + 1:]))
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
        if case.elapsed_s is not None:
            print(f"{case.name}: {case.elapsed_s:.0f} s")

    if len(results) > 1:
        print("\nSummary: each case's first metric, baseline against the final step\n")
        print("\n".join(summary_table(results).lines()), end="\n\n")
    overall = geomean_improvement(results)
    if overall is not None and len(results) > 1:
        print(f"geometric mean of baseline→final improvement across cases: {overall:.2f}x")
    elapsed = round(time.monotonic() - started, 1)
    print(f"whole run: {format_duration(elapsed)}")
    out = Results(environment, results, elapsed_s=elapsed)
    save(out, out_dir / "results.json")
    (out_dir / "summary.md").write_text(results_markdown(out), encoding="utf-8")
    print(f"results: {out_dir / 'results.json'} (summary: {out_dir / 'summary.md'})")
    if not args.no_report:
        from perflab.report import write_report

        write_report(out, out_dir / "index.html")
        print(f"report:  {out_dir / 'index.html'}")
    return 1 if failures else 0


def _expected_s(case: object, scale: str, root: Path) -> float:
    """What a case should take, for the progress estimate.

    Its time in the newest kept run at this scale, or else its budget.
    """
    from perflab.errors import ResultsFileError
    from perflab.measure._runner import FULL_BUDGET_FACTOR
    from perflab.report._regions import KeptResults

    name = str(getattr(case, "name", ""))
    kept = KeptResults(root)
    for directory in kept.directories():
        try:
            cases = kept.results(directory).cases
        except ResultsFileError:
            continue
        for c in cases:
            if c.name == name and c.scale == scale and c.elapsed_s is not None:
                return c.elapsed_s
    budget = float(getattr(case, "budget_s", 0.0))
    return budget * (FULL_BUDGET_FACTOR if scale == "full" else 1)
