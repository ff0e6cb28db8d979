"""Running a search: sequentially, in threads, or in processes.

Parallel runs split the work in the parent: roots are expanded breadth-first
until there are enough pieces (`TASKS_PER_WORKER` per worker) for the workers
to balance; each piece is a batch of files or a whole subtree a worker walks
itself, so no per-file message crosses a process boundary. Workers (threads,
or processes forked by `_fork.fork_ordered`) search and format; results are
written in task order (forked workers write their own, in turn), so output is
deterministic.
"""

from __future__ import annotations

import os

from perflab.search._files import BufferedEngine, search_lines
from perflab.search._impl import Impl
from perflab.search._matcher import (
    PatternSpec,
    compile_bytes,
    compile_text,
    is_plain,
    required_literals,
)
from perflab.search._output import Format, Result, format_matches
from perflab.search._walk import (
    Filters,
    child_path,
    list_dir,
    root_ignore,
    walk_dirs,
    walk_scandir,
    walk_stat,
)

TYPE_CHECKING = False  # importing `typing` slows start-up (benchmarks/startup.py); mypy only
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from perflab.search._ignore import Ignore
    from perflab.search._matcher import BytesPattern

    # (kind, directory, names, ignore rules in force there):
    # ("files", directory, names, _): those files of one directory; ("dir", top, (), rules):
    # a subtree; ("paths", "", paths, None): files named on the command line;
    # ("stdin", label, (), None): standard input, read by the parent before any work.
    Task = tuple[str, str, Sequence[str], Ignore | None]

__all__ = ["Chunk", "Job", "Searcher", "Sink", "plan_tasks", "run"]

# Pieces of work a search is split into, whatever -j is (so the output order is
# the same for any -j): 16 per worker at -j 4, enough that one large subtree does
# not leave the other workers idle.
PLANNED_TASKS = 64
# Files of one directory per task: bounds a task's result and keeps workers fed.
FILES_PER_TASK = 256
# Buffers one os.writev may take (IOV_MAX on Linux and macOS; more fails with EINVAL).
IOV_MAX = 1024

# What the command line named, in order: ("file" | "dir" | "stdin", path or label).
Root = tuple[str, str]


class Job:
    __slots__ = ("filters", "fmt", "impl", "jobs", "spec", "stdin", "stdin_streamed")

    def __init__(
        self, spec: PatternSpec, impl: Impl, filters: Filters, fmt: Format, jobs: int = 1
    ) -> None:
        self.spec = spec
        self.impl = impl
        self.filters = filters
        self.fmt = fmt
        self.jobs = jobs
        self.stdin = b""  # standard input's contents, when a root is "stdin"
        # Standard input is the only root and is searched as it comes (_stdin.py)
        self.stdin_streamed = False


class Chunk:
    """A piece of output, in order, with the counts and errors met while making it."""

    __slots__ = ("errors", "matched_files", "matches", "parts", "searched", "selected",
                 "size", "warnings")

    def __init__(self, out: bytes = b"", errors: list[str] | None = None) -> None:
        # Output pieces, written with one os.writev (`Sink.emit`): `+=` on bytes would
        # copy the chunk's output so far for every file (quadratic with -v, where every
        # file prints), and even one join copies all of -v's output once more.
        self.parts = [out] if out else []
        self.size = len(out)
        self.searched = 0  # files searched (for --json's summary)
        self.matched_files = 0  # files with at least one selected line
        self.selected = 0  # selected lines
        self.matches = 0  # submatches (--json only)
        self.errors = errors if errors is not None else []
        self.warnings: list[str] = []  # reported, but not a failure (loops, binary matches)

    def write(self, data: bytes) -> None:
        if data:
            self.parts.append(data)
            self.size += len(data)

    @property
    def out(self) -> bytes:
        if len(self.parts) > 1:
            self.parts = [b"".join(self.parts)]
        return self.parts[0] if self.parts else b""

    def add(self, path: str, result: Result) -> None:
        self.searched += 1
        if result.selected:
            self.matched_files += 1
            self.selected += result.selected
            self.matches += result.matches
        if result.binary:
            self.warnings.append(f"{path}: binary file matches")


