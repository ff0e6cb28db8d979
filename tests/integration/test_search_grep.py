"""grep's options, byte for byte: `perflab search` against `LC_ALL=C grep` (GNU grep 3.x).

Each case runs both tools on the same awkward files, named in the same order
(grep prints command-line files in order), and compares stdout, stderr (with
the program name mapped) and the exit status.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from ..conftest import REPO

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("grep") is None, reason="GNU grep is not installed"),
]

GREP = shutil.which("grep") or "grep"


def _lines(i: int, name: str) -> str:
    words = ("needle", "hay", "", "NEEDLE and needle", "a.b", "needles", "x")
    return f"{name} {i}: {words[i % 7]}".rstrip() if i % 11 else ""


FILES = {
    "plain.txt": "".join(_lines(i, "plain") + "\n" for i in range(60)).encode(),
    "adjacent.txt": b"needle 1\nneedle 2\nhay\nneedle 4\nhay\nhay\nhay\nhay\nneedle 9\n",
    "first-last.txt": b"needle first\nhay\nhay\nhay\nneedle last",  # no final newline
    "crlf.txt": b"one needle\r\ntwo\r\nneedle\r\n",
    "empty.txt": b"",
    "blank-lines.txt": b"\n\nneedle\n\n",
    "latin1.txt": "caf\xe9 needle na\xefve\nhay\n".encode("latin-1"),
    "binary.bin": b"\x00\x01 needle \x00 hay\nneedle again\n",
    # A NUL past grep's first 96 KiB read: text before it, binary after.
    "late-binary.txt": b"needle early\n" + b"hay\n" * 30_000 + b"\x00 needle late\n",
    "late-binary-text.txt": b"needle early\n" + b"hay\n" * 30_000 + b"\x00 hay\n",
    "long.txt": b"x" * 300_000 + b" needle\nhay\n",
    "multi.txt": b"needle needle needle\nneedlepoint\nhay needle hay\n",
}
NAMES = " ".join(sorted(FILES))
SHORT = " ".join(sorted(name for name in FILES if name != "long.txt"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("grep")
    for name, data in FILES.items():
        (root / name).write_bytes(data)
    (root / "patterns").write_text("needle\nhay$\n")
    (root / "no-patterns").write_text("")
    return root


def perflab(args: list[str], cwd, stdin: bytes | None = None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "perflab", "search", *args], cwd=cwd, env=env,
                          input=stdin, capture_output=True,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def grep(args: list[str], cwd, stdin: bytes | None = None):
    env = {**os.environ, "LC_ALL": "C"}
    return subprocess.run(["grep", *args], executable=GREP, cwd=cwd, env=env, input=stdin,
                          capture_output=True,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def assert_same(ours, theirs):
    assert ours.stdout == theirs.stdout
    assert ours.stderr.replace(b"perflab search: ", b"grep: ") == theirs.stderr
    assert ours.returncode == theirs.returncode


# Options each tool is given, then the files (all of them unless the case names some).
CASES = [
    "-n needle", "-v needle", "-vn needle", "-o needle", "-on 'ne+dle|hay'", "-c needle",
    "-oc needle", "-vc needle", "-C2 -n needle", "-A1 needle", "-B3 needle", "-C1 -v needle",
    "-A0 needle", "-C1 -o needle", "-l needle", "-l -v needle", "-m1 needle", "-m1 -c needle",
    "-m2 -A2 needle", "-m3 -v -n needle", "-m1 -C1 -n hay", "-x 'needle [0-9]'", "-w needle",
    "-i NEEDLE", "-in -o NEEDLE", "-e needle -e hay", "-e needle -e '^$' -n", "-c -e x -e a.b",
    "-F -e a.b -e needle", "-f patterns -n", "-f no-patterns", "-v -f no-patterns -c",
    "-h needle", "-Z needle", "-lZ needle", "-cZ needle", "-Z -C1 -n needle",
    "-a needle", "-a -c needle", "-c ''", "-v -c .", "-n '^$'", "-o '(ne)+'",
    "-H needle -- adjacent.txt", "-n needle -- crlf.txt", "-c needle -- empty.txt",
    "-z needle", "-z -c hay", "-z -n -o 'ne+dle'",
    "-s needle -- missing.txt plain.txt", "needle -- missing.txt plain.txt",
    "-q needle -- missing.txt plain.txt", "-q nothing-like-this -- missing.txt plain.txt",
    "--color=always -C1 -n needle", "--color=always -o -i needle", "--color=always -c hay",
    "-q -v '' -- empty.txt", "--exclude=p* needle -- plain.txt multi.txt",
    "--include=p* needle -- plain.txt multi.txt", "-m1 -l needle", "zzz-none", "-c zzz",
    # -b: each line's byte offset (with -o, each match's), context lines included
    "-b needle", "-nb needle", "-b -C1 needle", "-nb -C2 -m2 needle", "-ob 'ne+dle'",
    "-nob -i needle", "-vb needle", "-vnb -c needle", "-b -z needle", "-ab needle",
    "-Hb needle -- crlf.txt", "--color=always -nb -C1 needle", "--color=always -ob needle",
    # -L: the files without a selected line; of -l and -L the last wins, -L beats -c
    "-L needle", "-L -v needle", "-LZ needle", "-L -c needle", "-l -L needle",
    "-L -l needle", "-L -m1 hay", "-L needle -- missing.txt plain.txt empty.txt",
    "-L -q needle", "--color=always -L needle", "-L zzz-none", "-L '' -- empty.txt",
    # -I / --binary-files: a binary part holds no match; -a, -I and --binary-files, last wins
    "-I needle", "-I -n needle", "-I -c needle", "-I -l needle", "-I -L needle",
    "-I -v -c needle", "-I -o -b needle", "-I -C1 needle", "-I -m1 -c hay", "-a -I -c needle",
    "-I -a -c needle", "--binary-files=without-match -n needle",
    "--binary-files=text -c needle", "--binary-files=binary -l needle",
    "-I --binary-files=text needle", "--line-buffered -n needle",
    # POSIX classes inside bracket expressions, as grep reads them in the C locale (the
    # files without long.txt's 300 kB line: over it, `[^ ]+dle` backtracks quadratically
    # in Python's re, as docs/search.md says)
    "-n '[[:digit:]]+: needle'", "-c '[[:upper:]]'", "-o '[^[:space:]]+dle' -- " + SHORT,
    "-i -c '^[[:upper:]]+ [[:digit:]]'", "-o '[[:alpha:][:digit:]]+[[:punct:]]' -- " + SHORT,
    "-c '[[:blank:]][[:lower:]]{3}$'", "-o '[[:xdigit:]]{2,}' -- " + SHORT,
    "-c '[]a[:digit:]]'", "-n 'a[[]b'",
]


@pytest.mark.parametrize("case", CASES)
def test_same_as_grep(tree, case):
    options, _, files = case.partition(" -- ")
    args = shlex.split(options) + shlex.split(files or NAMES)
    theirs = grep(["-E", *args] if "-F" not in args else args, tree)
    assert_same(perflab(args, tree), theirs)


@pytest.mark.parametrize(
    "options",
    [
        ["-n", "needle"], ["-c", "needle"], ["-v", "-l", "needle"], ["-o", "-i", "needle"],
        ["--include=*.txt", "-c", "needle"], ["--exclude=*.txt", "-l", "needle"],
        ["--exclude-dir=sub", "-l", "needle"], ["--include=*.bin", "--include=p*", "-l", "a"],
        ["-L", "needle"], ["-nb", "needle"],
    ],
)
def test_recursive_output_equals_grep_r(tree, options):
    """In a directory walk the order is the directory's; the lines must be the same.

    The late-NUL files are left out: where grep starts binary mode for a NUL past its
    first 96 KiB read depends on how far earlier (larger) files grew its buffer.
    """
    sub = tree / "sub"
    if not sub.exists():
        sub.mkdir()
        (sub / "deep.txt").write_bytes(b"needle deep\nhay\n")
        (sub / "deep.bin").write_bytes(b"\x00needle\n")
    skip = ["--exclude=late-binary*"]
    ours = perflab([*skip, *options, "."], tree)
    theirs = grep(["-r", "-E", *skip, *options, "."], tree)
    assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())
    assert sorted(ours.stderr.splitlines()) == sorted(
        theirs.stderr.replace(b"grep: ", b"perflab search: ").splitlines())
    assert ours.returncode == theirs.returncode


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["needle"], b"a needle\nhay\n"),
        (["-c", "needle"], b"needle\nneedle\nhay\n"),
        (["-v", "-n", "hay"], b"needle\nhay\nx\n"),
        (["-H", "needle"], b"needle\n"),
        (["-H", "--label=input", "-n", "needle"], b"needle\n"),
        (["needle", "-", "adjacent.txt"], b"stdin needle\n"),
        (["-c", "needle", "adjacent.txt", "-"], b""),
        (["-o", "ne+"], b"\x00binary needle\n"),
        (["-q", "needle"], b"needle\n"),
        (["nothing"], b"needle\n"),
        (["-L", "nothing"], b"needle\n"),
        (["-L", "needle"], b"needle\n"),
        (["-nb", "needle"], b"hay\nneedle\n"),
    ],
)
def test_standard_input(tree, args, stdin):
    # With no PATH and a pipe, perflab searches the pipe, as grep does without -r.
    assert_same(perflab(args, tree, stdin), grep(["-E", *args], tree, stdin))


# Standard input as a slow writer sends it: a line may be cut between two pieces. The
# output does not depend on where the reads cut it (tests/unit/test_search_stdin.py
# cuts it everywhere, a binary part included), so any timing gives grep's.
PIECES = [b"hay\nneedle one\nhay\nnee", b"dle two\n", b"needles\nhay\n" * 3,
          b"x\nneedle after\n"]


def _paced(command: list[str], cwd, env, executable: str | None = None
           ) -> subprocess.CompletedProcess[bytes]:
    """`command` with PIECES written to its standard input one at a time, 50 ms apart."""
    import time

    proc = subprocess.Popen(command, executable=executable, cwd=cwd, env=env,
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        for piece in PIECES:
            proc.stdin.write(piece)
            proc.stdin.flush()
            time.sleep(0.05)
    except BrokenPipeError:
        pass  # -q, -l: it stopped reading at the first selected line
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("args", [
    ["needle"], ["-n", "needle"], ["-nb", "needle"], ["-ob", "ne+"], ["-c", "needle"],
    ["-m", "3", "-n", "needle"], ["-vn", "needle"], ["-v", "-m", "2", "needle"],
    ["-l", "needle"], ["-L", "needle"], ["-L", "nothing"], ["-c", "-m", "4", "needle"],
    ["-a", "-n", "needle"], ["-H", "--label=in", "-n", "needle"], ["-q", "two"],
])
def test_standard_input_in_pieces(tree, args):
    ours = _paced([sys.executable, "-m", "perflab", "search", *args], tree,
                  {**os.environ, "PYTHONPATH": str(REPO)})
    theirs = _paced(["grep", "-E", *args], tree, {**os.environ, "LC_ALL": "C"}, GREP)
    assert_same(ours, theirs)


def test_a_line_from_a_pipe_is_printed_before_the_pipe_ends(tree):
    """`tail -f log | perflab search ERROR`: each match is written as its line arrives."""
    import select

    proc = subprocess.Popen([sys.executable, "-m", "perflab", "search", "-n", "needle"],
                            cwd=tree, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"hay\na needle\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready and proc.stdout.readline() == b"2:a needle\n"
        proc.stdin.write(b"another needle")  # no newline yet: nothing to print
        proc.stdin.flush()
        proc.stdin.close()
        assert proc.stdout.read() == b"3:another needle\n"
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.stdout.close()


def test_no_path_and_no_pipe_searches_the_current_directory(tree):
    out = perflab(["-l", "needle last"], tree)
    assert out.stdout == b"first-last.txt\n"
    piped_but_recursive = perflab(["-r", "-l", "needle last"], tree, b"needle last\n")
    assert piped_but_recursive.stdout == b"first-last.txt\n"  # -r: `.`, as grep -r


def test_exit_statuses(tree):
    assert perflab(["needle", "plain.txt"], tree).returncode == 0
    assert perflab(["nothing", "plain.txt"], tree).returncode == 1
    missing = perflab(["needle", "plain.txt", "missing.txt"], tree)
    assert (missing.returncode, missing.stderr) == (
        2, b"perflab search: missing.txt: No such file or directory\n")
    silent = perflab(["-s", "needle", "missing.txt"], tree)
    assert (silent.returncode, silent.stderr) == (2, b"")
    # -q exits 0 at its first selected line, even after an error (grep's rule)...
    assert perflab(["-q", "needle", "missing.txt", "plain.txt"], tree).returncode == 0
    # ...and an error with nothing selected is 2.
    assert perflab(["-q", "nothing", "missing.txt", "plain.txt"], tree).returncode == 2
    bad = perflab(["a(b", "plain.txt"], tree)
    assert bad.returncode == 2 and bad.stderr.startswith(b"error: invalid regular expression")
    no_file = perflab(["-f", "missing-patterns", "plain.txt"], tree)
    assert no_file.returncode == 2
    assert no_file.stderr.splitlines()[0] == b"error: missing-patterns: No such file or directory"
    assert perflab(["-m", "0", "needle", "plain.txt"], tree).returncode == 1


def test_q_stops_at_the_first_match(tmp_path):
    # A FIFO nobody writes to would block a search that reads on: -q must not reach it.
    (tmp_path / "a.txt").write_text("needle\n")
    os.mkfifo(tmp_path / "b.fifo")
    proc = subprocess.run(
        [sys.executable, "-m", "perflab", "search", "-q", "needle", "a.txt", "b.fifo"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        stdin=subprocess.DEVNULL, timeout=30)
    assert proc.returncode == 0


def test_malformed_and_hostile_input(tree, tmp_path):
    (tmp_path / "pats.txt").write_bytes(b"needle\nok(\n\xff\xfe\n")
    bad = perflab(["-f", str(tmp_path / "pats.txt"), "plain.txt"], tree)
    assert bad.returncode == 2 and bad.stdout == b""
    assert bad.stderr.decode().splitlines()[0] == (
        f"error: {tmp_path}/pats.txt:2:3: invalid regular expression 'ok(': "
        "missing ), unterminated subpattern at position 2")
    # Invalid UTF-8 in a pattern is bytes, as grep's: the \xff\xfe line matches itself.
    (tmp_path / "weird.txt").write_bytes(b"x \xff\xfe y\n")
    (tmp_path / "pats2.txt").write_bytes(b"\xff\xfe\n")
    odd = perflab(["-f", str(tmp_path / "pats2.txt"), str(tmp_path / "weird.txt")], tree)
    assert (odd.returncode, odd.stdout) == (0, b"x \xff\xfe y\n")
    # A .gitignore with invalid or binary lines skips them (as git) and the search goes on.
    (tmp_path / ".ignore").write_bytes(b"[z-a]\n\x00\xff[\n**/\nweird.txt\n")
    ignored = perflab(["-l", "y", str(tmp_path)], tree)
    assert (ignored.returncode, ignored.stdout, ignored.stderr) == (1, b"", b"")
