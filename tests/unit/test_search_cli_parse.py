"""`perflab search`'s fast option parser gives argparse's answers, or leaves the line to it."""

import argparse

import pytest

from perflab.search._cli import configure, parse_fast

# Command lines both parsers take: each must come out the same.
SAME = [
    ["x"],
    ["x", "a", "b"],
    ["-n", "-F", "parse_config_v2", "."],
    ["-nC2", "x", "dir"],
    ["-C", "2", "-n", "x"],
    ["--context=2", "x"],
    ["--context", "3", "x"],
    ["-e", "a", "-e", "b", "path"],
    ["-ea", "-eb"],
    ["-e", "", "f"],
    ["-f", "pats.txt", "-"],
    ["-inrw", "x"],
    ["-uu", "x"],
    ["-u", "-u", "-u", "x"],
    ["-H", "x", "f"],
    ["-h", "x", "f"],
    ["-H", "-h", "x"],
    ["-h", "-H", "x"],
    ["--include=*.py", "--exclude", "*.txt", "--include", "*.c", "x"],
    ["--exclude-dir", "build", "--exclude-dir=.git", "x"],
    ["-t", "py", "-T", "js", "-g", "!*.min.js", "-gsrc/*", "x"],
    ["--color=always", "x"],
    ["--colour", "never", "x"],
    ["--impl", "baseline", "-n", "x", "d"],
    ["-m1", "-c", "x"],
    ["-m", "1", "-A", "0", "-B", "3", "x"],
    ["-j", "4", "x"],
    ["--json", "--no-ignore", "--hidden", "--follow", "-a", "-z", "-Z", "x"],
    ["-l", "-L", "x"],
    ["-L", "-l", "x"],
    ["-Lb", "--files-without-match", "x"],
    ["--label", "stdin", "-H", "x", "-"],
    ["--", "-x", "file"],
    ["-n", "--", "-v"],
    ["-e", "-", "f"],
    ["-s", "-q", "-v", "-o", "-l", "-x", "-E", "-r", "-R", "--type-list"],
    ["--files-with-matches", "--count", "--quiet", "--silent", "--invert-match", "x"],
    [],
]

# Lines the fast parser leaves to argparse (which helps, reports, or parses them its way).
LEFT = [
    ["--help"],
    ["--bogus", "x"],
    ["--ignore-c", "x"],  # an abbreviation
    ["-m", "x", "y"],  # not a number
    ["-m"],
    ["--color=sometimes", "x"],
    ["-e", "-foo"],  # argparse takes -foo for an option
    ["-1", "x"],
    ["-n5", "x"],
    ["--count=3", "x"],
    ["-e foo", "x"],
    ["--", "a", "--", "b"],
]


def _argparse(argv):
    parser = argparse.ArgumentParser(prog="perflab search")
    configure(parser)
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize("argv", SAME, ids=" ".join)
def test_fast_parser_gives_argparse_s_namespace(argv):
    fast = parse_fast(argv)
    assert fast is not None
    assert vars(fast) == _argparse(argv)


@pytest.mark.parametrize("argv", LEFT, ids=" ".join)
def test_fast_parser_leaves_the_rest_to_argparse(argv):
    assert parse_fast(argv) is None


def test_options_after_the_pattern_as_grep_takes_them():
    # argparse stops filling positionals at the first option after them; grep does not.
    fast = parse_fast(["-n", "x", "-j", "1", "dir"])
    assert fast is not None
    assert (fast.pattern, fast.paths, fast.threads, fast.line_number) == ("x", ["dir"], 1, True)
