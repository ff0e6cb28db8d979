"""`perflab search` as a user runs it, compared with GNU grep on an awkward tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perflab.search._impl import IMPLS

from ..conftest import REPO

pytestmark = pytest.mark.integration

GREP = shutil.which("grep")
ALL_IMPLS = list(IMPLS)


def search(*args, cwd=None, impl=None):
    cmd = [sys.executable, "-m", "perflab", "search", *(["--impl", impl] if impl else []), *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, capture_output=True, cwd=cwd, env=env, stdin=subprocess.DEVNULL)


def grep(*args, cwd=None):
    env = {**os.environ, "LC_ALL": "C"}
    return subprocess.run([GREP, *args], capture_output=True, cwd=cwd, env=env)


def sorted_lines(out: bytes) -> list[bytes]:
    return sorted(out.splitlines())


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Nested directories with every awkward kind of file the issue names."""
    root = tmp_path_factory.mktemp("tree")
    for d in range(6):
        sub = root / f"d{d}" / f"e{d % 3}"
        sub.mkdir(parents=True)
        for f in range(12):
            body = "".join(
                f"line {i} of {d}/{f}: {'needle' if (i + f + d) % 9 == 0 else 'hay'}"
                f"{' Needle_x' if i % 17 == 3 else ''}"
                f"{' ERR_DISK_042' if (i, f, d) == (5, 2, 2) else ''}\n"
                for i in range(40)
            )
            (sub / f"f{f}.txt").write_text(body)
    odd = root / "odd"
    odd.mkdir()
    (odd / "empty.txt").write_bytes(b"")
    (odd / "crlf.txt").write_bytes(b"one needle\r\ntwo\r\nthree needle\r\n")
    (odd / "latin1.txt").write_bytes("caf\xe9 needle na\xefve\n".encode("latin-1"))
    (odd / "badutf8.txt").write_bytes(b"\xff\xfe needle \xc3\x28\nplain\n")
    (odd / "no-newline.txt").write_bytes(b"first\nlast needle")
    (odd / "long-line.txt").write_bytes(b"x" * 1_000_000 + b" needle " + b"y" * 1000 + b"\n")
    (odd / "big.txt").write_bytes(b"filler line\n" * 40_000 + b"needle at the end\n")  # > 256 KiB
    (odd / "binary.bin").write_bytes(b"\x00\x01\x02 needle \x00 ERR_DISK_042\n")
    # A NUL far past the probe: text for us and, until grep reaches the NUL, for grep too.
    (odd / "late-binary.txt").write_bytes(b"needle first\n" + b"a\n" * 100_000 + b"\x00\n")
    (root / ".hidden.txt").write_text("hidden needle\n")
    (root / ".hiddendir").mkdir()
    (root / ".hiddendir" / "in.txt").write_text("needle in hidden dir\n")
    (root / "link-to-file.txt").symlink_to(odd / "crlf.txt")
    (root / "link-to-dir").symlink_to(odd)
    return root


GREP_CASES = [
    (["-n", "needle"], ["-E", "needle"]),
    (["-n", "-F", "needle"], ["-F", "needle"]),
    (["-n", "-i", "needle"], ["-E", "-i", "needle"]),
    (["-w", "needle"], ["-E", "-w", "needle"]),
    (["-n", r"ERR_[A-Z]+_[0-9]{3}"], ["-E", r"ERR_[A-Z]+_[0-9]{3}"]),
    (["-n", r"caf.|na.ve"], ["-E", r"caf.|na.ve"]),
]


@pytest.mark.skipif(GREP is None, reason="GNU grep is not installed")
@pytest.mark.parametrize(
    ("impl", "ours", "theirs"),
    # Every ladder step on two cases, the default step on all (suite time).
    [(impl, *case) for impl in ALL_IMPLS[:-1] for case in GREP_CASES[:2]]
    + [(ALL_IMPLS[-1], *case) for case in GREP_CASES],
)
def test_output_equals_grep(tree, impl, ours, theirs):
    # grep -r searches dot files and skips symlinks met while recursing; --hidden matches it.
    mine = search("--hidden", *ours, ".", cwd=tree, impl=impl)
    numbers = ["-n"] if "-n" in ours else []
    expected = grep("-r", "-I", *numbers, *theirs, ".", cwd=tree)
    # grep -I prints lines before a NUL it meets after its first buffer, as both our
    # engines do for late-binary.txt; a binary file that matches prints no line in
    # either (ours says so on stderr, as grep without -I). Stdout must be the same.
    assert mine.returncode == expected.returncode == 0, mine.stderr
    assert sorted_lines(mine.stdout) == sorted_lines(expected.stdout)


