"""`perflab etl load` against a real PostgreSQL (the private cluster perflab starts)."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from psycopg import sql

from perflab.etl._csv import Dialect, csv_rows
from perflab.etl._gen import BAD_KINDS, generate
from perflab.etl._impl import IMPLS
from perflab.etl._journal import load_id
from perflab.etl._reader import open_range, split_ranges
from perflab.etl._source import Source, read_header
from perflab.services.postgres import private_cluster

from ..conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def dsn():
    with private_cluster("tests") as cluster:
        yield cluster.dsn


def etl(*args, dsn=None, timeout=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "perflab", "etl", *args, *(["--dsn", dsn] if dsn else [])]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def make_table(dsn: str, name: str, ddl: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        ident = sql.Identifier(name).as_string(conn)
        conn.execute(f"DROP TABLE IF EXISTS {ident}")
        conn.execute(ddl.format(table=ident))


def query(dsn: str, text: str, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(text, params).fetchall()


# A guard against a hang (a reader's failure once left the fan-out waiting forever), not
# a timing: a load of this file takes well under a second.
HANG_S = 120

PEOPLE = """CREATE TABLE {table} (id bigint NOT NULL, name varchar(80) NOT NULL,
    email text NOT NULL, signup_date date, score numeric(8,2), country char(2), notes text)"""
HEADER = "id,name,email,signup_date,score,country,notes\n"


def load_server_checked(dsn: str, tmp_path, table: str,
                        rows: list[str]) -> tuple[dict, list[dict[str, str]]]:
    """A people table loaded by `--impl server-checks` in one worker: summary and rejects."""
    make_table(dsn, table, PEOPLE)
    data = tmp_path / f"{table}.csv"
    data.write_text(HEADER + "".join(rows))
    proc = etl("load", str(data), "--table", table, "--json", "--impl", "server-checks",
               "--workers", "1", dsn=dsn)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    with open(summary["rejects"], newline="") as f:
        return summary, list(csv.DictReader(f))


@pytest.mark.parametrize("impl", list(IMPLS))
def test_every_malformed_kind_is_rejected_with_line_and_reason(tmp_path, dsn, impl):
    table = f"people_{impl.replace('-', '_')}"
    make_table(dsn, table, PEOPLE)
    data = tmp_path / "people.csv"
    rows = 2_000
    generate(data, rows, bad_ratio=0.01)  # every 100th row is bad, each kind in turn
    proc = etl("load", str(data), "--table", table, "--json", "--impl", impl, "--workers", "2",
               "--batch-rows", "300", dsn=dsn)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["rows_read"] == rows == summary["rows_loaded"] + summary["rows_rejected"]
    assert summary["rows_rejected"] == 20
    (count,) = query(dsn, f'SELECT count(*) FROM "{table}"')[0]
    assert count == summary["rows_loaded"]

    with open(summary["rejects"], newline="", encoding="utf-8", errors="surrogateescape") as f:
        rejects = list(csv.DictReader(f))
    assert len(rejects) == 20
    reasons = " | ".join(r["reason"] for r in rejects)
    for needle in ("expected 7 fields, found 3", "invalid number '12x.5'", "invalid date",
                   "too long for length 80", "NULL in NOT NULL column name", "bad quoting",
                   "invalid byte 0xff in column name", "invalid integer 'x"):
        assert needle in reasons, needle
    # the line number points at the row in the file; the raw text is kept exactly
    lines = data.read_text(encoding="utf-8", errors="surrogateescape").splitlines(keepends=True)
    for r in rejects:
        assert lines[int(r["line"]) - 1] == r["raw"]
    assert len(BAD_KINDS) == 8


def test_types_are_validated_as_postgres_would(tmp_path, dsn):
    make_table(dsn, "typed", """CREATE TABLE {table} (a smallint, b integer, c bigint,
        d numeric(5,2), e double precision, f varchar(3), g boolean, h date,
        i timestamp, j timestamptz, k text NOT NULL)""")
    good = ("1,2,3,123.45,1.5e3,abc,true,2024-02-29,2024-01-02 03:04:05,"
            "2024-01-02T03:04:05+02:00,ok\n"
            "-32768,2147483647,-9223372036854775808,-999.99,-0.25,,f,0001-01-01,,,\"x,y\"\n")
    bad = ("32768,1,1,1,1,a,t,2024-01-01,,,k\n"  # smallint overflow
           "1,2147483648,1,1,1,a,t,2024-01-01,,,k\n"  # integer overflow
           "1,1,1,1234.5,1,a,t,2024-01-01,,,k\n"  # numeric(5,2) overflow
           "1,1,1,1,abc,a,t,2024-01-01,,,k\n"  # float
           "1,1,1,1,1,abcd,t,2024-01-01,,,k\n"  # varchar(3)
           "1,1,1,1,1,a,maybe,2024-01-01,,,k\n"  # boolean
           "1,1,1,1,1,a,t,2023-02-29,,,k\n"  # no such date
           "1,1,1,1,1,a,t,2024-01-01,2024-13-01 00:00,,k\n"  # timestamp
           "1,1,1,1,1,a,t,2024-01-01,,,\n")  # NOT NULL
    data = tmp_path / "typed.csv"
    data.write_text("a,b,c,d,e,f,g,h,i,j,k\n" + good + bad)
    proc = etl("load", str(data), "--table", "typed", "--workers", "1", dsn=dsn)
    assert proc.returncode == 0, proc.stderr
    assert "11 rows read = 2 loaded + 9 rejected" in proc.stdout
    stored = query(dsn, "SELECT a, b, c, d::text, e, f, g, h::text, i::text, k FROM typed "
                        "ORDER BY a DESC")
    assert stored[0] == (1, 2, 3, "123.45", 1500.0, "abc", True, "2024-02-29",
                         "2024-01-02 03:04:05", "ok")
    assert stored[1] == (-32768, 2147483647, -9223372036854775808, "-999.99", -0.25, None,
                         False, "0001-01-01", None, "x,y")


def test_resume_after_the_loader_is_killed(tmp_path, dsn):
    make_table(dsn, "resumed", PEOPLE)
    data = tmp_path / "big.csv"
    rows = 200_000
    generate(data, rows)
    args = ["load", str(data), "--table", "resumed", "--batch-rows", "4000", "--workers", "2",
            "--impl", "copy", "--dsn", dsn]
    load = load_id(data, "resumed")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "perflab", "etl", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    committed = 0
    while time.monotonic() < deadline and committed < 5:
        time.sleep(0.05)
        committed = query(dsn, "SELECT count(*) FROM perflab_etl_journal "
                               "WHERE chunk >= 0 AND load_id = %s", load)[0][0]
    os.killpg(proc.pid, signal.SIGKILL)  # the loader and its workers, mid-load
    proc.wait()
    (partial,) = query(dsn, "SELECT count(*) FROM resumed")[0]
    assert 0 < partial < rows, "the kill must land mid-load"

    again = etl(*args[:-2], dsn=dsn)
    assert again.returncode == 2 and "was partly loaded" in again.stderr

    resumed = etl(*args[:-2], "--resume", dsn=dsn)
    assert resumed.returncode == 0, resumed.stderr
    count, distinct, low, high = query(
        dsn, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM resumed")[0]
    assert (count, distinct, low, high) == (rows, rows, 1, rows)  # no duplicates, no gaps


def test_max_rejects_aborts(tmp_path, dsn):
    make_table(dsn, "strict", PEOPLE)
    data = tmp_path / "bad.csv"
    generate(data, 1000, bad_ratio=0.05)
    proc = etl("load", str(data), "--table", "strict", "--max-rejects", "3", "--workers", "1",
               "--batch-rows", "100", dsn=dsn)
    assert proc.returncode == 2
    assert "more than 3 rejected rows" in proc.stderr


def test_identifiers_are_quoted_never_pasted(tmp_path, dsn):
    make_table(dsn, "Odd Name; x", PEOPLE)
    data = tmp_path / "p.csv"
    generate(data, 50)
    ok = etl("load", str(data), "--table", "Odd Name; x", "--workers", "1", dsn=dsn)
    assert ok.returncode == 0, ok.stderr
    assert query(dsn, 'SELECT count(*) FROM "Odd Name; x"')[0][0] == 50
    evil = etl("load", str(data), "--table", "people; DROP TABLE typed", dsn=dsn)
    assert evil.returncode == 2
    assert evil.stderr.splitlines()[0] == "error: table 'people; DROP TABLE typed' does not exist"


def test_transform_hook(tmp_path, dsn, monkeypatch):
    make_table(dsn, "shouting", PEOPLE)
    hooks = tmp_path / "hooks.py"
    hooks.write_text("def upper(row):\n    row[1] = row[1].upper()\n    return row\n")
    data = tmp_path / "p.csv"
    generate(data, 20)
    env_path = f"{REPO}{os.pathsep}{tmp_path}"
    proc = subprocess.run(
        [sys.executable, "-m", "perflab", "etl", "load", str(data), "--table", "shouting",
         "--transform", "hooks:upper", "--dsn", dsn],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": env_path})
    assert proc.returncode == 0, proc.stderr
    names = [n for (n,) in query(dsn, "SELECT name FROM shouting")]
    assert len(names) == 20 and all(n == n.upper() for n in names)


def test_missing_file_and_table(tmp_path, dsn):
    missing = etl("load", str(tmp_path / "nope.csv"), "--table", "people_baseline", dsn=dsn)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [f"error: {tmp_path / 'nope.csv'}: no such file"]


def test_split_ranges_cut_only_at_row_boundaries(tmp_path):
    data = tmp_path / "quoted.csv"
    generate(data, 20_000)  # notes hold quoted newlines
    d = Dialect()
    start = read_header(Source(str(data)), d).start
    parts = split_ranges(data, 4, start, d)
    assert len(parts) == 4 and parts[0].start == start and parts[-1].end == data.stat().st_size

    def rows_of(s, e, line):
        with open_range(data, s, e, 1 << 16, d) as text:
            return [(ln, fields) for ln, fields, _, err in csv_rows(d, iter(text), line)]

    whole = rows_of(start, data.stat().st_size, 2)
    pieces = [row for p in parts for row in rows_of(p.start, p.end, p.line)]
    assert pieces == whole and len(whole) == 20_000


def test_server_checks_skip_bad_fields_and_name_their_lines(tmp_path, dsn, monkeypatch):
    """PostgreSQL's ON_ERROR path: no chunk needs the exact path, lines and text are exact."""
    from perflab.etl import _loader
    from perflab.etl._load import LoadOptions, load

    def no_exact(*args):
        raise AssertionError("a chunk of type errors only must not need the exact path")

    monkeypatch.setattr(_loader, "exact_chunks", no_exact)
    make_table(dsn, "checked", PEOPLE)
    rows = [
        '1,"Ada, L.",a@example.com,2021-01-02,1.50,US,"said ""hi"", twice"\n',
        "2,Bad,b@example.com,2021-02-30,1.00,US,x\n",
        "3,Grace,g@example.com,2021-01-02,12x.5,US,\n",
        "4," + "N" * 90 + ",n@example.com,2021-01-02,1.00,US,\n",
        "x5,Id,i@example.com,2021-01-02,1.00,US,\n",
        "6,Linus,l@example.com,2021-01-02,1.00,USA,\n",
        '7,Ken,k@example.com,,,,"two\nlines"\n',  # after the last bad row of its chunk
    ]
    data = tmp_path / "checked.csv"
    data.write_text(HEADER + "".join(rows))
    summary = load(LoadOptions(data, "checked", dsn, IMPLS["server-checks"], workers=1))
    assert summary.rows_read == 7
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (7, 2, 5)
    with open(summary.rejects or "", newline="") as f:
        rejects = list(csv.DictReader(f))
    lines = data.read_text().splitlines(keepends=True)
    assert sorted(int(r["line"]) for r in rejects) == [3, 4, 5, 6, 7]
    assert all(lines[int(r["line"]) - 1] == r["raw"] for r in rejects)
    reasons = " | ".join(r["reason"] for r in rejects)
    for needle in ("invalid date", "invalid number '12x.5'", "too long for length 80",
                   "invalid integer 'x5'", "country: value of 3 characters"):
        assert needle in reasons, needle
    assert query(dsn, "SELECT name, notes FROM checked WHERE id = 1 LIMIT 1") == [
        ("Ada, L.", 'said "hi", twice')]


