"""`perflab search` against rg and GNU grep on the case's git checkout, option by option.

    .venv/bin/python benchmarks/search_peers.py [--files 20000] [-n 5] [--only=NAME ...]
        [--workdir DIR]

`perflab run --case search` times the ladder on a small corpus (the whole ladder
must fit its minute); this times the finished tool beside its peers at any
size (default: 20,000 files, ~174 MB, a fifth of it excluded by .gitignore),
for the plain searches and for -v, -o, -C 2 and -e A -e B. Like for like: the
same pattern, options and files for each tool (grep gets --exclude-dir for what
.gitignore excludes), output written to a file, each tool's output line count
checked equal to perflab's, and dirty pages flushed (untimed) before each run.
Tools alternate within each round; the median of n rounds and the ratios to rg
are printed (and the median of each round's perflab/rg ratio, with its confidence
interval: drift between rounds cancels), for wall time and for CPU time (user +
system, the tool's processes and threads together: on a busy machine wall time
follows the CPU a tool needs more than how it spreads it over cores). Outside
the test suite on purpose: a timing is a benchmark, never an assertion. Also measures the
literal search's inner `find` (bytearray.find against glibc's memmem, `_find.py`)
and gitignore matching: import time and cost per call, this package's matcher
and pathspec's (when pathspec is installed: `uv pip install pathspec` into the
venv, not a dependency).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from perflab.commands._common import cache_dir
from perflab.measure import median_ci
from perflab.search._corpus import (
    GITIGNORE,
    IGNORED_TOPS,
    LITERAL,
    REGEX,
    ensure_checkout,
    ensure_corpus,
)

# name: (options common to all three tools, pattern options)
SEARCHES = {
    "literal": (["-n", "-F"], [LITERAL]),
    "regex": (["-n"], [REGEX]),
    "-v": (["-v"], [LITERAL]),
    "-o": (["-o", "-n"], [REGEX]),
    "-C 2": (["-n", "-C", "2"], [LITERAL]),
    "-e A -e B": (["-n"], ["-e", LITERAL, "-e", REGEX]),
}


def commands(root: str, options: list[str], patterns: list[str]) -> dict[str, tuple[list[str],
                                                                                  dict[str, str]]]:
    bin_dir = Path(sys.executable).parent
    rg = str(bin_dir / "rg") if (bin_dir / "rg").exists() else shutil.which("rg") or "rg"
    grep_env = {**os.environ, "LC_ALL": "C"}
    # What .gitignore excludes, and the dot files perflab and rg skip by default.
    skip = [f"--exclude-dir={d}" for d in (*IGNORED_TOPS, ".git")] + ["--exclude=.*"]
    grep_pattern = patterns if "-F" in options else ["-E", *patterns]
    return {
        "perflab": ([str(bin_dir / "perflab"), "search", *options, *patterns, root],
                    {**os.environ}),
        "rg": ([rg, "--no-config", *options, *patterns, root], {**os.environ}),
        "grep": (["grep", "-r", *skip, *options, *grep_pattern, root], grep_env),
    }


def timed(cmd: list[str], env: dict[str, str], out: Path) -> tuple[float, float, int]:
    """Wall time, CPU time (user + system of the tool and the processes it waited for)
    and output lines of one run."""
    # The previous run's output (454 MB with -v at 20,000 files) is still being written
    # back to disk: flush it first, untimed, or its writeback slows whichever run follows.
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with out.open("wb") as sink:
        started = time.perf_counter()
        subprocess.run(cmd, stdout=sink, stderr=subprocess.DEVNULL, env=env, check=False)
        elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    with out.open("rb") as f:
        return elapsed, cpu, sum(1 for _ in f)


def ignore_cost(paths: int = 20_000) -> None:
    """Import time and cost per file of gitignore matching: this package's and pathspec's.

    The walk asks about a directory's files at once (`Ignore.keep`, 100 a
    directory here), and about its subdirectories at once; pathspec is asked
    one path at a time. A walk does not enter an ignored directory, so files
    below one are never asked about.
    """
    import importlib

    started = time.perf_counter()
    ignore = importlib.import_module("perflab.search._ignore")
    own_import = (time.perf_counter() - started) * 1e3
    names = [f"pkg{i % 20:02d}/mod{i % 7}/part{i % 3:03d}/file{i}.py" for i in range(paths)]
    rules = ignore.parse_rules(GITIGNORE.splitlines())
    layer = ignore.Layer(rules, 0)
    listing = ignore.Ignore((layer,), git=True)
    directories: dict[str, list[str]] = {}
    for path in names:
        directory, _, name = path.rpartition("/")
        directories.setdefault(directory + "/", []).append(name)
    chunks = [(d, files[i:i + 100]) for d, files in directories.items()
              for i in range(0, len(files), 100)]
    started = time.perf_counter()
    for directory, files in chunks:
        listing.keep(directory, files)
    listed = (time.perf_counter() - started) / paths * 1e6
    started = time.perf_counter()
    for path in names:
        layer.verdict(path, False)
    ours = (time.perf_counter() - started) / paths * 1e6
    print(f"gitignore matching ({len(rules)} rules), own matcher: import {own_import:.1f} ms, "
          f"{listed:.2f} us a file listed, {ours:.2f} us/call one path at a time")
    try:
        started = time.perf_counter()
        import pathspec
    except ImportError:
        print("pathspec not installed: pip install pathspec to compare")
        return
    imported = (time.perf_counter() - started) * 1e3
    spec = pathspec.GitIgnoreSpec.from_lines(GITIGNORE.splitlines())
    started = time.perf_counter()
    for path in names:
        spec.match_file(path)
    theirs = (time.perf_counter() - started) / paths * 1e6
    print(f"pathspec {pathspec.__version__}: import {imported:.1f} ms, {theirs:.2f} us/call")


def _memmem_finder(buffer: bytearray) -> Callable[[bytes, int, int], int]:
    """glibc's memmem over the buffer, as `_find` had it before it took strstr."""
    import ctypes

    memmem = ctypes.CDLL(None).memmem
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    base = ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer))

    def find(literal: bytes, start: int, end: int) -> int:
        at = memmem(base + start, end - start, literal, len(literal))
        return -1 if at is None else at - base

    return find


