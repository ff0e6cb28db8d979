"""Case study 3 for the harness: the ladder of `perflab search`, with rg and grep beside it.

Every variant runs the real command (`perflab search --impl NAME`, the venv's
console script, no shim) as a child process, like a user would: start-up is
part of what is measured. Each repetition times

- start-up: the median of `STARTUP_RUNS` searches of an empty directory;
- a literal search and a regex search of the corpus (output written to a file:
  GNU grep stops at the first match when its output is /dev/null).

The corpus is a git checkout whose .gitignore excludes a fifth of it: perflab
and rg honour it by default; GNU grep, which reads no ignore files, is given
the same files with `--exclude-dir`. Like for like: all three search the same
files and must find exactly the planted lines there.

The page cache is warm: the harness's warm-up round reads the whole corpus.
Options beyond these two searches (-v, -o, -C 2, -e A -e B) are compared with
rg by benchmarks/search_peers.py, outside the ladder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

from perflab.errors import MeasurementError, ToolUnavailable
from perflab.measure import Metric, RunContext, Variant, ladder_variants
from perflab.search._corpus import (
    IGNORED_TOPS,
    LITERAL,
    REGEX,
    SCALES,
    ensure_checkout,
    ensure_corpus,
    searched_planted,
)
from perflab.search._impl import LADDER
from perflab.services import perflab_command

__all__ = ["CASE", "SearchCase"]

# Fewer runs than the searches get: the whole ladder must fit the case's minute at quick.
STARTUP_RUNS = 3


Command = tuple[list[str], dict[str, str]]


def _commands(variant: str, pattern: str, regex: bool, root: str) -> Command:
    """The command line of one search by one variant or reference tool."""
    env = dict(os.environ)
    if variant == "ripgrep":
        beside = Path(sys.executable).with_name("rg")  # the `ripgrep` wheel in this venv
        rg = str(beside) if beside.exists() else shutil.which("rg")
        if rg is None:
            raise ToolUnavailable("rg is not installed (apt install ripgrep)")
        flags = [] if regex else ["-F"]
        return [rg, "--no-config", "-n", *flags, pattern, root], env
    if variant == "gnu-grep":
        grep = shutil.which("grep")
        if grep is None:
            raise ToolUnavailable("GNU grep is not installed")
        env["LC_ALL"] = "C"  # bytes, as perflab search; a UTF-8 locale is slower and stricter
        # What .gitignore excludes, and the dot files perflab and rg skip by default.
        skip = [f"--exclude-dir={d}" for d in (*IGNORED_TOPS, ".git")] + ["--exclude=.*"]
        return [grep, "-r", "-n", "-I", *skip, "-E" if regex else "-F", pattern, root], env
    flags = [] if regex else ["-F"]
    return [*perflab_command(), "search", "--impl", variant, "-n", *flags, pattern, root], env


def _searched_files(root: Path) -> tuple[int, int]:
    """Files and bytes outside the ignored directories (and .git): the searched part."""
    files = size = 0
    for directory, dirs, names in os.walk(root):
        if directory == str(root):
            dirs[:] = [d for d in dirs if d not in IGNORED_TOPS and d != ".git"]
            names = [n for n in names if n != ".gitignore"]
        files += len(names)
        size += sum(os.stat(os.path.join(directory, n)).st_size for n in names)
    return files, size


def _timed(cmd: list[str], env: dict[str, str], out: Path) -> tuple[float, int]:
    with out.open("wb") as sink:
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=sink, stderr=subprocess.PIPE, env=env)
        elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise MeasurementError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.decode()[-300:]}")
    with out.open("rb") as f:
        lines = sum(1 for _ in f)
    return elapsed, lines


class SearchCase:
    name = "search"
    title = "Case study 3: CLI file search (perflab search)"
    # After the runner's minimum of rounds: the quick corpus is sized so that they fit.
    budget_s = 30.0
    variants = (
        *ladder_variants(LADDER),
        Variant("ripgrep", "reference", "rg -n, multi-threaded Rust"),
        Variant("gnu-grep", "reference", "LC_ALL=C grep -r -n -I"),
    )
    metrics = (
        Metric("total_s", "Total (startup+search, literal)", "s"),
        Metric("total_regex_s", "Total (regex)", "s"),
        Metric("startup_s", "Startup Time", "s", ladder=True),
        Metric("search_s", "Traversal Time (search)", "s"),
        Metric("files_per_s", "Files/s", "1/s", "higher"),
        Metric("mb_per_s", "MB/s", "1/s", "higher"),
    )
    categories: ClassVar = {
        "walk (listing, stat)": ("_walk.py", "posix.scandir", "posix.lstat", "posix.stat",
                                 "os.py", "is_file", "is_dir"),
        "read (open, read, decode)": ("posix.open", "posix.read", "posix.fstat", "posix.close",
                                      "_io", "codecs", "latin_1"),
        "match (regex, find)": ("re.Pattern", "_matcher.py", "re/__init__", "bytes.find",
                                "bytes.lower", "method 'search'", "'find'"),
        "split and format": ("str.split", "str.encode", "_output.py", "bytes.join"),
    }

    @contextlib.contextmanager
    def session(self, ctx: RunContext) -> Iterator[Mapping[str, str]]:
        corpus = ensure_corpus(ctx.workdir, SCALES[ctx.scale])
        ensure_checkout(corpus)
        literal_lines, regex_lines = searched_planted(corpus.files)
        files, size = _searched_files(Path(corpus.root))
        empty = ctx.workdir / "empty"
        empty.mkdir(exist_ok=True)
        # As an installed package would be: bytecode on disk, not compiled at every start.
        import compileall

        compileall.compile_dir(str(Path(__file__).resolve().parents[1]), quiet=1)
        yield {"corpus": corpus.root, "empty": str(empty), "files": str(files),
               "bytes": str(size), "literal_lines": str(literal_lines),
               "regex_lines": str(regex_lines)}

    def run(self, variant: str, ctx: RunContext) -> Mapping[str, float]:
        p = ctx.params
        out = ctx.workdir / f"out-{os.getpid()}.txt"
        try:
            startups = [_timed(*_commands(variant, "x", True, p["empty"]), out)[0]
                        for _ in range(STARTUP_RUNS)]
            total, literal_lines = _timed(*_commands(variant, LITERAL, False, p["corpus"]), out)
            total_regex, regex_lines = _timed(*_commands(variant, REGEX, True, p["corpus"]), out)
        finally:
            out.unlink(missing_ok=True)
        # Every tool must find exactly what was planted: a fast wrong answer is no result.
        expected = (int(p["literal_lines"]), int(p["regex_lines"]))
        if (literal_lines, regex_lines) != expected:
            raise MeasurementError(f"{variant} found {literal_lines}/{regex_lines} lines, "
                                   f"expected {expected[0]}/{expected[1]}")
        startup = statistics.median(startups)
        return {
            "startup_s": startup,
            "total_s": total,
            "total_regex_s": total_regex,
            "search_s": max(total - startup, 0.0),
            "files_per_s": int(p["files"]) / total,
            "mb_per_s": int(p["bytes"]) / 1e6 / total,
        }


    def profile(self, variant: str, ctx: RunContext) -> None:
        """The literal search in this process, one worker, output discarded (for cProfile)."""
        from perflab.cli import main

        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            main(["search", "--impl", variant, "-j", "1", "-n", LITERAL, ctx.params["corpus"]])


CASE = SearchCase()