class Searcher:
    """Per-process state: the compiled pattern and the chosen engine."""

    def __init__(self, job: Job) -> None:
        self.job = job
        spec, impl, fmt = job.spec, job.impl, job.fmt
        self.done = False  # -q: one selected line ends the whole search
        self.walk = walk_scandir if impl.walker == "scandir" else walk_stat
        self.engine: BufferedEngine | None = None
        self.search_text: Callable[[str], list[tuple[int, bytes]] | None] | None = None
        # A bad pattern fails here, before any work. A plain literal cannot be bad: it is
        # compiled when a file first holds it, so a search that finds nothing (or nothing
        # to search) never imports `re` (start-up: benchmarks/startup.py).
        regex: BytesPattern | Callable[[], BytesPattern] = (
            (lambda: compile_bytes(spec)) if is_plain(spec) else compile_bytes(spec))
        if impl.engine == "buffer":
            self.engine = BufferedEngine(regex, required_literals(spec), spec.ignore_case, fmt,
                                         fmt.color)
        else:
            text = compile_text(spec) if impl.compile_once else (spec.source(), spec.flags())
            limit = 1 if fmt.mode == "files" else None
            self.search_text = lambda path: search_lines(path, text, limit)
        # Standard input goes through the buffer engine whatever the ladder step.
        self.stdin_engine = self.engine or BufferedEngine(
            regex, required_literals(spec), spec.ignore_case, fmt, fmt.color)

    def prepare(self) -> None:
        """Compile the pattern now: before forking, so that workers do not each compile it."""
        if self.engine is not None:
            self.engine.regex  # noqa: B018  # the property compiles it

    def _add(self, chunk: Chunk, path: str, result: Result) -> None:
        chunk.add(path, result)
        chunk.write(result.out)
        if result.selected and self.job.fmt.mode == "quiet":
            self.done = True

    def search_paths(self, paths: Iterator[str] | Sequence[str], chunk: Chunk) -> Chunk:
        for path in paths:
            if self.done:
                break
            try:
                if self.engine is not None:
                    result = self.engine(path)
                else:
                    assert self.search_text is not None
                    matches = self.search_text(path)
                    out = format_matches(path, matches or [], self.job.fmt)
                    result = Result(out, len(matches or []))
            except OSError as exc:
                chunk.errors.append(f"{path}: {exc.strerror or exc}")
                continue
            self._add(chunk, path, result)
        return chunk

    def search_names(self, directory: str, names: Sequence[str], chunk: Chunk) -> Chunk:
        engine = self.engine
        if not (self.job.impl.openat and engine is not None):
            return self.search_paths([child_path(directory, n) for n in names], chunk)
        failed = len(chunk.errors)
        searched = len(names)
        for name, result in engine.search_dir(directory, names, chunk.errors):
            chunk.add(child_path(directory, name) if result.binary else name, result)
            searched -= 1  # counted by add
            chunk.write(result.out)
            if result.selected and self.job.fmt.mode == "quiet":
                self.done = True
                searched = 0  # the rest was not searched
                break
        chunk.searched += max(searched - (len(chunk.errors) - failed), 0)
        return chunk

    def search_stdin(self, label: str, chunk: Chunk) -> Chunk:
        data = self.job.stdin
        self._add(chunk, label, self.stdin_engine.scan(label, data, len(data)))
        return chunk

    def stream_stdin(self, label: str) -> Iterator[Chunk]:
        """Standard input as it comes, a chunk a window (see _stdin.py)."""
        from perflab.search._stdin import search_windows

        matched = False
        for n, result in enumerate(search_windows(self.stdin_engine, label, self.job.fmt)):
            chunk = Chunk(result.out)
            chunk.searched = 1 if n == 0 else 0
            chunk.selected = result.selected
            if result.selected and not matched:
                chunk.matched_files, matched = 1, True
            if result.binary:
                chunk.warnings.append(f"{label}: binary file matches")
            yield chunk

    def run_task(self, task: Task) -> Chunk:
        kind, directory, names, rules = task
        chunk = Chunk()
        if self.done:
            return chunk
        if kind == "files":
            return self.search_names(directory, names, chunk)
        if kind == "paths":
            return self.search_paths(names, chunk)
        if kind == "stdin":
            return self.search_stdin(directory, chunk)
        if self.walk is walk_stat:
            return self.search_paths(self._walk(directory, chunk, rules), chunk)
        for sub, files in walk_dirs(directory, self.job.filters, chunk.errors.append,
                                    chunk.warnings.append, rules):
            self.search_names(sub, files, chunk)
            if self.done:
                break
        return chunk

    def _walk(self, top: str, chunk: Chunk, rules: Ignore | None) -> Iterator[str]:
        if self.walk is walk_scandir:
            return walk_scandir(top, self.job.filters, chunk.errors.append,
                                chunk.warnings.append, rules)
        return walk_stat(top, self.job.filters, chunk.errors.append, rules)


