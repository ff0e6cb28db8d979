"""`perflab search [OPTIONS] PATTERN [PATH ...]`: the command-line tool.

grep's options with grep's output (GNU grep 3.x in the C locale, `grep -r`),
ripgrep's defaults for what to search (ignore files honoured, hidden files
skipped) and rg's extras (-t, -g, --json). Exit status as grep's: 0 when a
line was selected, 1 when none was, 2 when an error occurred (unreadable
files are reported and the search goes on), except that -q exits 0 at its
first selected line whatever happened before.
"""

from __future__ import annotations

import os
import stat
import sys

TYPE_CHECKING = False  # importing `typing` slows start-up (benchmarks/startup.py); mypy only
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

    from perflab.search._output import Format
    from perflab.search._parallel import Job
    from perflab.search._walk import Filters

__all__ = ["EXIT_UNFINALIZED", "OPTIONS", "Options", "configure", "main", "parse_fast"]

STDIN_LABEL = "(standard input)"
# Nothing is left for the interpreter's finalization to do after a search (see
# perflab.cli): the process ends without it.
EXIT_UNFINALIZED = True
SUPPRESS = "==SUPPRESS=="  # argparse.SUPPRESS, without importing argparse


def _include(glob: str) -> tuple[bool, str]:
    return True, glob


def _exclude(glob: str) -> tuple[bool, str]:
    return False, glob


