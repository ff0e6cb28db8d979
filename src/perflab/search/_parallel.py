"""Running a search: sequentially, in threads, or in processes.

Parallel runs split the work in the parent: roots are expanded breadth-first
until there are enough pieces (`TASKS_PER_WORKER` per worker) for the workers
to balance; each piece is a batch of files or a whole subtree a worker walks
itself, so no per-file message crosses a process boundary. Workers (threads,
or processes forked by `_fork.fork_map`) search and format, and hand back
bytes plus their errors; results are written in task order, so output is
deterministic.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

from perflab.search._files import BufferedEngine, Match, search_lines
from perflab.search._impl import Impl
from perflab.search._matcher import (
    PatternSpec,
    compile_bytes,
    compile_text,
    required_literal,
)
from perflab.search._output import Format, format_file
from perflab.search._walk import Filters, child_path, walk_dirs, walk_scandir, walk_stat

__all__ = ["Chunk", "Job", "Searcher", "plan_tasks", "run"]

# Pieces of work a search is split into, whatever -j is (so the output order is
# the same for any -j): 16 per worker at -j 4, enough that one large subtree does
# not leave the other workers idle.
PLANNED_TASKS = 64
# Files of one directory per task: bounds a task's result and keeps workers fed.
FILES_PER_TASK = 256

# ("files", directory, names): those files of one directory; ("dir", top, ()): a subtree.
Task = tuple[str, str, Sequence[str]]


class Job:
    __slots__ = ("filters", "fmt", "impl", "jobs", "spec")

    def __init__(
        self, spec: PatternSpec, impl: Impl, filters: Filters, fmt: Format, jobs: int = 1
    ) -> None:
        self.spec = spec
        self.impl = impl
        self.filters = filters
        self.fmt = fmt
        self.jobs = jobs


class Chunk:
    """A piece of output, in order, with the errors met while making it."""

    __slots__ = ("errors", "matched_files", "out", "warnings")

    def __init__(self, out: bytes = b"", errors: list[str] | None = None) -> None:
        self.out = out
        self.matched_files = 0
        self.errors = errors if errors is not None else []
        self.warnings: list[str] = []  # reported, but not a failure (grep's directory loop)

    # Across a pipe from a forked worker: counts, output length, output, then the
    # error and warning lines (paths may hold any bytes: surrogateescape keeps them).
    def encode(self) -> bytes:
        notes = "\n".join(self.errors) + "\0" + "\n".join(self.warnings)
        head = self.matched_files.to_bytes(8, "little") + len(self.out).to_bytes(8, "little")
        return head + self.out + notes.encode(errors="surrogateescape")

    @classmethod
    def decode(cls, data: bytes) -> Chunk:
        size = int.from_bytes(data[8:16], "little")
        errors, _, warnings = data[16 + size:].decode(errors="surrogateescape").partition("\0")
        chunk = cls(data[16:16 + size], errors.split("\n") if errors else [])
        chunk.warnings = warnings.split("\n") if warnings else []
        chunk.matched_files = int.from_bytes(data[:8], "little")
        return chunk


class Searcher:
    """Per-process state: the compiled pattern and the chosen engine."""

    def __init__(self, job: Job) -> None:
        self.job = job
        spec, impl = job.spec, job.impl
        self.limit = 1 if job.fmt.mode == "files" else None
        self.color_regex = compile_bytes(spec) if job.fmt.color else None
        self.walk = walk_scandir if impl.walker == "scandir" else walk_stat
        self.search_file: Callable[[str], list[Match] | None]
        if impl.engine == "buffer":
            self.search_file = BufferedEngine(
                compile_bytes(spec), required_literal(spec), spec.ignore_case, self.limit
            )
        else:
            text = compile_text(spec) if impl.compile_once else (spec.source(), spec.flags())
            self.search_file = lambda path: search_lines(path, text, self.limit)

    def search_paths(self, paths: Iterator[str] | Sequence[str], chunk: Chunk) -> Chunk:
        fmt, color = self.job.fmt, self.color_regex
        parts = []
        for path in paths:
            try:
                matches = self.search_file(path)
            except OSError as exc:
                chunk.errors.append(f"{path}: {exc.strerror or exc}")
                continue
            if matches:
                chunk.matched_files += 1
                parts.append(format_file(path, matches, fmt, color))
        chunk.out += b"".join(parts)
        return chunk

    def search_names(self, directory: str, names: Sequence[str], chunk: Chunk) -> Chunk:
        engine = self.search_file
        if not (self.job.impl.openat and isinstance(engine, BufferedEngine)):
            return self.search_paths([child_path(directory, n) for n in names], chunk)
        fmt, color = self.job.fmt, self.color_regex
        parts = []
        for name, matches in engine.search_dir(directory, names, chunk.errors):
            chunk.matched_files += 1
            parts.append(format_file(child_path(directory, name), matches, fmt, color))
        chunk.out += b"".join(parts)
        return chunk

    def run_task(self, task: Task) -> Chunk:
        kind, directory, names = task
        chunk = Chunk()
        if kind == "files":
            return self.search_names(directory, names, chunk)
        if self.walk is walk_stat:
            return self.search_paths(self._walk(directory, chunk), chunk)
        for sub, files in walk_dirs(directory, self.job.filters, chunk.errors.append,
                                    chunk.warnings.append):
            self.search_names(sub, files, chunk)
        return chunk

    def _walk(self, top: str, chunk: Chunk) -> Iterator[str]:
        if self.walk is walk_scandir:
            return walk_scandir(top, self.job.filters, chunk.errors.append, chunk.warnings.append)
        return self.walk(top, self.job.filters, chunk.errors.append)


def plan_tasks(dirs: Sequence[str], filters: Filters, errors: list[str], target: int) -> list[Task]:
    """Expand directories a whole level at a time until there are `target` pieces of work.

    Whole levels, so the subtrees handed out sit at one depth and are of a
    similar size in a balanced tree: workers take pieces round-robin, and
    unequal pieces would leave one idle while another finishes a big one.
    With -L nothing is split: loop detection needs each walk to see all of
    its ancestors.
    """
    if filters.follow:
        return [("dir", d, ()) for d in dirs]
    tasks: list[Task] = []
    level = list(dirs)
    while level and len(tasks) + len(level) < target:
        next_level: list[str] = []
        for directory in level:
            try:
                with os.scandir(directory or ".") as it:
                    entries = list(it)
            except OSError as exc:
                errors.append(f"{directory}: {exc.strerror or exc}")
                continue
            files = []
            for entry in entries:
                path = child_path(directory, entry.name)
                try:
                    if entry.is_file(follow_symlinks=filters.follow):
                        if filters.want_file(entry.name, path):
                            files.append(entry.name)
                    elif entry.is_dir(follow_symlinks=filters.follow) and filters.want_dir(
                        entry.name, path
                    ):
                        next_level.append(path)
                except OSError as exc:
                    errors.append(f"{path}: {exc.strerror or exc}")
            tasks.extend(("files", directory, files[i:i + FILES_PER_TASK])
                         for i in range(0, len(files), FILES_PER_TASK))
        level = next_level
    tasks.extend(("dir", d, ()) for d in level)
    return tasks


def run(job: Job, files: Sequence[str], dirs: Sequence[str]) -> Iterator[Chunk]:
    """Search the given files and directory trees; yield output chunks in order."""
    searcher = Searcher(job)  # compiles here first: a bad pattern fails before any work
    if files:
        yield searcher.search_paths(files, Chunk())
    if job.impl.parallel == "none":  # the ladder's early steps: one streamed walk per root
        for top in dirs:
            chunk = Chunk()
            for path in searcher._walk(top, chunk):
                searcher.search_paths((path,), chunk)
                if len(chunk.out) >= 1 << 16 or chunk.errors or chunk.warnings:
                    yield chunk  # stream: output appears while the walk goes on
                    chunk = Chunk()
            yield chunk
        return
    errors: list[str] = []
    tasks = plan_tasks(dirs, job.filters, errors, PLANNED_TASKS)
    if errors:
        yield Chunk(errors=errors)
    if job.jobs <= 1 or len(tasks) <= 1:
        yield from map(searcher.run_task, tasks)
    elif job.impl.parallel == "threads":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(job.jobs) as pool:
            yield from pool.map(searcher.run_task, tasks)
    elif hasattr(os, "fork"):
        from perflab.search._fork import fork_map

        def work(task: Task) -> bytes:
            return searcher.run_task(task).encode()

        yield from map(Chunk.decode, fork_map(work, tasks, job.jobs))
    else:  # no fork on this platform: one process
        yield from map(searcher.run_task, tasks)