def plan_tasks(roots: Sequence[Root], filters: Filters, errors: list[str],
               target: int) -> list[Task]:
    """Expand directories a whole level at a time until there are `target` pieces of work.

    Whole levels, so the subtrees handed out sit at one depth and are of a
    similar size in a balanced tree: workers take pieces round-robin, and
    unequal pieces would leave one idle while another finishes a big one.
    Each root's pieces stay together and in the command line's order.
    With -L nothing is split: loop detection needs each walk to see all of
    its ancestors.
    """
    placed: list[tuple[int, Task]] = []
    level: list[tuple[int, str, Ignore | None]] = []
    for index, (kind, path) in enumerate(roots):
        if kind == "dir":
            rules = root_ignore(path, filters)
            if filters.follow:
                placed.append((index, ("dir", path, (), rules)))
            else:
                level.append((index, path, rules))
        elif kind == "stdin":
            placed.append((index, ("stdin", path, (), None)))
        else:
            placed.append((index, ("paths", "", (path,), None)))
    while level and len(placed) + len(level) < target:
        next_level: list[tuple[int, str, Ignore | None]] = []
        for index, directory, rules in level:
            listed = list_dir(directory, filters, rules, errors.append)
            if listed is None:
                continue
            files, subdirs, below = listed
            placed.extend((index, ("files", directory, files[i:i + FILES_PER_TASK], None))
                          for i in range(0, len(files), FILES_PER_TASK))
            next_level.extend((index, d, below) for d in subdirs)
        level = next_level
    placed.extend((index, ("dir", d, (), rules)) for index, d, rules in level)
    placed.sort(key=lambda item: item[0])  # stable: within a root, the walk's order
    return [task for _, task in placed]


class Sink:
    """Writes chunks as they come, in order: output, then their messages; keeps the counts.

    Output goes straight to the file descriptor (`os.writev` of a chunk's pieces), so
    that forked workers can each write their own chunks in turn (`_fork`).
    """

    __slots__ = ("drop_separator", "errors", "fd", "quiet", "quiet_errors", "totals")

    def __init__(self, fmt: Format, quiet_errors: bool, fd: int) -> None:
        self.fd = fd
        self.quiet = fmt.mode == "quiet"
        self.quiet_errors = quiet_errors  # -s: errors counted, not printed
        # Every context group starts with "--"; the first of the whole output goes.
        self.drop_separator = fmt.context
        self.totals = [0, 0, 0, 0]  # files searched, files matched, selected lines, matches
        self.errors = 0

    def emit(self, chunk: Chunk) -> bool:
        """Write one chunk; whether the search is over (-q and a selected line)."""
        parts = chunk.parts
        if chunk.size and self.drop_separator:
            data = chunk.out
            parts = [data[data.index(b"\n") + 1:]]
            self.drop_separator = False
        _write_all(self.fd, parts)
        totals = self.totals
        totals[0] += chunk.searched
        totals[1] += chunk.matched_files
        totals[2] += chunk.selected
        totals[3] += chunk.matches
        if self.quiet and chunk.selected:
            return True  # grep -q: the first selected line decides, errors or not
        shown = chunk.warnings if self.quiet_errors else [*chunk.errors, *chunk.warnings]
        if shown:
            import sys

            for message in shown:
                print(f"perflab search: {message}", file=sys.stderr)
            sys.stderr.flush()
        self.errors += len(chunk.errors)
        return False

    # Between forked workers: the token says whether the first "--" is still to drop;
    # a child's summary is its counts and its error count.
    def emit_in_turn(self, chunk: Chunk, token: bytes) -> bytes:
        self.drop_separator = token == b"1"
        self.emit(chunk)
        return b"1" if self.drop_separator else b"0"

    def summary(self) -> bytes:
        return b"".join(n.to_bytes(8, "little") for n in (*self.totals, self.errors))

    def take(self) -> bytes:
        """The summary so far, and the counts back to zero (before forking: the children
        start with a copy of this sink, and their summaries must not count it again)."""
        summary = self.summary()
        self.totals, self.errors = [0, 0, 0, 0], 0
        return summary

    def merge(self, summary: bytes) -> None:
        counts = [int.from_bytes(summary[i:i + 8], "little") for i in range(0, 40, 8)]
        self.totals = [a + b for a, b in zip(self.totals, counts[:4], strict=True)]
        self.errors += counts[4]


