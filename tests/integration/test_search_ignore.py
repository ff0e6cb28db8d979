"""Ignore files against git itself: what `git check-ignore` and `git ls-files` say is
ignored, `perflab search` must skip, and nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ..conftest import REPO

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]

GITIGNORE = """\
# a comment, then a blank line

*.log
!keep.log
/anchored.txt
build/
docs/**/*.tmp
**/cache
a/b/c.txt
\\#hash.txt
trailing.txt{spaces}
[xy]z.dat
?q.dat
nested/*
!nested/kept/
deep/**
!deep/again.txt
""".format(spaces="   ")  # trailing spaces are not part of a pattern
NESTED_GITIGNORE = """\
*.txt
!important.txt
/local-only.md
sub/
"""
FILES = [
    "app.log", "keep.log", "src/app.log", "src/keep.log",
    "anchored.txt", "src/anchored.txt",
    "build/out.txt", "src/build/out.txt", "build.txt",
    "docs/x.tmp", "docs/a/b/x.tmp", "docs/x.txt", "other/docs/x.tmp",
    "cache/c.txt", "src/deep/cache/c.txt", "cachefile.txt",
    "a/b/c.txt", "x/a/b/c.txt",
    "#hash.txt", "trailing.txt", "xz.dat", "zz.dat", "aq.dat", "abq.dat",
    "nested/one.txt", "nested/kept/two.txt", "nested/gone/three.txt",
    "deep/again.txt", "deep/inner/again.txt",
    "pkg/file.txt", "pkg/important.txt", "pkg/readme.md", "pkg/local-only.md",
    "pkg/inner/local-only.md", "pkg/inner/x.txt", "pkg/sub/y.md", "pkg/inner/sub/z.md",
    "excluded-by-info.md", "global.skip", "src/global.skip", "plain.md",
]


def git(*args, cwd, env):
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    base = tmp_path_factory.mktemp("ignore")
    home = base / "home"
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".config" / "git" / "ignore").write_text("*.skip\n")
    root = base / "repo"
    root.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "GIT_CONFIG_NOSYSTEM": "1"}
    git("init", "-q", cwd=root, env=env)
    (root / ".git" / "info" / "exclude").write_text("excluded-by-info.md\n")
    (root / ".gitignore").write_text(GITIGNORE)
    for name in FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"needle in {name}\n")
    (root / "pkg" / ".gitignore").write_text(NESTED_GITIGNORE)
    (root / ".hidden.md").write_text("needle\n")
    return root, env


def searched(root, env, *options, path="."):
    proc = subprocess.run(
        [sys.executable, "-m", "perflab", "search", "-l", *options, "needle", path], cwd=root,
        env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, stdin=subprocess.DEVNULL)
    assert proc.returncode in (0, 1), proc.stderr
    return {line.removeprefix("./") for line in proc.stdout.decode().splitlines()}


def test_searched_files_are_git_s_untracked_not_ignored(repo):
    root, env = repo
    expected = set(git("ls-files", "--others", "--exclude-standard", cwd=root,
                       env=env).splitlines())
    expected = {p for p in expected if not os.path.basename(p).startswith(".")}  # hidden
    assert searched(root, env) == expected
    assert len(expected) < len(FILES) // 2  # the rules did skip a good part


def test_each_path_as_git_check_ignore_says(repo):
    root, env = repo
    proc = subprocess.run(["git", "check-ignore", "--stdin"], cwd=root, env=env, text=True,
                          input="\n".join(FILES) + "\n", capture_output=True)
    ignored = set(proc.stdout.splitlines())
    ours = searched(root, env)
    for name in FILES:
        assert (name in ours) == (name not in ignored), name


def test_a_subdirectory_search_applies_the_rules_above_it(repo):
    root, env = repo
    # From inside pkg/, the root .gitignore and pkg/.gitignore both count.
    kept = {"important.txt", "readme.md", "inner/local-only.md"}  # /local-only.md: anchored
    assert searched(root / "pkg", env) == kept
    assert searched(root, env, path="pkg") == {f"pkg/{name}" for name in kept}
    assert searched(root, env, path=str(root / "pkg" / "inner")) == {
        str(root / "pkg" / "inner" / "local-only.md")}


def test_no_ignore_and_unrestricted(repo):
    root, env = repo
    everything = {name for name in FILES if not name.startswith(".")}
    assert searched(root, env, "--no-ignore") == everything
    assert searched(root, env, "-u") == everything
    assert searched(root, env, "-uu") == everything | {".hidden.md"}  # and dot files
    assert searched(root, env, "-uuu") == everything | {".hidden.md"}


def test_dot_ignore_and_rgignore_outrank_gitignore(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d/e.txt"):
        (tmp_path / name).write_text("needle\n")
    (tmp_path / ".ignore").write_text("a.txt\nb.txt\nd/\n")  # applies outside git too
    (tmp_path / ".rgignore").write_text("!b.txt\n")  # .rgignore wins over .ignore
    (tmp_path / ".gitignore").write_text("c.txt\n")  # not a git repository: not honoured
    assert searched(tmp_path, {**os.environ}) == {"b.txt", "c.txt"}


def test_an_ignored_directory_cannot_be_reincluded_from_inside(tmp_path):
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    git("init", "-q", cwd=tmp_path, env=env)
    (tmp_path / "out" / "keep").mkdir(parents=True)
    (tmp_path / "out" / "keep" / "k.txt").write_text("needle\n")
    (tmp_path / ".gitignore").write_text("out/\n!out/keep/k.txt\n")
    assert searched(tmp_path, env) == set()
    assert git("ls-files", "-o", "--exclude-standard", cwd=tmp_path, env=env) == ".gitignore\n"


@pytest.mark.parametrize("impl", ["baseline", "prefilter"])
def test_every_ladder_walk_honours_the_rules(repo, impl):
    root, env = repo
    assert searched(root, env, "--impl", impl) == searched(root, env)


# Awkward globs, each in a directory of its own with the names it might match: brackets
# as git's wildmatch reads them (escapes, a leading `]`, POSIX classes, reversed ranges,
# an unclosed one), escaped trailing spaces, runs of stars as a segment.
AWKWARD = [
    ("[!]a]x", ["]x", "ax", "bx", "!x"]),
    ("[[:alpha:]]x", ["ax", "1x", "a]x", ":x"]),
    ("x[[:digit:]]", ["x1", "xa"]),
    ("[[:digit:]x]y", ["1y", "xy", "ay"]),
    ("[[:bogus:]]y", ["ay", "[y", "y"]),
    ("[\\]]x", ["]x", "\\x"]),
    ("[a\\-c]x", ["ax", "-x", "bx", "cx"]),
    ("[a--b]x", ["ax", "-x", "bx"]),
    ("[z-a]x", ["zx", "ax", "mx"]),
    ("[a&&b]x", ["ax", "&x", "bx"]),
    ("ab[c", ["ab[c", "abc"]),
    ("foo\\\\ ", ["foo\\", "foo\\ ", "foo"]),
    ("foo\\ ", ["foo ", "foo"]),
    ("***/b", ["b", "d/b"]),
    ("*.py[cod]", ["x.pyc", "y.pyo", "z.py"]),
    ("[[:a]", ["[", ":", "a", "b"]),
    ("[[:word:]]", ["a", "w"]),
    ("x/a[.-0]b", ["x/a/b", "x/a.b", "x/a-b"]),
    ("d/x[[:punct:]]y", ["d/x/y", "d/x.y"]),
    ("foo\\", ["foo\\", "foo"]),
]


def test_awkward_globs_as_git_reads_them(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "GIT_CONFIG_NOSYSTEM": "1"}
    root = tmp_path / "repo"
    root.mkdir()
    git("init", "-q", cwd=root, env=env)
    for n, (glob, names) in enumerate(AWKWARD):
        case = root / f"case{n}"
        case.mkdir()
        (case / ".gitignore").write_text(glob + "\n")
        for name in names:
            (case / name).parent.mkdir(parents=True, exist_ok=True)
            (case / name).write_text("needle\n")
    expected = set(git("ls-files", "-z", "--others", "--exclude-standard", cwd=root,
                       env=env).split("\0")) - {""}
    expected = {p for p in expected if not p.endswith(".gitignore")}
    ours = searched(root, env)
    for n, (glob, names) in enumerate(AWKWARD):
        for name in names:
            path = f"case{n}/{name}"
            assert (path in ours) == (path in expected), (glob, name)
    assert len(expected) < sum(len(names) for _, names in AWKWARD)  # some were ignored