@pytest.mark.parametrize("impl", ALL_IMPLS)
def test_default_path_prints_without_dot_slash(tree, impl):
    out = search("-l", "-g", "*.txt", "ERR_DISK", cwd=tree, impl=impl).stdout.decode()
    assert out.splitlines() == ["d2/e2/f2.txt"]


def test_paths_are_joined_as_given(tree):
    out = search("-l", "ERR_DISK", f"{tree}/d2/", f"{tree}/d2/e2/f2.txt").stdout.decode()
    assert out.splitlines() == [f"{tree}/d2/f2.txt".replace("/f2", "/e2/f2"),
                                f"{tree}/d2/e2/f2.txt"]


def test_single_file_has_no_name_prefix(tree):
    out = search("-n", "needle", str(tree / "odd" / "crlf.txt")).stdout
    assert out == b"1:one needle\r\n3:three needle\r\n"


def test_count_lists_every_file_searched_as_grep(tree):
    out = search("-c", "three needle", "odd", cwd=tree).stdout.decode().splitlines()
    assert "odd/crlf.txt:1" in out and "odd/empty.txt:0" in out
    assert len(out) == len(os.listdir(tree / "odd"))


def test_files_with_matches(tree):
    out = search("-l", "needle", "odd", cwd=tree).stdout.decode().splitlines()
    assert sorted(out) == sorted(f"odd/{n}" for n in (
        "crlf.txt", "latin1.txt", "badutf8.txt", "no-newline.txt", "long-line.txt", "big.txt",
        "late-binary.txt", "binary.bin"))  # grep -l lists a binary file that matches


def test_hidden_files_skipped_by_default(tree):
    assert b"hidden" not in search("needle", cwd=tree).stdout
    out = search("--hidden", "-l", "hidden", cwd=tree).stdout.decode().splitlines()
    assert sorted(out) == [".hidden.txt", ".hiddendir/in.txt"]


@pytest.mark.parametrize("follow", ["--follow", "-R"])
def test_symlinks_followed_only_with_follow(tree, follow):
    # rg's -L is grep's --files-without-match here; --follow and grep's -R follow links.
    plain = search("-l", "three needle", cwd=tree).stdout.decode().splitlines()
    assert plain == ["odd/crlf.txt"]
    followed = search(follow, "-l", "three needle", cwd=tree).stdout.decode().splitlines()
    assert sorted(followed) == ["link-to-dir/crlf.txt", "link-to-file.txt", "odd/crlf.txt"]


def test_symlink_loop_with_follow_terminates(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.txt").write_text("needle\n")
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    out = search("--follow", "-l", "needle", str(tmp_path / "a"))
    assert out.returncode == 0  # as grep: a loop is a warning, not an error
    assert out.stdout.decode().splitlines() == [f"{tmp_path}/a/f.txt"]
    assert out.stderr.decode() == (
        f"perflab search: {tmp_path}/a/loop: warning: recursive directory loop\n")


def test_globs_include_and_exclude(tree):
    only = search("-l", "-g", "*.txt", "-g", "!f1*", "ERR_DISK|three", cwd=tree)
    assert sorted(only.stdout.decode().splitlines()) == ["d2/e2/f2.txt", "odd/crlf.txt"]
    no_odd = search("-l", "-g", "!odd", "three needle", cwd=tree)
    assert no_odd.returncode == 1 and no_odd.stdout == b""


@pytest.mark.parametrize("jobs", ["1", "2", "5"])
def test_jobs_give_the_same_output_in_the_same_order(tree, jobs):
    one = search("-j", "1", "-n", "needle", cwd=tree).stdout
    assert search("-j", jobs, "-n", "needle", cwd=tree).stdout == one


def test_json_output_as_rg(tree):
    out = search("--json", "needle", "odd/badutf8.txt", "odd/crlf.txt", cwd=tree).stdout
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["type"] for r in records] == [
        "begin", "match", "end", "begin", "match", "match", "end", "summary"]
    assert "bytes" in records[1]["data"]["lines"]  # not UTF-8: base64, as rg
    assert records[4]["data"] == {
        "path": {"text": "odd/crlf.txt"}, "lines": {"text": "one needle\r\n"},
        "line_number": 1, "absolute_offset": 0,
        "submatches": [{"match": {"text": "needle"}, "start": 4, "end": 10}]}
    assert records[5]["data"]["absolute_offset"] == len(b"one needle\r\ntwo\r\n")
    assert records[6]["data"]["stats"] == {"matched_lines": 2, "matches": 2}
    stats = records[7]["data"]["stats"]
    assert stats == {"searches": 2, "searches_with_match": 2, "matched_lines": 3, "matches": 3}