# The options, as argparse's add_argument arguments: `configure` gives them to
# argparse (--help, error messages), and `parse_fast` reads the same table to
# parse a command line without importing argparse (start-up: benchmarks/startup.py).
OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("-e", "--regexp"), dict(action="append", default=[], metavar="PATTERN",
     help="a pattern (repeatable: a line is selected when any matches)")),
    (("-f", "--file"), dict(action="append", default=[], metavar="FILE",
     help="patterns from FILE, one a line")),
    (("-i", "--ignore-case"), dict(action="store_true",
     help="ignore case (Unicode case folding when the pattern is not ASCII)")),
    (("-w", "--word-regexp"), dict(action="store_true", help="match whole words only")),
    (("-x", "--line-regexp"), dict(action="store_true", help="match whole lines only")),
    (("-F", "--fixed-strings"), dict(action="store_true", help="patterns are literal text")),
    # Patterns are Python regular expressions, which are extended ones already.
    (("-E", "--extended-regexp"), dict(action="store_true",
     help="accepted: patterns are extended")),
    (("-v", "--invert-match"), dict(action="store_true",
     help="select the lines that do not match")),
    (("-n", "--line-number"), dict(action="store_true",
     help="prefix each line with its number")),
    (("-b", "--byte-offset"), dict(action="store_true",
     help="prefix each line (with -o, each match) with its byte offset in the file")),
    (("-o", "--only-matching"), dict(action="store_true",
     help="print only the matched parts")),
    # One dest: of -l and -L, the last given wins, as in grep.
    (("-l", "--files-with-matches"), dict(action="store_const", const="files", default=None,
     dest="list_files", help="print only the names of files with selected lines")),
    (("-L", "--files-without-match"), dict(action="store_const", const="files-without",
     dest="list_files", help="print only the names of files without selected lines")),
    (("-c", "--count"), dict(action="store_true",
     help="print a count of selected lines per file")),
    (("-q", "--quiet", "--silent"), dict(action="store_true",
     help="print nothing; exit 0 at the first selected line")),
    (("-s", "--no-messages"), dict(action="store_true",
     help="no messages about missing or unreadable files")),
    (("-m", "--max-count"), dict(type=int, default=None, metavar="N",
     help="stop reading a file after N selected lines")),
    (("-A", "--after-context"), dict(type=int, default=None, metavar="N",
     help="print N lines after each selected line")),
    (("-B", "--before-context"), dict(type=int, default=None, metavar="N",
     help="print N lines before each selected line")),
    (("-C", "--context"), dict(type=int, default=None, metavar="N", help="-A N and -B N")),
    (("-H", "--with-filename"), dict(action="store_true", default=None, dest="with_filename",
     help="print the file name for each line")),
    (("-h", "--no-filename"), dict(action="store_false", dest="with_filename",
     help="never print file names")),
    (("--label",), dict(default=STDIN_LABEL, metavar="LABEL",
     help="the name of standard input")),
    (("-Z", "--null"), dict(action="store_true", help="a NUL byte after each file name")),
    (("-z", "--null-data"), dict(action="store_true",
     help="lines end with NUL, not newline")),
    # grep's three spellings of one choice: the last given wins, as in grep.
    (("-a", "--text"), dict(action="store_const", dest="binary_files", const="text",
     default="binary", help="search binary files as text (--binary-files=text)")),
    (("-I",), dict(action="store_const", dest="binary_files", const="without-match",
     help="a binary file holds no match (--binary-files=without-match)")),
    (("--binary-files",), dict(choices=("binary", "text", "without-match"), metavar="TYPE",
     help="binary (a match is reported as 'binary file matches'), text, or without-match")),
    (("--line-buffered",), dict(action="store_true",
     help="accepted for grep's sake: output is written as each file, or each read of "
          "standard input, is searched")),
    (("-r", "--recursive"), dict(action="store_true",
     help="accepted for grep's sake (the search is recursive); with no PATH, search .")),
    (("-R", "--dereference-recursive"), dict(action="store_true",
     help="-r, following links")),
    # One list in command-line order: with both, grep lets the last that matches decide.
    (("--include",), dict(action="append", dest="name_globs", default=[], metavar="GLOB",
     type=_include, help="search only files whose base name matches GLOB")),
    (("--exclude",), dict(action="append", dest="name_globs", metavar="GLOB",
     type=_exclude, help="skip files whose base name matches GLOB")),
    (("--exclude-dir",), dict(action="append", default=[], metavar="GLOB",
     help="skip directories whose base name matches GLOB")),
    (("-t", "--type"), dict(action="append", default=[], metavar="TYPE",
     help="search only files of TYPE (see --type-list)")),
    (("-T", "--type-not"), dict(action="append", default=[], metavar="TYPE",
     help="skip files of TYPE")),
    (("--type-list",), dict(action="store_true",
     help="list the file types and their globs")),
    (("-g", "--glob"), dict(action="append", default=[], metavar="GLOB",
     help="search only files matching GLOB; '!GLOB' excludes (repeatable)")),
    (("--no-ignore",), dict(action="store_true",
     help="do not honour .gitignore, .ignore, .rgignore, .git/info/exclude")),
    (("-u", "--unrestricted"), dict(action="count", default=0,
     help="-u: --no-ignore; -uu: and --hidden; -uuu: the same (binary files are "
          "already searched)")),
    (("--hidden",), dict(action="store_true", help="search dot files and directories too")),
    # rg's -L is grep's -L (files without match) here: --follow and -R follow links.
    (("--follow",), dict(action="store_true", help="follow symbolic links")),
    (("-j", "--threads"), dict(type=int, default=None, metavar="N",
     help="worker count (default: the CPUs available)")),
    (("--json",), dict(action="store_true",
     help="JSON lines as rg's: begin, match, end, summary")),
    (("--color", "--colour"), dict(choices=("auto", "never", "always"), default="auto",
     help="highlight matches (default: auto, when writing to a terminal)")),
    (("--impl",), dict(default=None, help=SUPPRESS)),  # a ladder step, for the harness
)


