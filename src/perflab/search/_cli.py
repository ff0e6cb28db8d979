"""`perflab search [OPTIONS] PATTERN [PATH ...]`: the command-line tool.

Output and exit status follow `grep -r -I`: `path:line` (or `path:n:line`
with -n), binary files skipped, 0 when something matched, 1 when nothing did,
2 when an error occurred (unreadable files are reported and the search goes on).
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["configure", "main"]


def configure(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("pattern", metavar="PATTERN", help="regular expression (Python re syntax), or text with -F")
    add("paths", metavar="PATH", nargs="*", help="files or directories (default: .)")
    add("-n", "--line-number", action="store_true", help="prefix each line with its number")
    add("-i", "--ignore-case", action="store_true", help="ignore ASCII case")
    add("-w", "--word-regexp", action="store_true", help="match whole words only")
    add("-F", "--fixed-strings", action="store_true", help="PATTERN is literal text")
    add("-l", "--files-with-matches", action="store_true", help="print only names of files")
    add("-c", "--count", action="store_true", help="print match counts per matching file")
    add("-g", "--glob", action="append", default=[], metavar="GLOB",
        help="search only files matching GLOB; '!GLOB' excludes (repeatable)")
    add("--hidden", action="store_true", help="search dot files and directories too")
    add("-L", "--follow", action="store_true", help="follow symbolic links")
    add("-j", "--threads", type=int, default=None, metavar="N",
        help="worker count (default: the CPUs available)")
    add("--json", action="store_true", help="one JSON object per match")
    add("--color", "--colour", choices=("auto", "never", "always"), default="auto",
        help="highlight matches (default: auto, when writing to a terminal)")
    add("--impl", default=None, help=argparse.SUPPRESS)  # a ladder step, for the harness


def _jobs(requested: int | None) -> int:
    if requested is not None:
        return max(1, requested)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(args: argparse.Namespace) -> int:
    from perflab.errors import UsageError
    from perflab.search._impl import DEFAULT, EAGER_MODULES, IMPLS

    impl = IMPLS.get(args.impl or DEFAULT)
    if impl is None:
        raise UsageError(f"unknown --impl {args.impl!r}", hint=f"one of: {', '.join(IMPLS)}")
    if not impl.lazy_imports:
        import importlib

        for name in EAGER_MODULES:  # the ladder's "before": everything up front
            importlib.import_module(name)

    from perflab.search._matcher import PatternSpec
    from perflab.search._output import Format
    from perflab.search._parallel import Job, run
    from perflab.search._walk import Filters

    roots = args.paths or [""]
    files: list[str] = []
    dirs: list[str] = []
    errors = 0
    for root in roots:
        try:
            is_dir = os.path.isdir(root or ".")
            os.stat(root or ".")
        except OSError as exc:
            print(f"perflab search: {root}: {exc.strerror}", file=sys.stderr)
            errors += 1
            continue
        (dirs if is_dir else files).append(root)

    mode = "files" if args.files_with_matches else "count" if args.count else (
        "json" if args.json else "lines")
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    job = Job(
        spec=PatternSpec(args.pattern, args.fixed_strings, args.ignore_case, args.word_regexp),
        impl=impl,
        filters=Filters.from_globs(args.glob, hidden=args.hidden, follow=args.follow),
        # Like grep: no file name when the only thing searched is one file.
        fmt=Format(mode, args.line_number, with_filename=bool(dirs) or len(roots) > 1,
                   color=color and mode != "json"),
        jobs=_jobs(args.threads),
    )
    out = sys.stdout.buffer
    matched = 0
    for chunk in run(job, files, dirs):
        if chunk.out:
            out.write(chunk.out)
        matched += chunk.matched_files
        for message in (*chunk.errors, *chunk.warnings):
            out.flush()  # keep stderr in step with what was printed before it
            print(f"perflab search: {message}", file=sys.stderr)
        errors += len(chunk.errors)
    out.flush()
    if errors:
        return 2
    return 0 if matched else 1