def test_server_checks_hand_what_they_cannot_place_to_the_exact_path(tmp_path, dsn):
    """A bad row of several lines, NOT NULL, field counts: the chunk is redone exactly."""
    summary, rejects = load_server_checked(dsn, tmp_path, "redone", [
        '1,"Two\nlines",a@example.com,2021-02-30,1.00,US,x\n',  # bad date, 2 lines
        '2,"Ok\nthen",b@example.com,2021-01-02,1.00,US,"x\ny"\n',
        "3,Bad,b@example.com,2021-01-32,1.00,US,x\n",
        "4,,null@example.com,2021-01-02,1.00,US,\n",
        "5,Short\n"])
    assert (summary["rows_loaded"], summary["rows_rejected"]) == (1, 4)
    assert [int(r["line"]) for r in rejects] == [2, 7, 8, 9]


def test_text_after_a_closing_quote_is_read_as_postgresql_does_on_both_paths(tmp_path, dsn):
    """`"Ken"ny` is `Kenny` for the server; the Python reader agrees (one CSV semantics)."""
    rows = ['1,"Ken"ny,k@example.com,2021-01-02,1.00,US,x\n',
            "2,Bad,b@example.com,2021-02-30,1.00,US,x\n",
            "3,Good,g@example.com,2021-01-02,1.00,US,x\n"]
    summary, rejects = load_server_checked(dsn, tmp_path, "quoting", rows)
    assert (summary["rows_loaded"], summary["rows_rejected"]) == (2, 1)
    assert [int(r["line"]) for r in rejects] == [3] and "invalid date" in rejects[0]["reason"]
    assert query(dsn, "SELECT name FROM quoting WHERE id = 1") == [("Kenny",)]
    make_table(dsn, "quoting_py", PEOPLE)
    data = tmp_path / "quoting_py.csv"
    data.write_text(HEADER + "".join(rows))
    proc = etl("load", str(data), "--table", "quoting_py", "--json", "--impl", "block-regex",
               dsn=dsn)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows_rejected"] == 1
    assert query(dsn, "SELECT name FROM quoting_py WHERE id = 1") == [("Kenny",)]