def configure(parser: argparse.ArgumentParser) -> None:
    # -h is grep's --no-filename: --help keeps only its long name.
    for action in parser._actions:
        if "-h" in action.option_strings:
            action.option_strings = [o for o in action.option_strings if o != "-h"]
    parser._option_string_actions.pop("-h", None)
    parser.add_argument("pattern", metavar="PATTERN", nargs="?",
                        help="regular expression (Python re syntax), or text with -F")
    parser.add_argument(
        "paths", metavar="PATH", nargs="*",
        help="files or directories; '-' is standard input (default: standard input when it "
             "is a pipe or a file, else .)")
    import argparse

    for flags, options in OPTIONS:
        if options.get("help") == SUPPRESS:
            options = {**options, "help": argparse.SUPPRESS}  # argparse compares by identity
        parser.add_argument(*flags, **options)


class Options:
    """Parsed options: argparse.Namespace's role on the fast path, without argparse."""

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...


# (dest, action, type, choices, const) of an option string.
_Spec = tuple[str, str, "Callable[[str], Any] | None", "Sequence[str] | None", "Any"]


def _specs() -> tuple[dict[str, _Spec], dict[str, Any]]:
    specs: dict[str, _Spec] = {}
    defaults: dict[str, Any] = {"pattern": None, "paths": []}
    for flags, options in OPTIONS:
        long = next((f for f in flags if f.startswith("--")), flags[0])
        dest = options.get("dest", long.lstrip("-").replace("-", "_"))
        action = options.get("action", "store")
        default = options.get("default", {"store_true": False, "store_false": True}.get(action))
        defaults.setdefault(dest, default)  # argparse: the first option of a dest sets it
        for flag in flags:
            specs[flag] = (dest, action, options.get("type"), options.get("choices"),
                           options.get("const"))
    return specs, defaults


def parse_fast(argv: Sequence[str]) -> Options | None:
    """The command line as argparse would parse it, or None to let argparse do it.

    Handles what command lines are made of (short options clustered, `-C2`,
    `--opt=value`, `--`, options after the pattern, as grep takes them); anything
    else (`--help`, an abbreviated or unknown option, a bad value, a separate
    value that starts with `-`) returns None, and argparse parses, reports or
    helps as it always does. tests/unit/test_search_cli_parse.py holds the two
    to the same answers.
    """
    specs, defaults = _specs()
    values = {k: list(v) if isinstance(v, list) else v for k, v in defaults.items()}
    positional: list[str] = []
    i, n = 0, len(argv)
    while i < n:
        arg = argv[i]
        i += 1
        if arg == "--":
            if "--" in argv[i:]:
                return None  # argparse's handling of a second "--" is its own
            positional += argv[i:]
            break
        if len(arg) < 2 or arg[0] != "-":
            positional.append(arg)
            continue
        if " " in arg:
            return None  # argparse may take it for a positional
        if arg[1] == "-":
            flag, eq, value = arg.partition("=")
            spec = specs.get(flag)
            if spec is None:
                return None
            if spec[1] not in ("store", "append"):
                if eq:
                    return None
                _apply(values, spec, "")
                continue
            if not eq:
                if i >= n or (argv[i].startswith("-") and argv[i] != "-"):
                    return None  # argparse takes it for an option: its error, not a value
                value, i = argv[i], i + 1
            if not _apply(values, spec, value):
                return None
            continue
        j = 1
        while j < len(arg):  # a cluster of short options: -nC2, -inr, -e PATTERN
            spec = specs.get("-" + arg[j])
            if spec is None:
                return None
            j += 1
            if spec[1] not in ("store", "append"):
                _apply(values, spec, "")
                continue
            value = arg[j:]
            if not value:
                if i >= n or (argv[i].startswith("-") and argv[i] != "-"):
                    return None
                value, i = argv[i], i + 1
            if not _apply(values, spec, value):
                return None
            break
    values["pattern"] = positional[0] if positional else None
    values["paths"] = positional[1:]
    options = Options()
    options.__dict__.update(values)
    return options


