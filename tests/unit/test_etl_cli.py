"""`perflab etl load` refuses a bad invocation before it starts a private PostgreSQL.

No --dsn is given: were a refusal made after the cluster started, stderr would carry
the "PostgreSQL (private cluster): ..." line that `main` prints once it is up.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ..conftest import REPO

STARTED = "PostgreSQL (private cluster)"


def refused(*args: str, cwd=None) -> str:
    """Run the command; check exit 2, one error line (and its hint), no cluster; the line."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "perflab", "etl", "load", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, input="")
    lines = proc.stderr.splitlines()
    assert not any(STARTED in line for line in lines), proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert len(lines) in (1, 2) and lines[0].startswith("error: "), proc.stderr
    assert len(lines) == 1 or lines[1].startswith("hint: "), proc.stderr
    return lines[0]


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["--impl", "nope"], "error: unknown --impl 'nope'"),
    (["--delimiter", ";;"], "error: --delimiter must be one ASCII character, not ';;'"),
    (["--delimiter", '"'], "error: --delimiter and --quote must differ"),
    (["--null", "a,b"], "error: --null must not contain the delimiter"),
    (["--encoding", "nope"], "error: unknown --encoding 'nope'"),
    (["--encoding", "utf-16"], "error: --encoding utf-16: only ASCII-compatible"),
    (["--conflict-columns", "a"], "error: --conflict-columns needs --on-conflict"),
    (["--workers", "0"], "error: --workers must be at least 1, not 0"),
    (["--batch-rows", "0"], "error: --batch-rows must be at least 1, not 0"),
    (["--max-rejects", "-1"], "error: --max-rejects must be at least 0, not -1"),
    (["--resume", "--truncate"], "error: --resume and --truncate contradict each other"),
    (["--columns", "a,b,a"], "error: --columns names 'a' twice"),
    (["--transform", "no_such_module_here:f"], "error: --transform 'no_such_module_here:f'"),
])
def test_a_bad_option_is_refused_before_the_cluster(csv_file, args, message):
    assert refused(str(csv_file), "--table", "t", *args).startswith(message)


@pytest.mark.parametrize("table", ["", "a..b", "."])
def test_a_table_name_with_an_empty_part_is_refused(csv_file, table):
    assert refused(str(csv_file), "--table", table) == (
        f"error: --table must name a table, not {table!r}")


def test_ignored_fields_may_share_a_name_in_columns(csv_file):
    """With --ignore-extra a repeated name can be a field to skip: that needs the catalog."""
    bad = refused(str(csv_file), "--table", "t", "--columns", "a,skip,skip", "--ignore-extra",
                  "--workers", "0")
    assert bad == "error: --workers must be at least 1, not 0"  # the columns passed


def test_several_inputs_are_checked_together(csv_file, tmp_path):
    two = [str(csv_file), str(csv_file)]
    assert refused(*two, "--table", "t", "--rejects", str(tmp_path / "r.csv")).startswith(
        "error: --rejects names one file: with several inputs")
    assert refused("-", "-", "--table", "t") == "error: standard input (-) can be read once"
    # The second file's absence is known before the first is loaded.
    missing = tmp_path / "gone.csv"
    assert refused(str(csv_file), str(missing), "--table", "t") == (
        f"error: {missing}: no such file")


def test_resume_of_standard_input_is_refused(csv_file):
    assert refused("-", "--table", "t", "--resume") == (
        "error: --resume cannot apply to standard input: a pipe cannot be read again")


def test_inputs_that_cannot_be_read_as_files(tmp_path):
    assert refused(str(tmp_path / "nope.csv"), "--table", "t") == (
        f"error: {tmp_path / 'nope.csv'}: no such file")
    assert refused(str(tmp_path), "--table", "t") == (
        f"error: {tmp_path}: is a directory, not a CSV file")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    assert refused(str(fifo), "--table", "t") == f"error: {fifo}: not a regular file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_file(csv_file):
    csv_file.chmod(0)
    assert refused(str(csv_file), "--table", "t") == (
        f"error: {csv_file}: cannot be read: Permission denied")


def test_a_rejects_file_that_cannot_be_made(csv_file, tmp_path):
    assert refused(str(csv_file), "--table", "t", "--rejects", str(tmp_path)) == (
        f"error: --rejects {tmp_path} is a directory: name the file")
    nowhere = tmp_path / "no" / "r.csv"
    assert refused(str(csv_file), "--table", "t", "--rejects", str(nowhere)) == (
        f"error: --rejects {nowhere}: no such directory {nowhere.parent}")
