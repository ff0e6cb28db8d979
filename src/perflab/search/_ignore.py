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
number says whether it negates. One `match` per path and layer, in C.

Hand-written rather than `pathspec` (a well-kept library): pathspec's import
pulls in typing, dataclasses and pathlib, several times the whole start-up bar
of `perflab search`, and it tries one regex per rule for each path; see
benchmarks/search_peers.py, which measures both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

__all__ = ["IGNORE_FILES", "Ignore", "Layer", "parse_rules", "root_ignore", "translate"]

IGNORE_FILES = (".gitignore", ".ignore", ".rgignore")  # in rising precedence

Rule = tuple[str, bool, bool]  # regex source, negated, directories only


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
        elif c == "\\" and i < n:
            out.append(re.escape(glob[i]))
            i += 1
        elif c == "[":
            end = glob.find("]", i + 1 if glob.startswith(("]", "!]", "^]"), i) else i)
            if end < 0:
                out.append(re.escape(c))
                continue
            body = glob[i:end]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("[", "\\[").replace("^", "\\^")
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(c))
    return "".join(out)


def translate(line: str) -> Rule | None:
    """One line of an ignore file as (regex over the relative path, negated, dir only)."""
    line = line.rstrip("\n").removesuffix("\r")
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]  # trailing spaces go unless escaped
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    segments = line.lstrip("/").split("/")
    parts = [] if anchored else ["(?:.*/)?"]
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == "**":
            parts.append(".*" if i == last else "(?:.*/)?")
        else:
            parts.append(_segment(segment) + ("" if i == last else "/"))
    return "".join(parts), negated, dir_only


def parse_rules(lines: Iterable[str]) -> list[Rule]:
    """The rules of an ignore file; a line that is no valid pattern (`[z-a]`) matches
    nothing, as in git, instead of failing the search."""
    rules = []
    for rule in map(translate, lines):
        if rule is None:
            continue
        try:
            re.compile(rule[0])
        except re.error:
            continue
        rules.append(rule)
    return rules


class Layer:
    """The rules of one directory's ignore files, for paths below `strip` characters."""

    __slots__ = ("add", "dirs", "dirs_neg", "files", "files_neg", "strip")

    def __init__(self, rules: Sequence[Rule], strip: int, add: str = "") -> None:
        self.strip = strip  # characters of the display path before the part the rules see
        self.add = add  # what to put before it (layers above the searched root)
        self.files, self.files_neg = self._combine([r for r in rules if not r[2]])
        self.dirs, self.dirs_neg = self._combine(rules)

    @staticmethod
    def _combine(rules: Sequence[Rule]) -> tuple[re.Pattern[str] | None, tuple[bool, ...]]:
        if not rules:
            return None, ()
        ordered = rules[::-1]  # the last rule that matches wins: try it first
        source = "|".join(f"({regex})" for regex, _, _ in ordered)
        return re.compile(f"(?:{source})\\Z", re.DOTALL), tuple(neg for _, neg, _ in ordered)

    def verdict(self, path: str, is_dir: bool) -> bool | None:
        """True: ignored; False: re-included by a negation; None: no rule matches."""
        regex, negated = (self.dirs, self.dirs_neg) if is_dir else (self.files, self.files_neg)
        if regex is None:
            return None
        m = regex.match(self.add + path[self.strip:])
        if m is None:
            return None
        assert m.lastindex is not None
        return not negated[m.lastindex - 1]


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

    def enter(self, directory: str, prefix: str) -> Ignore:
        """With the ignore files of `directory` (whose children's paths start with `prefix`)."""
        rules = _read_rules(directory or ".", self.git)
        if not rules:
            return self
        return Ignore((*self.layers, Layer(rules, len(prefix))), self.git)


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            return os.fsdecode(f.read()).splitlines()
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