def _apply(values: dict[str, Any], spec: _Spec, value: str) -> bool:
    dest, action, convert, choices, const = spec
    if action == "store_true":
        values[dest] = True
    elif action == "store_const":
        values[dest] = const
    elif action == "store_false":
        values[dest] = False
    elif action == "count":
        values[dest] += 1
    else:
        try:
            converted = convert(value) if convert is not None else value
        except ValueError:
            return False
        if choices is not None and converted not in choices:
            return False
        if action == "append":
            values[dest].append(converted)
        else:
            values[dest] = converted
    return True


def _jobs(requested: int | None) -> int:
    if requested is not None:
        return max(1, requested)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _patterns(args: argparse.Namespace | Options) -> tuple[list[str], list[str], list[str]]:
    """The patterns, where each came from, and the paths (the positional PATTERN is a
    path when -e/-f is given)."""
    from perflab.errors import InputError, UsageError

    paths = list(args.paths)
    if not (args.regexp or args.file):
        if args.pattern is None:
            raise UsageError("no PATTERN given", hint="perflab search PATTERN [PATH ...]")
        return [args.pattern], [""], paths
    if args.pattern is not None:
        paths.insert(0, args.pattern)
    patterns = list(args.regexp)
    origins = [""] * len(patterns)
    for name in args.file:
        try:
            with open(name, "rb") as f:
                text = os.fsdecode(f.read())
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), path=name) from exc
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()  # the newline ending the last pattern does not start another
        patterns += lines
        origins += [f"{name}:{number}" for number in range(1, len(lines) + 1)]
    return patterns, origins, paths


def _stdin_is_input() -> bool:
    """rg's rule: with no PATH, standard input is searched when it is a pipe or a file."""
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def _mode(args: argparse.Namespace | Options) -> str:
    if args.quiet:
        return "quiet"
    if args.list_files:
        return str(args.list_files)  # -l: "files", -L: "files-without"
    for flag, mode in (("count", "count"), ("json", "json"), ("only_matching", "only")):
        if getattr(args, flag):
            return mode
    return "lines"


def main(args: argparse.Namespace | Options) -> int:
    from perflab.errors import UsageError
    from perflab.search._impl import DEFAULT, EAGER_MODULES, IMPLS

    if args.type_list:
        from perflab.search._types import type_list

        sys.stdout.write(type_list())
        return 0
    impl = IMPLS.get(args.impl or DEFAULT)
    if impl is None:
        raise UsageError(f"unknown --impl {args.impl!r}", hint=f"one of: {', '.join(IMPLS)}")
    if not impl.lazy_imports:
        import importlib

        for name in EAGER_MODULES:  # the ladder's "before": everything up front
            importlib.import_module(name)

    from perflab.search._matcher import PatternSpec
    from perflab.search._parallel import Job

    patterns, origins, paths = _patterns(args)
    if args.max_count is not None and args.max_count <= 0:
        return 1  # grep -m 0: nothing is read, nothing selected
    roots, errors = _roots(args, paths)
    fmt = _format(args, len(paths) > 1 or any(kind == "dir" for kind, _ in roots))
    if impl.engine == "lines" and not _line_engine_can(fmt, args):
        raise UsageError(f"--impl {impl.name} supports -n, -l, -c, -i, -w, -F only",
                         hint="the default engine supports every option")
    filters = _filters(args)
    spec = PatternSpec(patterns, args.fixed_strings, args.ignore_case, args.word_regexp,
                       args.line_regexp, origins)
    roots = [(kind, path) for kind, path in roots
             if kind == "stdin" or filters.want_named(path, kind == "dir")]
    job = Job(spec, impl, filters, fmt, _jobs(args.threads))
    if any(kind == "stdin" for kind, _ in roots):
        from perflab.search._stdin import streams

        if len(roots) == 1 and streams(fmt):
            job.stdin_streamed = True  # searched as it comes, a window at a time
        else:
            job.stdin = sys.stdin.buffer.read()
    return _write(job, roots, errors, args.no_messages)


