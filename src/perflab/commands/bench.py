"""`perflab bench CMD [CMD ...]`: hyperfine's job, with benchstat's verdicts.

The first command is the baseline; every other one is compared with it
(median, the CI of the median, Mann-Whitney U, `~` when not significant).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("commands", nargs="+", metavar="CMD",
                        help="commands to time; the first is the baseline")
    parser.add_argument("--runs", "-r", type=int, default=None,
                        help="measured runs per command (default: until --budget is spent)")
    parser.add_argument("--warmup", "-w", type=int, default=1,
                        help="unmeasured runs per command first (default: %(default)s)")
    parser.add_argument("--budget", type=float, default=3.0,
                        help="seconds per command when --runs is not given (default: %(default)s)")
    parser.add_argument("--min-runs", type=int, default=10,
                        help="runs before the budget may stop (default: %(default)s)")
    parser.add_argument("--max-runs", type=int, default=1000,
                        help="runs at most when --runs is not given (default: %(default)s)")
    parser.add_argument("--prepare", "-p", action="append", default=[], metavar="CMD",
                        help="run before every run (not timed); once, or once per command")
    parser.add_argument("--setup", "-s", metavar="CMD",
                        help="run once before a command's runs")
    parser.add_argument("--cleanup", "-c", metavar="CMD", help="run once after a command's runs")
    parser.add_argument("--parameter-scan", "-P", nargs=3, metavar=("NAME", "LO", "HI"),
                        help="one benchmark per value LO..HI, substituted for {NAME}")
    parser.add_argument("--parameter-step-size", "-D", metavar="STEP",
                        help="the scan's step (default: 1)")
    parser.add_argument("--parameter-list", "-L", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUES"),
                        help="one benchmark per comma-separated value "
                             "(repeatable: every combination)")
    parser.add_argument("--command-name", "-n", action="append", default=[], metavar="NAME",
                        help="a name per command for the tables ({NAME} substituted too)")
    parser.add_argument("--shell", "-S", choices=("auto", "sh", "none"), default="auto",
                        help="auto: sh -c only for commands with shell syntax (default)")
    parser.add_argument("--ignore-failure", "-i", action="store_true",
                        help="measure commands that exit non-zero instead of stopping")
    parser.add_argument("--show-output", action="store_true",
                        help="let the commands write to the terminal (default: /dev/null)")
    parser.add_argument("--instability-threshold", type=float, default=10.0, metavar="PCT",
                        help="warn when the standard deviation exceeds this %% of the mean "
                             "(default: %(default)s)")
    parser.add_argument("--export-json", type=Path, metavar="FILE",
                        help="perflab.results/1: for perflab compare and the report")
    parser.add_argument("--export-csv", type=Path, metavar="FILE",
                        help="one row per run (perflab compare reads it too)")
    parser.add_argument("--export-markdown", type=Path, metavar="FILE",
                        help="the comparison table as Markdown")
    parser.add_argument("--export-html", type=Path, metavar="FILE",
                        help="the HTML report of this run")


def _parameters(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    from perflab.errors import UsageError
    from perflab.measure._bench import scan_values

    params: list[tuple[str, list[str]]] = []
    if args.parameter_scan:
        name, lo, hi = args.parameter_scan
        params.append((name, scan_values(lo, hi, args.parameter_step_size)))
    elif args.parameter_step_size:
        raise UsageError("--parameter-step-size needs --parameter-scan")
    for name, values in args.parameter_list:
        items = values.split(",")
        if not all(items):
            raise UsageError(f"--parameter-list {name}: an empty value in {values!r}")
        params.append((name, items))
    return params


def main(args: argparse.Namespace) -> int:
    from perflab.measure import Results, save
    from perflab.measure._bench import (
        BenchOptions,
        bench_table,
        expand,
        instability,
        rss_floor_bytes,
        rss_notes,
        run_bench,
        to_case,
    )
    from perflab.measure._environment import collect_environment
    from perflab.measure._exports import markdown_table, to_csv

    benchmarks = expand(args.commands, _parameters(args), names=args.command_name,
                        prepare=args.prepare, setup=args.setup, cleanup=args.cleanup)
    options = BenchOptions(runs=args.runs, warmups=args.warmup, budget_s=args.budget,
                           min_runs=args.min_runs, max_runs=args.max_runs, shell=args.shell,
                           ignore_failure=args.ignore_failure, show_output=args.show_output)
    live = sys.stderr.isatty()

    def progress(text: str) -> None:
        if live:
            sys.stderr.write(f"\r\033[Kperflab bench: {text}")
            sys.stderr.flush()

    samples = run_bench(benchmarks, options, progress)
    if live:
        sys.stderr.write("\r\033[K")
    warnings = [w for b in benchmarks for w in instability(
        b.name, [s.wall_s for s in samples[b.name]], args.instability_threshold / 100)]
    case = to_case(benchmarks, samples)
    # Notes, not warnings: nothing was unstable, a figure is only a bound.
    case = replace(case, notes=(*warnings, *rss_notes(case, rss_floor_bytes())))
    print("\n".join(bench_table(case).lines()))
    for note in case.notes:
        print(f"{'warning' if note in warnings else 'note'}: {note}")
    results = Results(collect_environment(), [case])
    if args.export_json:
        save(results, args.export_json)
    if args.export_csv:
        args.export_csv.write_text(to_csv([case]), encoding="utf-8")
    if args.export_markdown:
        lines = markdown_table(bench_table(case))
        args.export_markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.export_html:
        from perflab.report import write_report

        write_report(results, args.export_html)
    return 0
