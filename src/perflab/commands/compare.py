"""`perflab compare OLD NEW [--fail-on-regression 5%]`: benchstat for perflab results.

OLD and NEW are results files: `perflab.results/1` JSON (`perflab run`,
`perflab bench --export-json`) or `perflab bench --export-csv`. With
`--fail-on-regression`, the exit status is 1 when a metric got significantly
worse by more than the threshold, and each such metric is named on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_REGRESSION = 1


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", type=Path, help="results file measured before a change")
    parser.add_argument("new", type=Path, help="results file measured after it")
    parser.add_argument("--fail-on-regression", metavar="PCT",
                        help="exit 1 when a metric is significantly worse by more than PCT")
    parser.add_argument("--metric", action="append", default=[], metavar="NAME",
                        help="gate only this metric (repeatable; default: every metric whose "
                             "direction is known)")


def main(args: argparse.Namespace) -> int:
    from perflab.errors import UsageError
    from perflab.measure import compare_tables
    from perflab.measure._exports import load_any
    from perflab.measure._gate import parse_threshold, regressions

    if args.metric and args.fail_on_regression is None:
        raise UsageError("--metric needs --fail-on-regression")
    threshold = (parse_threshold(args.fail_on_regression)
                 if args.fail_on_regression is not None else None)
    old, new = load_any(args.old), load_any(args.new)
    for line in compare_tables(old, new):
        print(line)
    if threshold is None:
        return 0
    found = regressions(old, new, threshold, args.metric)
    sys.stdout.flush()
    for r in found:
        print(f"regression: {r.text()}", file=sys.stderr)
    if found:
        print(f"{len(found)} metric(s) worse by more than {threshold * 100:g}%", file=sys.stderr)
        return EXIT_REGRESSION
    print(f"no metric significantly worse by more than {threshold * 100:g}%")
    return 0