def _roots(
    args: argparse.Namespace | Options, paths: list[str]
) -> tuple[list[tuple[str, str]], int]:
    """What to search, in order, as ("file" | "dir" | "stdin", path); and the errors met."""
    if not paths:
        recursive = args.recursive or args.dereference_recursive
        paths = ["-"] if not recursive and _stdin_is_input() else [""]
    roots: list[tuple[str, str]] = []
    errors = 0
    for root in paths:
        if root == "-":
            roots.append(("stdin", args.label))
            continue
        try:
            kind = "dir" if stat.S_ISDIR(os.stat(root or ".").st_mode) else "file"
        except OSError as exc:
            if not args.no_messages:
                print(f"perflab search: {root}: {exc.strerror}", file=sys.stderr)
            errors += 1
            continue
        roots.append((kind, root))
    return roots, errors


def _format(args: argparse.Namespace | Options, several: bool) -> Format:
    from perflab.search._output import Format

    mode = _mode(args)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    before = args.before_context if args.before_context is not None else args.context
    after = args.after_context if args.after_context is not None else args.context
    # grep: no file name when the only thing searched is one file.
    with_filename = several if args.with_filename is None else args.with_filename
    return Format(
        mode, args.line_number, with_filename, color and mode not in ("json", "quiet"),
        invert=args.invert_match, before=before or 0, after=after or 0,
        context=(before is not None or after is not None) and mode in ("lines", "only"),
        max_count=args.max_count, null=args.null, null_data=args.null_data,
        binary_text=args.binary_files == "text", binary_skip=args.binary_files == "without-match",
        byte_offset=args.byte_offset,
    )


def _filters(args: argparse.Namespace | Options) -> Filters:
    from perflab.search._walk import Filters

    types = types_not = []
    if args.type or args.type_not:
        from perflab.search._types import globs_of

        types, types_not = globs_of(args.type), globs_of(args.type_not)
    unrestricted = args.unrestricted
    return Filters(
        args.hidden or unrestricted >= 2, args.follow or args.dereference_recursive,
        [g for g in args.glob if not g.startswith("!")],
        [g[1:] for g in args.glob if g.startswith("!")],
        name_globs=args.name_globs, exclude_dir=args.exclude_dir,
        types=types, types_not=types_not,
        ignore=not (args.no_ignore or unrestricted >= 1),
    )


def _line_engine_can(fmt: Format, args: argparse.Namespace | Options) -> bool:
    return fmt.mode in ("lines", "files", "count") and not (
        fmt.invert or fmt.context or fmt.color or fmt.max_count or fmt.null or fmt.null_data
        or fmt.byte_offset or fmt.binary_text or fmt.binary_skip
        or args.line_regexp or len(args.regexp) + len(args.file) > 1)


def _write(job: Job, roots: list[tuple[str, str]], errors: int, quiet_errors: bool) -> int:
    """Print the search's chunks as they come; the exit status."""
    import time

    from perflab.search._parallel import Sink, run

    started = time.perf_counter()
    sink = Sink(job.fmt, quiet_errors, sys.stdout.fileno())
    sys.stdout.flush()  # the sink writes to the descriptor itself
    run(job, roots, sink)
    if job.fmt.mode == "json":
        sys.stdout.buffer.write(_json_summary(sink.totals, time.perf_counter() - started))
    sys.stdout.flush()
    if sink.quiet and sink.totals[2]:
        return 0  # grep -q: the first selected line decides, errors or not
    if errors + sink.errors:
        return 2
    return 0 if sink.totals[2] else 1


def _json_summary(totals: list[int], elapsed: float) -> bytes:
    import json

    searched, matched, lines, matches = totals
    elapsed_total = {"secs": int(elapsed), "nanos": int(elapsed % 1 * 1e9),
                     "human": f"{elapsed:.6f}s"}
    return json.dumps({"type": "summary", "data": {"elapsed_total": elapsed_total, "stats": {
        "searches": searched, "searches_with_match": matched, "matched_lines": lines,
        "matches": matches}}}).encode() + b"\n"
