"""Ignore files as ripgrep applies them by default, with gitignore's semantics.

Which files, lowest precedence first (a later one's match wins):

    the global excludes file       git's core.excludesFile, else ~/.config/git/ignore
    .git/info/exclude              of the repository being searched
    .gitignore                     in every directory, in a git repository only (rg's rule)
    .ignore, .rgignore             in every directory, in a repository or not

and a deeper directory's files take precedence over a shallower one's. The
directories above the searched root count too (up to the repository's root for
.gitignore). Patterns: `#` comments, `!` negation, a trailing `/` for
directories only, a `/` at the start or in the middle anchors the pattern to
its file's directory, `*`, `?`, `[...]`, and `**` as a whole segment (`**/x`,
`x/**`, `a/**/b`). An ignored directory is not entered, so, as in git, nothing
under it can be re-included.

Each file's rules become one regex per kind of path (files; directories, which
dir-only rules match too): the rules are alternatives in reverse order, so the
first alternative that matches is the last rule that matches, and its group
number says whether it negates. One `match` per path and layer, in C. A
directory's entries are asked about all at once (`Ignore.keep`), and there,
as in ripgrep's globset, a literal name is a set look-up and `*literal` a
suffix test over the whole listing: only the other rules go through the regex
name by name, which otherwise tries every rule on every file.

Hand-written rather than `pathspec` (a well-kept library): pathspec's import
pulls in typing, dataclasses and pathlib, and in a git checkout, where the
rules are always loaded, every search would pay it; on its own it is about the
whole 30 ms start-up bar of `perflab search`. It is also slower per call here.
benchmarks/search_peers.py measures both.
"""

from __future__ import annotations

import os

from perflab.search._matcher import POSIX_CLASSES, quietly

# `re` is imported when a rule is first compiled, and `collections.abc` never (start-up,
# benchmarks/startup.py). mypy only:
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterable, Sequence

__all__ = ["IGNORE_FILES", "Ignore", "Layer", "parse_rules", "root_ignore", "translate"]

IGNORE_FILES = (".gitignore", ".ignore", ".rgignore")  # in rising precedence

# regex source, negated, directories only, matched against the base name only, and
# the glob it came from (the base name's, or the path's without its leading "/")
Rule = tuple[str, bool, bool, bool, str]
_GLOB_CHARS = frozenset("*?[\\")  # a glob without them is a literal
# What re.escape escapes (`re` itself is imported only to compile: start-up)
_REGEX_CHARS = frozenset("()[]{}?*+-|^$\\.&~# \t\n\r\v\f")


def _escape(char: str) -> str:
    return "\\" + char if char in _REGEX_CHARS else char


_NEVER = "(?!)"  # a regex that matches nothing: what git makes of a broken bracket
# wildmatch's classes: grep's less rg's `word`
_GIT_CLASSES = frozenset(POSIX_CLASSES) - {"word"}


def _bracket(glob: str, i: int) -> tuple[str, int]:
    """The bracket expression opening at `glob[i - 1]` as a regex class, and the offset
    after it; as git's wildmatch reads one: `!` or `^` negates, a `]` first is literal,
    a backslash escapes, `[:alpha:]` is a POSIX class. Unclosed, or with an unknown
    class, it matches nothing (nor does the rule)."""
    n = len(glob)
    negate = i < n and glob[i] in "!^"
    i += negate
    out: list[str] = []
    first = True
    slash = False  # whether a range or class in it holds "/"
    while i < n and (glob[i] != "]" or first):
        first = False
        c = glob[i]
        if c == "[" and glob.startswith("[:", i):
            close = glob.find("]", i + 2)
            if close < 0:
                return _NEVER, n
            if close > i + 2 and glob[close - 1] == ":":  # `[:name:]`, else `[` is literal
                name = glob[i + 2:close - 1]
                if name not in _GIT_CLASSES:
                    return _NEVER, n
                out.append(POSIX_CLASSES[name])
                slash |= name in ("punct", "graph", "print")
                i = close + 1
                continue
        if c == "\\":
            i += 1
            if i >= n:
                return _NEVER, n
            c = glob[i]
        i += 1
        if glob.startswith("-", i) and i + 1 < n and glob[i + 1] != "]":
            high = glob[i + 1]
            i += 2
            if high == "\\":
                if i >= n:
                    return _NEVER, n
                high = glob[i]
                i += 1
            # git's wildmatch takes the range's first character even when the range is
            # reversed (`[z-a]` is `z`), so a reversed range is no error here
            out.append(f"{_escape(c)}-{_escape(high)}" if c <= high else _escape(c))
            slash |= c <= "/" <= high
        else:
            out.append(_escape(c))
    if i >= n:
        return _NEVER, n  # no closing `]`
    body = "".join(out)
    if negate:
        return f"[^/{body}]", i + 1
    # A bracket never matches "/" (wildmatch's WM_PATHNAME), even where its range holds it
    return ("(?!/)" if slash else "") + f"[{body}]", i + 1