def find_cost(root: str, rounds: int = 5) -> None:
    """The literal search's inner call over the corpus in batches, as the search
    makes it: `bytearray.find`, glibc's memmem and `_find.batch_finder` (strstr from
    the literal's rarest pair), best of n: for the case's literal, and for one absent
    (every byte searched)."""
    from perflab.search._files import BATCH_SIZE, BUFFER_SIZE
    from perflab.search._find import batch_finder

    room = BATCH_SIZE - BUFFER_SIZE  # a batch is searched once this much is read

    batch = bytearray(BATCH_SIZE)
    finders = {"bytearray.find": batch.find, "memmem": _memmem_finder(batch),
               "batch_finder": batch_finder(batch)}
    texts = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        texts += [Path(directory, f).read_bytes() for f in files if not f.startswith(".")]
    data = b"".join(texts)
    for needle in (LITERAL.encode(), LITERAL.encode()[:-1] + b"#"):  # found; absent
        best = {}
        for name, find in finders.items():
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                for at in range(0, len(data), room):
                    piece = data[at:at + room]
                    batch[:len(piece)] = piece
                    pos = 0
                    while (pos := find(needle, pos, len(piece))) >= 0:
                        pos += 1
                times.append(time.perf_counter() - started)
            best[name] = min(times)
        print(f"find {needle.decode()!r} over {len(data) / 1e6:.0f} MB (copies into the batch "
              "included): " + ", ".join(f"{name} {t * 1e3:.1f} ms" for name, t in best.items()))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("-n", type=int, default=5, help="rounds (default: 5)")
    parser.add_argument("--only", action="append", choices=list(SEARCHES))
    parser.add_argument("--workdir", type=Path, default=cache_dir() / "work" / "search" / "bench")
    opts = parser.parse_args()
    corpus = ensure_corpus(opts.workdir, opts.files)
    ensure_checkout(corpus)
    out = Path(corpus.root).parent / f"bench-out-{os.getpid()}.txt"
    print(f"{opts.files} files, {corpus.bytes / 1e6:.0f} MB; median of {opts.n} alternated "
          f"rounds (a shared machine: read ratios, not absolutes)")
    try:
        for name in opts.only or SEARCHES:
            options, patterns = SEARCHES[name]
            cmds = commands(corpus.root, options, patterns)
            times: dict[str, list[float]] = {tool: [] for tool in cmds}
            cpus: dict[str, list[float]] = {tool: [] for tool in cmds}
            lines: dict[str, int] = {}
            for tool, (cmd, env) in cmds.items():  # warm-up, and the line counts
                lines[tool] = timed(cmd, env, out)[2]
            for _ in range(opts.n):
                for tool, (cmd, env) in cmds.items():
                    wall, cpu, _ = timed(cmd, env, out)
                    times[tool].append(wall)
                    cpus[tool].append(cpu)
            med = {tool: statistics.median(ts) for tool, ts in times.items()}
            # Each round's perflab time over rg's in the same round: drift between rounds
            # (a busy neighbour, the page cache) cancels.
            paired = median_ci([p / r for p, r in zip(times["perflab"], times["rg"],
                                                       strict=True)])
            cpu_med = {tool: statistics.median(ts) for tool, ts in cpus.items()}
            same = "same lines" if len(set(lines.values())) == 1 else f"LINES DIFFER {lines}"
            print(f"{name:10} perflab {med['perflab']:.3f} s  rg {med['rg']:.3f} s  "
                  f"grep {med['grep']:.3f} s  perflab/rg {med['perflab'] / med['rg']:.2f}x  "
                  f"perflab/grep {med['perflab'] / med['grep']:.2f}x  ({same})")
            print(f"{'':10} paired perflab/rg {paired.median:.2f}x "
                  f"[{paired.ci_low:.2f}, {paired.ci_high:.2f}] ({paired.confidence:.0%} CI)")
            print(f"{'':10} cpu: perflab {cpu_med['perflab']:.3f} s  rg {cpu_med['rg']:.3f} s  "
                  f"grep {cpu_med['grep']:.3f} s  perflab/rg "
                  f"{cpu_med['perflab'] / cpu_med['rg']:.2f}x  perflab/grep "
                  f"{cpu_med['perflab'] / cpu_med['grep']:.2f}x")
    finally:
        out.unlink(missing_ok=True)
    ignore_cost()
    find_cost(corpus.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