RG = shutil.which("rg") or str(Path(sys.executable).with_name("rg"))


def _json_records(cmd, cwd):
    """The records but the summary, and of each end record the counts both tools keep."""
    out = subprocess.run(cmd, capture_output=True, cwd=cwd, stdin=subprocess.DEVNULL,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    records = [json.loads(line) for line in out.splitlines()]
    for record in records:
        if record["type"] == "end":
            stats = record["data"]["stats"]
            record["data"]["stats"] = {k: stats[k] for k in ("matched_lines", "matches")}
    return [r for r in records if r["type"] != "summary"]


@pytest.mark.skipif(not Path(RG).exists(), reason="ripgrep is not installed")
@pytest.mark.parametrize("options", [
    ["-C1", "foo"], ["-A1", "foo"], ["-B2", "foo"], ["-C2", "foo"], ["-A3", "foo"],
    ["-B1", "-A2", "foo"], ["-v", "-C1", "foo"], ["-C3", "zz"], ["-C1", "-v", "b"], ["foo"],
])
def test_json_context_records_as_rg(tmp_path, options):
    """rg's "context" records for -A/-B/-C: record for record the same, as parsed JSON."""
    (tmp_path / "a.txt").write_bytes(b"a\nfoo bar foo\nb\r\nc\nfoo\nzz\nyy\nxx\nfoo\n")
    (tmp_path / "b.txt").write_bytes(b"foo 1\nfoo 2\nbar\n")
    for name in ("a.txt", "b.txt"):
        ours = _json_records(
            [sys.executable, "-m", "perflab", "search", "--json", *options, name], tmp_path)
        assert ours == _json_records([RG, "--no-config", "--json", *options, name], tmp_path)


def test_json_submatches_are_byte_offsets(tmp_path):
    (tmp_path / "u.txt").write_bytes("é needle, needle\n".encode())
    out = search("--json", "-o", "needle", str(tmp_path / "u.txt")).stdout
    match = json.loads(out.splitlines()[1])["data"]
    assert [(m["start"], m["end"]) for m in match["submatches"]] == [(3, 9), (11, 17)]


def test_color_always_marks_matches(tree):
    out = search("--color", "always", "-n", "three", "odd/crlf.txt", "odd/empty.txt",
                 cwd=tree).stdout
    assert b"\033[01;31m\033[Kthree\033[m\033[K" in out
    assert out.startswith(b"\033[35m\033[Kodd/crlf.txt\033[m\033[K")
    assert b"\033[" not in search("--color", "never", "three", cwd=tree).stdout


def test_exit_status_none_found_is_1(tree):
    proc = search("no such text anywhere", cwd=tree)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, b"", b"")


def test_invalid_regex_is_one_line_and_exit_2(tree):
    proc = search("a(b", cwd=tree)
    assert proc.returncode == 2 and proc.stdout == b""
    lines = proc.stderr.decode().splitlines()
    assert lines[0] == ("error: invalid regular expression 'a(b': missing ), "
                        "unterminated subpattern at position 1")


@pytest.mark.parametrize("impl", ALL_IMPLS)
def test_unreadable_and_missing_paths_are_reported_and_the_search_goes_on(tree, impl):
    # /proc/self/mem is a regular file whose read fails (EIO), even for root.
    proc = search("-l", "ERR_DISK", "missing.txt", "/proc/self/mem", "d2", cwd=tree, impl=impl)
    assert proc.returncode == 2
    assert proc.stdout.decode().splitlines() == ["d2/e2/f2.txt"]
    errors = proc.stderr.decode().splitlines()
    assert "perflab search: missing.txt: No such file or directory" in errors
    assert "perflab search: /proc/self/mem: Input/output error" in errors