def _write_all(fd: int, parts: Sequence[bytes]) -> None:
    """`parts` written in order, IOV_MAX at a time: the kernel copies each piece
    straight from where it is, where a join would first copy them all into one
    new buffer (with -v, the whole output, in fresh memory: page faults)."""
    for i in range(0, len(parts), IOV_MAX):
        batch = parts[i:i + IOV_MAX]
        written = os.writev(fd, batch)
        if written < sum(map(len, batch)):  # a short write (a pipe, a signal): the rest
            view = memoryview(b"".join(batch))[written:]
            while view:
                view = view[os.write(fd, view):]


def run(job: Job, roots: Sequence[Root], sink: Sink) -> None:
    """Search the given files, directory trees and standard input; emit chunks in order."""
    for chunk in _chunks(job, roots, sink):
        if sink.emit(chunk):
            return


def _chunks(job: Job, roots: Sequence[Root], sink: Sink) -> Iterator[Chunk]:
    searcher = Searcher(job)  # checks the pattern first: a bad one fails before any work
    if job.stdin_streamed:
        yield from searcher.stream_stdin(roots[0][1])
        return
    if job.impl.parallel == "none":  # the ladder's early steps: one streamed walk per root
        for kind, top in roots:
            chunk = Chunk()
            if kind == "stdin":
                yield searcher.search_stdin(top, chunk)
                continue
            if kind == "file":
                yield searcher.search_paths((top,), chunk)
                continue
            for path in searcher._walk(top, chunk, root_ignore(top, job.filters)):
                searcher.search_paths((path,), chunk)
                if chunk.size >= 1 << 16 or chunk.errors or chunk.warnings:
                    yield chunk  # stream: output appears while the walk goes on
                    chunk = Chunk()
            yield chunk
        return
    errors: list[str] = []
    tasks = plan_tasks(roots, job.filters, errors, PLANNED_TASKS)
    if errors:
        yield Chunk(errors=errors)
    if job.jobs <= 1 or len(tasks) <= 1 or job.fmt.mode == "quiet":
        # -q: one process, which stops at its first selected line.
        yield from map(searcher.run_task, tasks)
        return
    searcher.prepare()
    if job.impl.parallel == "threads":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(job.jobs) as pool:
            yield from pool.map(searcher.run_task, tasks)
    elif hasattr(os, "fork"):
        from perflab.search._fork import fork_ordered

        # Each worker writes its own chunks in turn: output does not cross a pipe.
        token = b"1" if sink.drop_separator else b"0"
        before = sink.take()
        for summary in fork_ordered(searcher.run_task, sink.emit_in_turn, tasks, job.jobs,
                                    token, sink.summary, lambda chunk: chunk.size):
            sink.merge(summary)
        sink.merge(before)
    else:  # no fork on this platform: one process
        yield from map(searcher.run_task, tasks)