def _segment(glob: str) -> str:
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i == n:
                return _NEVER  # a trailing backslash: git's wildmatch matches nothing
            out.append(_escape(glob[i]))
            i += 1
        elif c == "[":
            piece, i = _bracket(glob, i)
            out.append(piece)
        else:
            out.append(_escape(c))
    return "".join(out)


def translate(line: str) -> Rule | None:
    """One line of an ignore file as (regex, negated, dir only, on the base name only).

    A pattern without a slash (or only `**/` before its last segment) matches a
    name at any depth: it is matched against the base name alone, which keeps
    the regex free of a leading `(?:.*/)?` (a backtracking cost on every path).
    """
    line = line.rstrip("\n").removesuffix("\r")
    while line.endswith(" "):
        body = line[:-1]
        if (len(body) - len(body.rstrip("\\"))) % 2:
            break  # an escaped space stays (`\\ ` is a backslash, then a space that goes)
        line = body
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    # A run of stars as a whole segment is `**` (git's wildmatch)
    segments = ["**" if len(seg) > 1 and not seg.strip("*") else seg
                for seg in line.lstrip("/").split("/")]
    if "/" not in line or (len(segments) == 2 and segments[0] == "**"):
        return _segment(segments[-1]), negated, dir_only, True, segments[-1]
    parts = []
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == "**":
            parts.append(".*" if i == last else "(?:.*/)?")
        else:
            parts.append(_segment(segment) + ("" if i == last else "/"))
    return "".join(parts), negated, dir_only, False, "/".join(segments)


def parse_rules(lines: Iterable[str]) -> list[Rule]:
    """The rules of an ignore file (the lines that are patterns)."""
    return [rule for rule in map(translate, lines) if rule is not None]


class _Rules:
    """Rules as one regex: alternatives in reverse order, so the first alternative that
    matches is the last rule that matches; `order` maps group numbers to rule numbers.
    Compiled when first used: most searches never ask some kinds (files named on the
    command line, or a listing's rules that the look-ups answer), and compiling them
    all cost the search's start as much as the rest of its planning."""

    __slots__ = ("_regex", "order", "source")

    def __init__(self, rules: Sequence[tuple[int, str]]) -> None:
        ordered = rules[::-1]
        self.source = "(?:{})\\Z".format("|".join(f"({regex})" for _, regex in ordered))
        self.order = tuple(index for index, _ in ordered)
        self._regex: re.Pattern[str] | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        if self._regex is None:
            import re

            self._regex = quietly(re.compile, self.source, re.DOTALL)
        return self._regex

    def last(self, text: str) -> int:
        m = self.regex.match(text)
        if m is None:
            return -1
        assert m.lastindex is not None
        return self.order[m.lastindex - 1]


def _literal(glob: str) -> bool:
    return _GLOB_CHARS.isdisjoint(glob)


def _expansions(glob: str) -> list[str]:
    """`glob` as the globs its one bracket of plain characters stands for (`*.py[cod]`:
    `*.pyc`, `*.pyo`, `*.pyd`); itself when it has no bracket; [] when it is not so."""
    start = glob.find("[")
    if start < 0:
        return [glob]
    end = glob.find("]", start + 1)
    body, rest = glob[start + 1:end], glob[end + 1:]
    if end < 0 or not body or "[" in rest or not set(body).isdisjoint("*?[\\!^-"):
        return []
    return [glob[:start] + c + rest for c in body]


def _kind(glob: str) -> tuple[str, str] | None:
    """("name", literal), ("suffix", what follows a leading `*`), ("prefix", what comes
    before a trailing `*`), or None for any other glob."""
    if _literal(glob):
        return "name", glob
    if len(glob) > 1 and glob[0] == "*" and _literal(glob[1:]):
        return "suffix", glob[1:]
    if len(glob) > 1 and glob[-1] == "*" and _literal(glob[:-1]):
        return "prefix", glob[:-1]
    return None