def test_closed_pipe_is_quiet(tree):
    cmd = f"{sys.executable} -m perflab search -a -j 1 -n . | head -1"
    proc = subprocess.run(["sh", "-c", cmd], cwd=tree, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert len(proc.stdout.splitlines()) == 1
    # Only the notices printed before the reader left: no traceback, no worker error.
    assert all(line.endswith(b": binary file matches")
               for line in proc.stderr.splitlines()), proc.stderr


def test_startup_path_imports_nothing_heavy(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run([sys.executable, "-m", "perflab", "search", "x", str(tmp_path)],
                          capture_output=True, env=env, text=True)
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()}
    for heavy in ("multiprocessing", "concurrent.futures", "json", "dataclasses", "typing",
                  "perflab.measure", "shutil", "perflab.search._ignore",
                  "perflab.search._types",
                  # the options parsed without argparse; a plain literal that no file
                  # holds is never compiled, so `re` (and the enum it needs) stay out
                  "argparse", "re", "enum"):
        assert heavy not in imported, heavy
    assert proc.returncode == 1
    # The ignore rules are loaded when there is an ignore file, and only then.
    (tmp_path / ".ignore").write_text("*.log\n")
    proc = subprocess.run([sys.executable, "-m", "perflab", "search", "x", str(tmp_path)],
                          capture_output=True, env=env, text=True)
    assert "perflab.search._ignore" in {line.split("|")[-1].strip()
                                        for line in proc.stderr.splitlines()}


def test_file_types(tmp_path):
    for name in ("a.py", "b.pyi", "c.js", "d.txt", "Makefile"):
        (tmp_path / name).write_text("needle\n")
    def names(*options):
        out = search("-l", *options, "needle", cwd=tmp_path).stdout.decode()
        return sorted(out.splitlines())
    assert names("-t", "py") == ["a.py", "b.pyi"]
    assert names("-t", "py", "-t", "make") == ["Makefile", "a.py", "b.pyi"]
    assert names("-T", "py", "-T", "txt") == ["Makefile", "c.js"]
    listing = search("--type-list").stdout.decode().splitlines()
    assert "py: *.py, *.pyi" in listing and "js: *.cjs, *.js, *.jsx, *.mjs, *.vue" in listing
    bad = search("-t", "nosuchtype", "needle", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.decode().splitlines()[0] == "error: unknown file type 'nosuchtype'"


def test_unicode_ignore_case_folds_as_rg(tmp_path):
    (tmp_path / "u.txt").write_bytes("CAFÉ\ncafé\nCafe\n".encode())
    out = search("-i", "-n", "café", "u.txt", cwd=tmp_path).stdout.decode()
    assert out == "1:CAFÉ\n2:café\n"  # rg folds É/é; grep in the C locale finds line 2 only


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """Enough directories that the search is split into many tasks, with matches,
    context, binary-file notices and a missing-file error spread over them."""
    root = tmp_path_factory.mktemp("many")
    for d in range(40):
        for f in range(6):
            lines = [f"line {i} of {d}/{f}" for i in range(12)]
            if (d + f) % 3 == 0:
                lines[(d * 7 + f) % 12] += " needle"
            (root / f"d{d:02d}" / f"s{f % 2}").mkdir(parents=True, exist_ok=True)
            (root / f"d{d:02d}" / f"s{f % 2}" / f"f{f}.txt").write_text("\n".join(lines) + "\n")
        if d % 9 == 0:
            (root / f"d{d:02d}" / "blob.bin").write_bytes(b"\0\1needle\n")
    return root


@pytest.mark.parametrize("args", [["-n", "-C", "2", "needle"], ["-v", "needle"],
                                  ["-c", "needle"], ["-o", "-n", "ne+dle"]])
def test_workers_write_in_turn_the_same_bytes_as_one_process(many, args):
    # Forked workers write their own output in task order (a token passed round):
    # stdout, stderr and the exit status as with one process, for any -j.
    one = search("-j", "1", *args, ".", "missing.txt", cwd=many)
    assert one.returncode == 2 and b"missing.txt" in one.stderr
    for jobs in ("2", "3"):
        out = search("-j", jobs, *args, ".", "missing.txt", cwd=many)
        assert (out.stdout, out.stderr, out.returncode) == (one.stdout, one.stderr, 2)


def test_json_summary_adds_up_every_workers_counts(many):
    one = search("-j", "1", "--json", "needle", cwd=many).stdout.splitlines()[-1]
    two = search("-j", "2", "--json", "needle", cwd=many).stdout.splitlines()[-1]
    assert json.loads(one)["data"]["stats"] == json.loads(two)["data"]["stats"]
    assert json.loads(two)["data"]["stats"]["searches"] == 40 * 6 + 5


def test_closed_pipe_with_workers_is_quiet_and_leaves_no_worker(many):
    cmd = (f"{sys.executable} -m perflab search -j 2 -v needle . | head -1; "
           f"{sys.executable} -m perflab search -j 3 -v needle . | head -c 10 >/dev/null")
    # A worker left behind would hold stderr open: the run would not end (timeout).
    proc = subprocess.run(["sh", "-c", cmd], cwd=many, capture_output=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert len(proc.stdout.splitlines()) == 1
    # Only the notices printed before the reader left: no traceback, no worker error.
    assert all(line.endswith(b": binary file matches")
               for line in proc.stderr.splitlines()), proc.stderr
