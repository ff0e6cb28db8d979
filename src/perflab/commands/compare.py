"""`perflab compare OLD.json NEW.json`: benchstat for perflab results."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", type=Path, help="results.json measured before a change")
    parser.add_argument("new", type=Path, help="results.json measured after it")


def main(args: argparse.Namespace) -> int:
    from perflab.measure import compare_tables, load

    old, new = load(args.old), load(args.new)
    for line in compare_tables(old, new):
        print(line)
    return 0