class _Listing:
    """A layer's rules for the files (or the subdirectories) of one directory at a time.

    A literal name is looked up in a dict, and a `*literal` rule tested with one
    `in` over the names joined by "/" (which no name holds) before any name is
    looked at; a literal path (`/build`, `docs/_build`) is a look-up among the
    names of its own directory, and `dir/**` takes every name below `dir/`. The
    other rules on the base name go through their regex name by name, and the
    other rules on the path only where the directory is under their literal
    start (`/build/*.o` cannot match below `src/`).
    """

    __slots__ = ("at", "exact", "names", "paths", "prefixes", "starts", "suffixes", "under")

    def __init__(self, rules: Sequence[tuple[int, Rule]]) -> None:
        self.exact: dict[str, int] = {}  # name -> the last rule that is that name
        self.suffixes: dict[str, tuple[str, int]] = {}  # "suffix/" -> (suffix, last rule)
        self.prefixes: dict[str, tuple[str, int]] = {}  # "/prefix" -> (prefix, last rule)
        self.at: dict[str, dict[str, int]] = {}  # "dir/" -> {name: the last rule}: "dir/name"
        self.under: list[tuple[str, int]] = []  # ("dir/", rule): `dir/**`
        others: list[tuple[int, str]] = []
        paths: list[tuple[int, str]] = []
        starts: list[str] = []
        for index, (regex, _, _, on_name, glob) in rules:
            if not on_name:
                if _literal(glob):
                    parent, _, name = glob.rpartition("/")
                    self.at.setdefault(parent + "/" if parent else "", {})[name] = index
                elif glob.endswith("/**") and _literal(glob[:-3]):
                    self.under.append((glob[:-2], index))
                else:
                    paths.append((index, regex))
                    cut = next((i for i, c in enumerate(glob) if c in _GLOB_CHARS), len(glob))
                    starts.append(glob[:cut])
                continue
            globs = _expansions(glob)
            kinds = [kind for kind in map(_kind, globs) if kind is not None]
            if not globs or len(kinds) < len(globs):
                others.append((index, regex))
                continue
            for kind, text in kinds:
                if kind == "name":
                    self.exact[text] = index
                elif kind == "suffix":
                    self.suffixes[text + "/"] = (text, index)
                else:
                    self.prefixes["/" + text] = (text, index)
        self.names = _Rules(others) if others else None
        self.paths = _Rules(paths) if paths else None
        self.starts = tuple(starts)

    def matches(self, rel: str, names: list[str]) -> dict[str, int]:
        """name -> the last rule that matches it, for each of `names` (the entries of the
        directory whose paths, as the rules see them, start with `rel`) that one matches."""
        best: dict[str, int] = {}
        exact = self.exact
        if exact:
            for name in exact.keys() & names:
                best[name] = exact[name]
        if self.suffixes or self.prefixes:
            joined = "/" + "/".join(names) + "/"
            for key, (suffix, rule) in self.suffixes.items():
                if key in joined:
                    for name in names:
                        if name.endswith(suffix) and rule > best.get(name, -1):
                            best[name] = rule
            for key, (prefix, rule) in self.prefixes.items():
                if key in joined:
                    for name in names:
                        if name.startswith(prefix) and rule > best.get(name, -1):
                            best[name] = rule
        here = self.at.get(rel)
        if here:
            for name in here.keys() & names:
                if here[name] > best.get(name, -1):
                    best[name] = here[name]
        for below, rule in self.under:
            if rel.startswith(below):
                for name in names:
                    if rule > best.get(name, -1):
                        best[name] = rule
        if self.names is not None:
            match, order = self.names.regex.match, self.names.order
            for name in names:
                m = match(name)
                if m is not None:
                    rule = order[m.lastindex - 1]  # type: ignore[operator]
                    if rule > best.get(name, -1):
                        best[name] = rule
        if self.paths is not None and any(
                rel.startswith(start) or start.startswith(rel) for start in self.starts):
            match, order = self.paths.regex.match, self.paths.order
            for name in names:
                m = match(rel + name)
                if m is not None:
                    rule = order[m.lastindex - 1]  # type: ignore[operator]
                    if rule > best.get(name, -1):
                        best[name] = rule
        return best


