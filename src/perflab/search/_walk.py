"""Finding the files to search: two walkers and the filters they share.

- `walk_stat`: the guide's "before": `os.walk` plus an `os.lstat` per entry
  to learn what it is (the extra syscall per file of `filepath.Walk`);
- `walk_scandir`: `os.scandir` recursion that asks each `DirEntry` what it is,
  which costs no syscall on Linux (the type comes with `getdents`).

Both yield display paths (joined with "/", as given on the command line) that
are also valid paths to open, files of a directory before its subdirectories.
Symbolic links are skipped unless `follow` (then loops are detected).
Failures are reported through `on_error` and the walk goes on; a directory
loop is a warning, as in grep: reported, but not an error.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from fnmatch import fnmatchcase

__all__ = ["Filters", "child_path", "walk_dirs", "walk_scandir", "walk_stat"]

ErrorSink = Callable[[str], None]


class Filters:
    __slots__ = ("exclude", "follow", "hidden", "include")

    def __init__(
        self,
        hidden: bool = False,  # --hidden: search dot files and dot directories too
        follow: bool = False,  # -L: follow symbolic links
        include: Sequence[str] = (),  # --glob GLOB
        exclude: Sequence[str] = (),  # --glob '!GLOB'
    ) -> None:
        self.hidden = hidden
        self.follow = follow
        self.include = include
        self.exclude = exclude

    @classmethod
    def from_globs(cls, globs: Sequence[str], *, hidden: bool, follow: bool) -> Filters:
        include = tuple(g for g in globs if not g.startswith("!"))
        exclude = tuple(g[1:] for g in globs if g.startswith("!"))
        return cls(hidden, follow, include, exclude)

    @staticmethod
    def _matches(globs: Sequence[str], name: str, path: str) -> bool:
        # A glob with a slash is matched against the whole path, otherwise the name (as rg).
        return any(fnmatchcase(path if "/" in g else name, g) for g in globs)

    def want_dir(self, name: str, path: str) -> bool:
        if not self.hidden and name.startswith("."):
            return False
        return not (self.exclude and self._matches(self.exclude, name, path))

    def want_file(self, name: str, path: str) -> bool:
        if not self.hidden and name.startswith("."):
            return False
        if self.exclude and self._matches(self.exclude, name, path):
            return False
        return not self.include or self._matches(self.include, name, path)


def child_path(parent: str, name: str) -> str:
    if parent == "":
        return name  # the implicit root ".": paths print without "./", as grep's
    if parent.endswith("/"):
        return parent + name
    return f"{parent}/{name}"


def _strerror(path: str, exc: OSError) -> str:
    return f"{path}: {exc.strerror or exc}"


def walk_dirs(
    top: str, filters: Filters, on_error: ErrorSink, on_warning: ErrorSink | None = None
) -> Iterator[tuple[str, list[str]]]:
    """Yield (directory, names of the files to search in it), depth first."""
    follow = filters.follow
    # With -L, each directory carries the identities of its ancestors: a link back
    # to one of them is a loop, reported as grep does (a warning) and not entered.
    stack: list[tuple[str, frozenset[tuple[int, int]]]] = [(top, frozenset())]
    while stack:
        directory, ancestors = stack.pop()
        if follow:
            try:
                st = os.stat(directory or ".")
            except OSError as exc:
                on_error(_strerror(directory, exc))
                continue
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                (on_warning or on_error)(f"{directory}: warning: recursive directory loop")
                continue
            ancestors = ancestors | {key}
        try:
            with os.scandir(directory or ".") as it:
                entries = list(it)
        except OSError as exc:
            on_error(_strerror(directory, exc))
            continue
        files = []
        subdirs = []
        for entry in entries:
            name = entry.name
            try:
                if entry.is_file(follow_symlinks=follow):
                    if filters.want_file(name, child_path(directory, name)):
                        files.append(name)
                elif entry.is_dir(follow_symlinks=follow):
                    path = child_path(directory, name)
                    if filters.want_dir(name, path):
                        subdirs.append(path)
            except OSError as exc:
                on_error(_strerror(child_path(directory, name), exc))
        if files:
            yield directory, files
        stack.extend((d, ancestors) for d in reversed(subdirs))


def walk_scandir(
    top: str, filters: Filters, on_error: ErrorSink, on_warning: ErrorSink | None = None
) -> Iterator[str]:
    for directory, names in walk_dirs(top, filters, on_error, on_warning):
        for name in names:
            yield child_path(directory, name)


def walk_stat(top: str, filters: Filters, on_error: ErrorSink) -> Iterator[str]:
    """The naive walk: `os.walk`, then a stat call per entry to see what it is."""
    get_stat = os.stat if filters.follow else os.lstat

    def report(exc: OSError) -> None:
        on_error(_strerror(exc.filename or top, exc))

    for root, dirs, files in os.walk(top or ".", onerror=report, followlinks=filters.follow):
        shown = root
        if top == "":  # os.walk(".") yields "./a"; grep prints "a"
            shown = "" if root == "." else root[2:]
        dirs[:] = [d for d in dirs if filters.want_dir(d, child_path(shown, d))]
        for name in files:
            path = child_path(shown, name)
            try:
                mode = get_stat(path).st_mode
            except OSError as exc:
                on_error(_strerror(path, exc))
                continue
            if stat.S_ISREG(mode) and filters.want_file(name, path):
                yield path