@pytest.mark.parametrize("shape", ["first-row", "later-row", "gz-fanout"])
def test_server_checks_grow_the_window_for_a_row_longer_than_it(tmp_path, dsn, shape):
    """A quoted field of tens of KB, newlines inside, against a 2.5 KB first window
    (batch_rows * 256): the window grows until the row fits, and every row arrives intact,
    from one reader (a file) or from windows fanned out to two connections (a .gz)."""
    table = f"long_{shape.replace('-', '_')}"
    long_notes = ("n" * 30_000 + "\n") * 2 + '"quoted"' + "m" * 20_000
    short = [f'{i},Name{i},n{i}@example.com,2021-01-02,1.00,US,"note ""{i}"""\n'
             for i in range(2, 120)]
    long_row = '1,Long,l@example.com,2021-01-02,1.00,US,"{}"\n'.format(
        long_notes.replace('"', '""'))
    rows = [long_row, *short] if shape == "first-row" else [*short[:60], long_row, *short[60:]]
    make_table(dsn, table, PEOPLE)
    text = (HEADER + "".join(rows)).encode()
    data = tmp_path / f"{table}.csv"
    if shape == "gz-fanout":
        data = data.with_name(data.name + ".gz")
        text = gzip.compress(text)
    data.write_bytes(text)
    proc = etl("load", str(data), "--table", table, "--json", "--impl", "server-checks",
               "--workers", "2" if shape == "gz-fanout" else "1", "--batch-rows", "10",
               dsn=dsn, timeout=HANG_S)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["rows_loaded"], summary["rows_rejected"]) == (len(rows), 0)
    assert query(dsn, f"SELECT notes FROM {table} WHERE id = 1") == [(long_notes,)]
    loaded = query(dsn, f"SELECT id, notes FROM {table} WHERE id > 1 ORDER BY id")
    assert loaded == [(i, f'note "{i}"') for i in range(2, 120)]