class Layer:
    """The rules of one directory's ignore files, for paths below `strip` characters."""

    __slots__ = ("add", "dirs", "files", "listings", "negated", "strip")

    def __init__(self, rules: Sequence[Rule], strip: int, add: str = "") -> None:
        self.strip = strip  # characters of the display path before the part the rules see
        self.add = add  # what to put before it (layers above the searched root)
        self.negated = tuple(rule[1] for rule in rules)
        # For files, then for directories (which dir-only rules match too): the rules
        # on base names and those on paths, each as one regex (or None).
        file_rules = [(i, r) for i, r in enumerate(rules) if not r[2]]
        self.files = self._split(file_rules)
        self.dirs = self._split(list(enumerate(rules)))
        self.listings = (_Listing(file_rules), _Listing(list(enumerate(rules))))

    @staticmethod
    def _split(rules: list[tuple[int, Rule]]) -> tuple[_Rules | None, _Rules | None]:
        names = [(i, r[0]) for i, r in rules if r[3]]
        paths = [(i, r[0]) for i, r in rules if not r[3]]
        return (_Rules(names) if names else None), (_Rules(paths) if paths else None)

    def verdict(self, path: str, is_dir: bool) -> bool | None:
        """True: ignored; False: re-included by a negation; None: no rule matches."""
        names, paths = self.dirs if is_dir else self.files
        rel = self.add + path[self.strip:]
        best = names.last(rel[rel.rfind("/") + 1:]) if names is not None else -1
        if paths is not None:
            best = max(best, paths.last(rel))
        if best < 0:
            return None
        return not self.negated[best]


class Ignore:
    """The layers that apply in one directory, deepest last (immutable: shared by subtrees)."""

    __slots__ = ("git", "layers")

    def __init__(self, layers: tuple[Layer, ...], git: bool) -> None:
        self.layers = layers
        self.git = git  # inside a git repository: .gitignore files count

    def ignored(self, path: str, is_dir: bool) -> bool:
        for layer in reversed(self.layers):
            verdict = layer.verdict(path, is_dir)
            if verdict is not None:
                return verdict
        return False

    def keep(self, prefix: str, names: list[str], dirs: bool = False) -> list[str]:
        """The files (or with `dirs`, the subdirectories) `names` of the directory whose
        children's paths start with `prefix` that no rule ignores: `ignored(prefix + name,
        dirs)` for each, a directory at a time (this runs for every entry walked; see
        benchmarks/search_peers.py)."""
        verdicts: dict[str, bool] = {}  # the deepest layer's verdict wins
        for layer in reversed(self.layers):
            best = layer.listings[dirs].matches(layer.add + prefix[layer.strip:], names)
            for name, rule in best.items():
                verdicts.setdefault(name, not layer.negated[rule])
        if not verdicts:
            return names
        return [name for name in names if not verdicts.get(name, False)]

    def enter(self, directory: str, prefix: str) -> Ignore:
        """With the ignore files of `directory` (whose children's paths start with `prefix`)."""
        rules = _read_rules(directory or ".", self.git)
        if not rules:
            return self
        return Ignore((*self.layers, Layer(rules, len(prefix))), self.git)


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            return os.fsdecode(f.read()).split("\n")  # as git: "\n" only ends a line
    except OSError:
        return []  # unreadable or gone: as rg, no rules from it


def _read_rules(directory: str, git: bool) -> list[Rule]:
    names = IGNORE_FILES if git else IGNORE_FILES[1:]
    rules: list[Rule] = []
    for name in names:
        rules += parse_rules(_read_lines(os.path.join(directory, name)))
    return rules


def _global_excludes() -> str:
    """git's core.excludesFile, else its default place."""
    home = os.path.expanduser("~")
    for config in (os.path.join(home, ".gitconfig"),
                   os.path.join(os.environ.get("XDG_CONFIG_HOME") or
                                os.path.join(home, ".config"), "git", "config")):
        section = ""
        for raw in _read_lines(config):
            line = raw.strip()
            if line.startswith("["):
                section = line.strip("[]").strip().lower()
            elif section == "core" and line.lower().startswith("excludesfile"):
                _, _, value = line.partition("=")
                return os.path.expanduser(value.strip().strip('"'))
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return os.path.join(xdg, "git", "ignore")


def root_ignore(top: str, prefix: str, ancestors: Sequence[str], repo: str | None) -> Ignore:
    """The layers that apply at the searched root `top` (its own files are read by the walk).

    `ancestors` are the absolute directories above it, outermost first; `repo`
    the repository's root among them (or `top`'s absolute path), if any.
    """
    absolute = os.path.abspath(top or ".")
    layers: list[Layer] = []
    if repo is not None:
        add = os.path.relpath(absolute, repo) + "/"
        add = "" if add == "./" else add
        info = parse_rules(_read_lines(os.path.join(repo, ".git", "info", "exclude")))
        rules = parse_rules(_read_lines(_global_excludes())) + info
        if rules:
            layers.append(Layer(rules, len(prefix), add))
    for directory in ancestors:
        git = repo is not None and (directory + "/").startswith(repo.rstrip("/") + "/")
        rules = _read_rules(directory, git)
        if rules:
            add = os.path.relpath(absolute, directory) + "/"
            layers.append(Layer(rules, len(prefix), add))
    return Ignore(tuple(layers), repo is not None)
