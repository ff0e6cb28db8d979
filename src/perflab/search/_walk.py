"""Finding the files to search: two walkers and the filters they share.

- `walk_stat`: the guide's "before": `os.walk` plus an `os.lstat` per entry
  to learn what it is (the extra syscall per file of `filepath.Walk`);
- `walk_scandir`: `os.scandir` recursion that asks each `DirEntry` what it is,
  which costs no syscall on Linux (the type comes with `getdents`).

Both yield display paths (joined with "/", as given on the command line) that
are also valid paths to open, files of a directory before its subdirectories.
Symbolic links are skipped unless `follow` (then loops are detected).
Failures are reported through `on_error` and the walk goes on; a directory
loop is a warning, as in grep: reported, but not an error. With `Filters.ignore`,
a directory holding an ignore file adds its rules (see _ignore.py) for itself
and everything below it; an ignored directory is not entered.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # importing `typing` slows start-up (benchmarks/startup.py); mypy only
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterator, Sequence

    from perflab.search._ignore import Ignore

    ErrorSink = Callable[[str], None]
    # (regex, whether it sees the whole path rather than the base name)
    GlobSet = tuple[re.Pattern[str], bool]

__all__ = ["Filters", "child_path", "list_dir", "root_ignore", "walk_dirs", "walk_scandir",
           "walk_stat"]

# The names of ignore files (see _ignore.py): seeing one in a listing loads the rules.
_IGNORE_NAMES = frozenset((".gitignore", ".ignore", ".rgignore"))


def _globs(globs: Sequence[str], by_path: bool) -> list[GlobSet]:
    """Globs as at most two regexes: those matched against the path, those against the name.

    rg's -g matches a glob with a slash against the path (`by_path`); grep's
    --include and --exclude always match the base name.
    """
    sets: list[GlobSet] = []
    if not globs:
        return sets  # `re` and `fnmatch` are imported when there are globs (start-up)
    import re
    from fnmatch import translate

    for on_path in (False, True):
        chosen = [g for g in globs if by_path and "/" in g] if on_path else [
            g for g in globs if not (by_path and "/" in g)]
        if chosen:
            sets.append((re.compile("|".join(translate(g) for g in chosen)), on_path))
    return sets


def _glob(glob: str) -> re.Pattern[str]:
    import re
    from fnmatch import translate

    return re.compile(translate(glob))


def _any(sets: Sequence[GlobSet], name: str, path: str) -> bool:
    return any(regex.match(path if on_path else name) for regex, on_path in sets)


class Filters:
    """Which entries a walk keeps. (A plain class: `dataclasses` would slow start-up.)"""

    __slots__ = ("dirs_out", "files_in", "files_out", "follow", "grep_default", "grep_globs",
                 "hidden", "ignore", "names_only")

    def __init__(
        self,
        hidden: bool = False,  # --hidden: search dot files and dot directories too
        follow: bool = False,  # -L: follow symbolic links
        include: Sequence[str] = (),  # -g GLOB (rg)
        exclude: Sequence[str] = (),  # -g '!GLOB' (rg): files and directories
        *,
        name_globs: Sequence[tuple[bool, str]] = (),  # grep's --include (True), --exclude
        exclude_dir: Sequence[str] = (),  # --exclude-dir (grep): base names
        types: Sequence[str] = (),  # -t: the globs of the chosen file types
        types_not: Sequence[str] = (),  # -T
        ignore: bool = False,  # honour .gitignore, .ignore, .rgignore (rg's default)
    ) -> None:
        self.hidden = hidden
        self.follow = follow
        self.ignore = ignore
        # Each group must pass: a file is searched when it matches some glob of each.
        self.files_in = [s for s in (_globs(include, True), _globs(types, False)) if s]
        self.files_out = _globs(exclude, True) + _globs(types_not, False)
        # grep's rule: the last --include/--exclude that matches the name decides; when
        # none does, the file is searched unless the first of them is an --include.
        self.grep_globs = [(_glob(g), keep) for keep, g in name_globs[::-1]]
        self.grep_default = not (name_globs and name_globs[0][0])
        self.dirs_out = _globs(exclude, True) + _globs(exclude_dir, False)
        # No glob at all: only the dot-file rule applies, which list_dir checks inline.
        self.names_only = not (self.files_in or self.files_out or self.grep_globs
                               or self.dirs_out)

    @classmethod
    def from_globs(cls, globs: Sequence[str], *, hidden: bool, follow: bool) -> Filters:
        include = tuple(g for g in globs if not g.startswith("!"))
        exclude = tuple(g[1:] for g in globs if g.startswith("!"))
        return cls(hidden, follow, include, exclude)

    def want_named(self, path: str, is_dir: bool) -> bool:
        """grep applies --include/--exclude and --exclude-dir to command-line paths too."""
        name = os.path.basename(path.rstrip("/"))
        if is_dir:
            return not (name and self.dirs_out and _any(self.dirs_out, name, name))
        return next((keep for regex, keep in self.grep_globs if regex.match(name)),
                    self.grep_default)

    def want_dir(self, name: str, path: str) -> bool:
        if not self.hidden and name.startswith("."):
            return False
        return not (self.dirs_out and _any(self.dirs_out, name, path))

    def want_file(self, name: str, path: str) -> bool:
        if not self.hidden and name.startswith("."):
            return False
        if self.files_out and _any(self.files_out, name, path):
            return False
        if self.grep_globs:
            verdict = next((keep for regex, keep in self.grep_globs if regex.match(name)),
                           self.grep_default)
            if not verdict:
                return False
        return all(_any(group, name, path) for group in self.files_in)


def root_ignore(top: str, filters: Filters) -> Ignore | None:
    """The ignore rules in force at a searched root, or None when there are none yet.

    Probes the root's parents for `.git` and ignore files with a few stat calls;
    the rules module is imported only when something is found, so a search
    outside any repository pays nothing for ignore files it does not have.
    """
    if not filters.ignore:
        return None
    absolute = os.path.abspath(top or ".")
    parents = []
    directory = absolute
    while (parent := os.path.dirname(directory)) != directory:
        parents.append(parent)
        directory = parent
    exists = os.path.exists
    repo = next((d for d in (absolute, *parents) if exists(os.path.join(d, ".git"))), None)
    if repo is None and not any(exists(os.path.join(d, n)) for d in parents
                                for n in (".ignore", ".rgignore")):
        return None
    from perflab.search import _ignore

    return _ignore.root_ignore(top, child_path(top, ""), parents[::-1], repo)


def child_path(parent: str, name: str) -> str:
    if parent == "":
        return name  # the implicit root ".": paths print without "./", as grep's
    if parent.endswith("/"):
        return parent + name
    return f"{parent}/{name}"


def _strerror(path: str, exc: OSError) -> str:
    return f"{path}: {exc.strerror or exc}"


def list_dir(
    directory: str, filters: Filters, ignore: Ignore | None, on_error: ErrorSink
) -> tuple[list[str], list[str], Ignore | None] | None:
    """The names of the files to search in `directory`, its subdirectories' paths to
    walk, and the ignore rules in force below it; None when it cannot be listed."""
    try:
        with os.scandir(directory or ".") as it:
            entries = list(it)
    except OSError as exc:
        on_error(_strerror(directory, exc))
        return None
    follow, check = filters.follow, filters.ignore
    files: list[str] = []
    subdirs: list[str] = []
    has_rules = False
    # The common case, no globs: one inline test per entry instead of a call (this
    # loop runs once per file; see benchmarks/search_peers.py).
    plain, hidden = filters.names_only, filters.hidden
    for entry in entries:
        name = entry.name
        if name[0] == ".":
            if check and name in _IGNORE_NAMES:
                has_rules = True
            if not hidden:
                continue
        try:
            if entry.is_file(follow_symlinks=follow):
                if plain or filters.want_file(name, child_path(directory, name)):
                    files.append(name)
            elif entry.is_dir(follow_symlinks=follow) and (
                    plain or filters.want_dir(name, child_path(directory, name))):
                subdirs.append(name)
        except OSError as exc:
            on_error(_strerror(child_path(directory, name), exc))
    if has_rules:
        if ignore is None:
            from perflab.search._ignore import Ignore

            ignore = Ignore((), git=False)
        ignore = ignore.enter(directory, child_path(directory, ""))
    if ignore is not None and ignore.layers:
        prefix = child_path(directory, "")
        files = ignore.keep(prefix, files)
        subdirs = ignore.keep(prefix, subdirs, dirs=True)
    return files, [child_path(directory, name) for name in subdirs], ignore


def walk_dirs(
    top: str, filters: Filters, on_error: ErrorSink, on_warning: ErrorSink | None = None,
    ignore: Ignore | None = None,
) -> Iterator[tuple[str, list[str]]]:
    """Yield (directory, names of the files to search in it), depth first."""
    follow = filters.follow
    # With -L, each directory carries the identities of its ancestors: a link back
    # to one of them is a loop, reported as grep does (a warning) and not entered.
    stack: list[tuple[str, frozenset[tuple[int, int]], Ignore | None]] = [
        (top, frozenset(), ignore)]
    while stack:
        directory, ancestors, rules = stack.pop()
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
        listed = list_dir(directory, filters, rules, on_error)
        if listed is None:
            continue
        files, subdirs, rules = listed
        if files:
            yield directory, files
        stack.extend((d, ancestors, rules) for d in reversed(subdirs))


def walk_scandir(
    top: str, filters: Filters, on_error: ErrorSink, on_warning: ErrorSink | None = None,
    ignore: Ignore | None = None,
) -> Iterator[str]:
    for directory, names in walk_dirs(top, filters, on_error, on_warning, ignore):
        for name in names:
            yield child_path(directory, name)


def walk_stat(
    top: str, filters: Filters, on_error: ErrorSink, ignore: Ignore | None = None
) -> Iterator[str]:
    """The naive walk: `os.walk`, then a stat call per entry to see what it is."""
    get_stat = os.stat if filters.follow else os.lstat

    def report(exc: OSError) -> None:
        on_error(_strerror(exc.filename or top, exc))

    rules_of = {top: ignore}  # each directory's ignore rules, for its subdirectories
    for root, dirs, files in os.walk(top or ".", onerror=report, followlinks=filters.follow):
        shown = root
        if top == "":  # os.walk(".") yields "./a"; grep prints "a"
            shown = "" if root == "." else root[2:]
        rules = rules_of.pop(shown, None)
        if filters.ignore and _IGNORE_NAMES.intersection(files):
            if rules is None:
                from perflab.search._ignore import Ignore

                rules = Ignore((), git=False)
            rules = rules.enter(shown, child_path(shown, ""))
        dirs[:] = [d for d in dirs if filters.want_dir(d, child_path(shown, d)) and not (
            rules is not None and rules.ignored(child_path(shown, d), True))]
        for d in dirs:
            rules_of[child_path(shown, d)] = rules
        for name in files:
            path = child_path(shown, name)
            if rules is not None and rules.ignored(path, False):
                continue
            try:
                mode = get_stat(path).st_mode
            except OSError as exc:
                on_error(_strerror(path, exc))
                continue
            if stat.S_ISREG(mode) and filters.want_file(name, path):
                yield path
