"""`perflab report`: a results file as Markdown or HTML, and the docs' generated regions.

    perflab report results/DIR/results.json --markdown     # summary.md on stdout
    perflab report results/DIR/results.json --html OUT     # the HTML report
    perflab report --docs [--check] [PAGE.md ...]          # `make docs`
    perflab report --verdicts QUICK.json FULL.json         # the same verdicts?
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, nargs="?", help="a results.json")
    parser.add_argument("--markdown", action="store_true",
                        help="print the results as Markdown (the kept summary.md)")
    parser.add_argument("--html", type=Path, metavar="OUT", help="write the HTML report to OUT")
    parser.add_argument("--docs", nargs="*", type=Path, metavar="PAGE",
                        help="regenerate the marked regions of these pages "
                             "(default: README.md and docs/*.md) from results/")
    parser.add_argument("--check", action="store_true",
                        help="with --docs: change nothing, fail if a region is stale")
    parser.add_argument("--verdicts", nargs=2, type=Path, metavar=("FIRST", "SECOND"),
                        help="every printed verdict of two results files side by side "
                             "(e.g. quick and full scale); exit 1 when one differs")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the directory holding results/ (default: the current one)")


def default_pages(root: Path) -> list[Path]:
    return [p for p in (root / "README.md", *sorted((root / "docs").glob("*.md"))) if p.exists()]


def _docs(args: argparse.Namespace) -> int:
    from perflab.report._regions import KeptResults, regenerate, stale_regions

    kept = KeptResults(args.root)
    pages = args.docs or default_pages(args.root)
    if args.check:
        stale = [line for page in pages for line in stale_regions(page, kept)]
        for line in stale:
            print(line, file=sys.stderr)
        return 1 if stale else 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        new = regenerate(text, page, kept)
        if new != text:
            page.write_text(new, encoding="utf-8")
            print(f"updated {page}")
    return 0


def main(args: argparse.Namespace) -> int:
    from perflab.errors import UsageError

    if args.docs is not None:
        return _docs(args)
    if args.verdicts:
        from perflab.measure import load
        from perflab.measure._tables import verdicts_table

        table = verdicts_table(load(args.verdicts[0]), load(args.verdicts[1]))
        print("\n".join(table.lines()))
        differ = sum(row[-1] != "same" for row in table.rows)
        print(f"{len(table.rows) - differ} of {len(table.rows)} verdicts the same")
        return 1 if differ else 0
    if args.results is None or not (args.markdown or args.html):
        raise UsageError("give a results.json and --markdown or --html OUT, or --docs")
    from perflab.measure import load

    results = load(args.results)
    if args.markdown:
        from perflab.report import results_markdown

        sys.stdout.write(results_markdown(results))
    if args.html:
        from perflab.report import write_report

        write_report(results, args.html)
        print(f"report: {args.html}", file=sys.stderr)
    return 0
