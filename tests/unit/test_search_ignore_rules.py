"""gitignore lines as regexes (the semantics are checked against git in the integration
tests; these pin down the translation)."""

from __future__ import annotations

import re

import pytest

from perflab.search._ignore import Layer, parse_rules, translate


@pytest.mark.parametrize(
    ("line", "matches", "misses"),
    [
        ("*.log", ["a.log", "d/a.log"], ["a.logx", "log"]),
        ("/top.txt", ["top.txt"], ["d/top.txt"]),
        ("a/b", ["a/b"], ["x/a/b"]),
        ("**/cache", ["cache", "x/y/cache"], ["cachex"]),
        ("docs/**/*.tmp", ["docs/x.tmp", "docs/a/b/x.tmp"], ["x/docs/x.tmp"]),
        ("out/**", ["out/x", "out/a/b"], ["out"]),
        ("[ab]?.dat", ["ax.dat", "bz.dat"], ["cx.dat", "a/.dat"]),
        ("[!a]x", ["bx"], ["ax", "/x"]),
        ("\\#hash", ["#hash"], []),
        ("\\!bang", ["!bang"], []),
        ("spaces\\ ", ["spaces "], ["spaces"]),
    ],
)
def test_translation(line, matches, misses):
    rule = translate(line)
    assert rule is not None
    regex = re.compile(rule[0] + r"\Z", re.DOTALL)

    def seen(path):  # a rule without a slash sees the base name only
        return path.rsplit("/", 1)[-1] if rule[3] else path

    for path in matches:
        assert regex.match(seen(path)), path
    for path in misses:
        assert not regex.match(seen(path)), path


def test_comments_blanks_negation_and_directories():
    assert translate("# note") is None and translate("   ") is None and translate("/") is None
    assert translate("!keep.log")[1:4] == (True, False, True)
    assert translate("build/")[1:4] == (False, True, True)
    assert translate("/build/")[1:4] == (False, True, False)  # anchored: the whole path
    assert translate("**/cache")[3] is True  # anywhere: as a base name
    assert translate("trailing   ") == translate("trailing")


def test_the_last_matching_rule_wins_and_dir_rules_skip_files():
    layer = Layer(parse_rules(["*.log", "!keep.log", "build/"]), strip=0)
    assert layer.verdict("a.log", False) is True
    assert layer.verdict("keep.log", False) is False  # re-included
    assert layer.verdict("other.txt", False) is None  # no rule: the layer above decides
    assert layer.verdict("build", True) is True
    assert layer.verdict("build", False) is None  # a file named build: dir-only rule
    below = Layer(parse_rules(["x"]), strip=len("sub/"))
    assert below.verdict("sub/x", False) is True  # paths are seen from the file's directory


_GLOBS = ["*.log", "keep.log", "*.py[cod]", "*.tar.gz", "a?c", "build", "*", "x*", "[ab]*.txt",
          "\\#x", "/top.log", "src/*.log", "/src/gen/**", "**/deep/*.c", "docs/**/*.tmp",
          "*$py.class", ".env", ".coverage.*", "n*e.log", "*.[ch]", "[!a]*", "pl[ai]in", "[]x]",
          "ab[c", "build/", "/src/gen", "src/gen/", "/src/**", "src/gen/deep/**", "other/x.c",
          "/docs/a/**/", "deep/"]
_NAMES = ["a.log", "keep.log", "m.pyc", "m.py", "x.tar.gz", "abc", "build", "xyz", "b1.txt",
          "#x", "top.log", "u.c", "x.tmp", "q$py.class", ".env", ".coverage.1", "name.log",
          ".log", "log", "plain", "u.h", "]", "x", "ab[c", "plin", "gen", "deep", "src", "a"]


@pytest.mark.parametrize("seed", range(40))
def test_a_listing_s_verdicts_are_each_path_s(seed):
    """keep (literal, suffix, literal path, `dir/**` and path-start shortcuts) keeps exactly
    the files and directories that `ignored` keeps one path at a time, for random rule
    files at random depths."""
    import random

    rng = random.Random(seed)
    layers = []
    directories = ["", "src/", "src/gen/"][:rng.randint(1, 3)]
    for directory in directories:
        lines = [("!" if rng.random() < 0.3 else "") + rng.choice(_GLOBS)
                 for _ in range(rng.randint(1, 8))]
        layers.append(Layer(parse_rules(lines), strip=len(directory), add=""))
    from perflab.search._ignore import Ignore

    ignore = Ignore(tuple(layers), git=True)
    below = ["", "src/", "src/gen/", "src/gen/deep/", "docs/a/", "other/"]
    for prefix in [p for p in below if p.startswith(directories[-1])]:  # the layers' own
        names = rng.sample(_NAMES, rng.randint(1, len(_NAMES)))
        for dirs in (False, True):
            expected = [n for n in names if not ignore.ignored(prefix + n, dirs)]
            assert ignore.keep(prefix, names, dirs) == expected, (prefix, names, dirs)


def test_every_glob_translates_to_a_valid_quiet_regex():
    """No glob, however broken, makes a regex that fails to compile or warns (a broken
    bracket becomes one that matches nothing, as git has it)."""
    import random
    import warnings

    alphabet = "ab-]![^:\\*?/&~|z \t.#{}()+$"
    pieces = ["[:alpha:]", "[:digit:]", "[:bogus:]", "[:", ":]", "**", "\\ "]
    rng = random.Random(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(5000):
            glob = "".join(rng.choice(alphabet) if rng.random() < 0.85 else rng.choice(pieces)
                           for _ in range(rng.randint(1, 10)))
            rule = translate(glob)
            if rule is not None:
                re.compile(rule[0])
