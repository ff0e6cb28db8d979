"""`perflab etl load` on the files users have: header mapping, dialects, encodings,
compressed and piped input, every column type, the `""` semantics, upsert, --create-table.

Each loads a few rows into the real (embedded) PostgreSQL; where the issue asks for
"both checking paths", the same file goes through `server-checks` (PostgreSQL's input
functions) and `block-regex` (Python's checks), and the tables and rejects must agree.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from perflab.etl._csv import Dialect, csv_rows
from perflab.etl._gen import generate
from perflab.etl._impl import IMPLS
from perflab.etl._journal import load_id
from perflab.etl._load import LoadOptions, Summary, load

from ..conftest import REPO
from .test_etl import HANG_S, HEADER, PEOPLE, etl, make_table, query

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def dsn():
    """The same private cluster as test_etl.py's (a running one is reused, not restarted)."""
    from perflab.services.postgres import private_cluster

    with private_cluster("tests") as cluster:
        yield cluster.dsn

BOTH = ("server-checks", "block-regex")


def run(dsn, path, table, impl="server-checks", **kw) -> Summary:
    kw.setdefault("workers", 1)
    return load(LoadOptions(path, table, dsn, IMPLS[impl], truncate=True, **kw))


def rejects_of(summary: Summary) -> list[tuple[int, str]]:
    if summary.rejects is None:
        return []
    with open(summary.rejects, newline="", encoding="utf-8", errors="surrogateescape") as f:
        return [(int(r["line"]), r["reason"]) for r in csv.DictReader(f)]


def test_header_maps_by_name_and_absent_columns_take_their_defaults(tmp_path, dsn):
    make_table(dsn, "mapped", """CREATE TABLE {table} (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
        score int, "Note" text, created timestamptz NOT NULL DEFAULT now(),
        kind text DEFAULT 'plain')""")
    data = tmp_path / "mapped.csv"
    data.write_text("SCORE,note,Name\n1,first,Ada\n,,Grace\n3,x,\n")
    s = run(dsn, data, "mapped")
    assert (s.rows_loaded, s.rows_rejected) == (2, 1)
    assert s.columns == ("score", "Note", "name")
    assert rejects_of(s) == [(4, "NULL in NOT NULL column name (column 3)")]
    rows = query(dsn, "SELECT id, name, score, \"Note\", created IS NOT NULL, kind "
                      "FROM mapped ORDER BY id")
    assert [r[1:] for r in rows] == [("Ada", 1, "first", True, "plain"),
                                     ("Grace", None, None, True, "plain")]
    assert all(isinstance(r[0], int) for r in rows)  # the identity filled in

    extra = tmp_path / "extra.csv"
    extra.write_text("name,colour\nAda,red\n")
    with pytest.raises(Exception, match=r"file column 'colour' \(field 2\) has no column"):
        run(dsn, extra, "mapped")
    s = run(dsn, extra, "mapped", ignore_extra=True)
    assert s.rows_loaded == 1 and query(dsn, "SELECT name FROM mapped") == [("Ada",)]

    missing = tmp_path / "missing.csv"
    missing.write_text("score\n1\n")
    with pytest.raises(Exception, match="name are NOT NULL without a default, and absent"):
        run(dsn, missing, "mapped")

    bare = tmp_path / "bare.csv"
    bare.write_text("Linus,7\n")
    proc = etl("load", str(bare), "--table", "mapped", "--no-header", "--columns", "name,score",
               "--truncate", dsn=dsn)
    assert proc.returncode == 0, proc.stderr
    assert query(dsn, "SELECT name, score FROM mapped") == [("Linus", 7)]


@pytest.mark.parametrize("impl", BOTH)
def test_dialect_options_bom_and_crlf(tmp_path, dsn, impl):
    make_table(dsn, "dialect", "CREATE TABLE {table} (id int, name text, note text)")
    cases = [
        (Dialect(delimiter=";"), "id;name;note\n1;a,b;\"x;y\"\n"),
        (Dialect(delimiter="\t"), "id\tname\tnote\n1\ta,b\t\"x\ty\"\n"),
        (Dialect(quote="'"), "id,name,note\n1,'a,b','x,y'\n"),
        (Dialect(escape="\\"), 'id,name,note\n1,"a\\"b","x\\\\y"\n'),
        (Dialect(null="NA"), 'id,name,note\n1,NA,"NA"\n'),
        (Dialect(), "\ufeffid,name,note\r\n1,a,\"x\r\ny\"\r\n"),
    ]
    expected = [(1, "a,b", "x;y"), (1, "a,b", "x\ty"), (1, "a,b", "x,y"), (1, 'a"b', "x\\y"),
                (1, None, "NA"), (1, "a", "x\r\ny")]
    for n, ((dialect, text), want) in enumerate(zip(cases, expected, strict=True)):
        data = tmp_path / f"d{n}.csv"
        data.write_bytes(text.encode())
        s = run(dsn, data, "dialect", impl, dialect=dialect)
        assert (s.rows_loaded, s.rows_rejected) == (1, 0), (dialect, rejects_of(s))
        assert query(dsn, "SELECT * FROM dialect") == [want], dialect


@pytest.mark.parametrize("impl", BOTH)
def test_encodings_convert_exactly_and_undecodable_bytes_are_located(tmp_path, dsn, impl):
    make_table(dsn, "enc", "CREATE TABLE {table} (id int, name text)")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("id,name\n1,Müller\n2,façade\n".encode("latin-1"))
    s = run(dsn, latin1, "enc", impl, dialect=Dialect(encoding="latin-1"))
    assert s.rows_loaded == 2
    assert query(dsn, "SELECT name FROM enc ORDER BY id") == [("Müller",), ("façade",)]
    s = run(dsn, latin1, "enc", impl)  # read as UTF-8: both rows are rejected, located
    assert s.rows_loaded == 0
    assert rejects_of(s) == [
        (2, "invalid byte 0xfc in column name (not valid in the file's encoding) (column 2)"),
        (3, "invalid byte 0xe7 in column name (not valid in the file's encoding) (column 2)")]
    cp1252 = tmp_path / "cp1252.csv"
    cp1252.write_bytes(b"id,name\n1,\x80uro\n2,bad\x81byte\n3,ok\n")
    s = run(dsn, cp1252, "enc", impl, dialect=Dialect(encoding="cp1252"))
    assert (s.rows_loaded, s.rows_rejected) == (2, 1)
    assert rejects_of(s) == [
        (3, "invalid byte 0x81 in column name (not valid in the file's encoding) (column 2)")]
    assert query(dsn, "SELECT name FROM enc ORDER BY id") == [("€uro",), ("ok",)]


def test_gz_zst_stdin_and_several_files(tmp_path, dsn):
    from backports import zstd

    make_table(dsn, "people_in", PEOPLE)
    plain = tmp_path / "p.csv"
    generate(plain, 3000, bad_ratio=0.002)  # 6 bad rows
    raw = plain.read_bytes()
    (tmp_path / "p.csv.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "p.csv.zst").write_bytes(zstd.compress(raw))
    base = run(dsn, plain, "people_in", batch_rows=500)
    want = query(dsn, "SELECT * FROM people_in ORDER BY id")
    for name in ("p.csv.gz", "p.csv.zst"):  # two workers: one reader, two connections
        s = run(dsn, tmp_path / name, "people_in", batch_rows=500, workers=2)
        assert (s.rows_loaded, rejects_of(s)) == (base.rows_loaded, rejects_of(base)), name
        assert query(dsn, "SELECT * FROM people_in ORDER BY id") == want, name
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "perflab", "etl", "load", "-", "--table", "people_in",
         "--truncate", "--json", "--rejects", str(tmp_path / "stdin.rejects.csv"),
         "--dsn", dsn], input=raw, capture_output=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert (s["rows_loaded"], s["rows_rejected"]) == (base.rows_loaded, base.rows_rejected)
    assert query(dsn, "SELECT * FROM people_in ORDER BY id") == want

    second = tmp_path / "q.csv"
    second.write_text("id,name,email,signup_date,score,country,notes\n"
                      "9001,Ok,o@x,,,,\n9002,Bad,b@x,2021-02-30,,,\n")
    for _ in range(2):  # --truncate starts every file's load over, not only the first's
        proc = etl("load", str(plain), str(second), "--table", "people_in", "--truncate",
                   "--json", dsn=dsn)
        assert proc.returncode == 0, proc.stderr
    first, other = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["rows_loaded"] == base.rows_loaded and other["rows_loaded"] == 1
    with open(other["rejects"], newline="") as f:
        assert [(r["line"], r["raw"]) for r in csv.DictReader(f)] == [
            ("3", "9002,Bad,b@x,2021-02-30,,,\n")]
    assert query(dsn, "SELECT count(*) FROM people_in")[0][0] == base.rows_loaded + 1


TYPED = """CREATE TABLE {table} (n int, u uuid, j jsonb, js json, ip inet, net cidr,
    a int[], t text[], m mood, ts timestamptz, tm time, iv interval, b bytea)"""
GOOD = [
    "1,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,\"{\"\"k\"\": [1, 2]}\",\"[1, true]\",10.0.0.1/8,"
    "10.0.0.0/8,\"{1,2,NULL}\",\"{\"\"a b\"\",c}\",happy,2024-01-02 03:04:05+02,12:30:00,"
    "1 day 2 hours,\\xdeadbeef\n",
    "2,{A0EEBC999C0B4EF8BB6D6BB9BD380A11},null,{},::1,2001:db8::/32,{},{},sad,infinity,"
    "24:00:00,P1Y2M,\\x\n",
]
BAD = [  # one bad field per row, in column order
    ("3,not-a-uuid,,,,,,,,,,,\n", "uuid"),
    ("4,,{bad json},,,,,,,,,,\n", "json"),
    ("5,,,NaN,,,,,,,,,\n", "json"),
    ("6,,,,10.0.0.300,,,,,,,,\n", "inet"),
    ("7,,,,,10.0.0.1/8,,,,,,,\n", "cidr"),
    ("8,,,,,,\"{1,x}\",,,,,,\n", "integer"),
    ("9,,,,,,,\"{a,\"\"b}\",,,,,\n", "array"),
    ("10,,,,,,,,angry,,,,\n", "mood"),
    ("11,,,,,,,,,2024-02-30 00:00:00+00,,,\n", "timestamp"),
    ("12,,,,,,,,,,25:61:00,,\n", "time"),
    ("13,,,,,,,,,,,soon,\n", "interval"),
    ("14,,,,,,,,,,,,\\xabc\n", "bytea"),
    ("15,,,,,,,,,Jan 99 2024,,,\n", ""),  # the server's wider syntax: its own verdict
    ("16,,,,,,,,,,,1 fortnight,\n", ""),
]


@pytest.mark.parametrize("impl", [*BOTH, "copy"])
def test_every_type_good_and_bad_each_bad_row_rejected_alone(tmp_path, dsn, impl):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN CREATE TYPE mood AS ENUM ('sad', 'happy'); "
                     "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    make_table(dsn, "typed_all", TYPED)
    data = tmp_path / "typed.csv"
    data.write_text("n,u,j,js,ip,net,a,t,m,ts,tm,iv,b\n" + "".join(GOOD)
                    + "".join(r for r, _ in BAD))
    s = run(dsn, data, "typed_all", impl, batch_rows=100)
    assert (s.rows_loaded, s.rows_rejected) == (2, len(BAD))
    rejects = rejects_of(s)
    assert [line for line, _ in rejects] == list(range(4, 4 + len(BAD)))
    for (_, reason), (_, needle) in zip(rejects, BAD, strict=True):
        assert needle in reason, (impl, reason)
    rows = query(dsn, "SELECT n, u::text, j::text, js::text, host(ip), net::text, a, t, "
                      "m::text, ts::text, tm::text, iv::text, encode(b, 'hex') "
                      "FROM typed_all ORDER BY n")
    assert rows[0][1:4] == ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", '{"k": [1, 2]}', "[1, true]")
    assert rows[0][6:9] == ([1, 2, None], ["a b", "c"], "happy") and rows[0][12] == "deadbeef"
    assert rows[1][2] == "null" and rows[1][9] == "infinity" and rows[1][12] == ""


@pytest.mark.parametrize("impl", [*BOTH, "copy"])
def test_quoted_empty_is_an_empty_string_unquoted_empty_is_null(tmp_path, dsn, impl):
    make_table(dsn, "empties", "CREATE TABLE {table} (id int, t text, n text NOT NULL, d date)")
    data = tmp_path / "empties.csv"
    data.write_text('id,t,n,d\n1,,"",\n2,"",x,\n3,x,,\n4,x,x,""\n5,"a""b",x,\n')
    s = run(dsn, data, "empties", impl)
    assert query(dsn, "SELECT id, t, n, d FROM empties ORDER BY id") == [
        (1, None, "", None), (2, "", "x", None), (5, 'a"b', "x", None)]
    assert [line for line, _ in rejects_of(s)] == [4, 5]
    assert "NULL in NOT NULL column n" in rejects_of(s)[0][1]
    assert "date" in rejects_of(s)[1][1]
    with_null = tmp_path / "with_null.csv"
    with_null.write_text('id,t,n,d\n1,NA,"NA",NA\n2,,x,\n')
    s = run(dsn, with_null, "empties", impl, dialect=Dialect(null="NA"))
    assert query(dsn, "SELECT id, t, n, d FROM empties ORDER BY id") == [(1, None, "NA", None)]
    assert [line for line, _ in rejects_of(s)] == [3]  # '' is not a date


def test_both_paths_give_the_same_table_and_rejects(tmp_path, dsn):
    """One file with every kind of bad row, through each checking path."""
    make_table(dsn, "same", PEOPLE)
    data = tmp_path / "same.csv"
    generate(data, 3000, bad_ratio=0.01)
    with open(data, "a") as f:
        f.write('5001,"",e@x,,,,""\n5002,"Ken"ny,k@x,,,,\n5003,x,y,2024-1-5,,,\n')
    results = {}
    for impl in (*BOTH, "copy-raw", "copy"):
        s = run(dsn, data, "same", impl, batch_rows=700)
        results[impl] = (query(dsn, "SELECT * FROM same ORDER BY id, name"),
                         [line for line, _ in rejects_of(s)])
    first = results["server-checks"]
    assert len(first[1]) == 30
    for impl, got in results.items():
        assert got == first, impl


@pytest.mark.parametrize("impl", BOTH)
def test_a_refused_window_that_starts_with_a_bad_quote_on_its_line_goes_on(tmp_path, dsn,
                                                                            impl):
    """`""a,"` opens a section that the next line's quote closes (even parity: the server
    gets the window, and refuses it); the exact reader rejects each line alone. Once
    this window started at such a row, `complete_rows` saw none and the window never
    grew past what it held: the load ran forever."""
    make_table(dsn, "bad_start", PEOPLE)
    data = tmp_path / "bad_start.csv"
    good = "{0},Name {0},n{0}@x.org,2021-01-01,1.50,US,\n".format
    data.write_text(HEADER + "".join(map(good, range(1, 3001))) + '3001,""a,"\n3002,a"\n'
                    + "".join(map(good, range(3003, 6001))))
    proc = etl("load", str(data), "--table", "bad_start", "--batch-rows", "500", "--json",
               "--workers", "1", "--impl", impl, dsn=dsn, timeout=HANG_S)  # a hang fails
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["rows_loaded"], summary["rows_rejected"]) == (5998, 2)
    with open(summary["rejects"], newline="") as f:
        assert [(r["line"], r["reason"]) for r in csv.DictReader(f)] == [
            ("3002", "bad quoting: unterminated quoted field"),
            ("3003", "bad quoting: a quote after text in a field must close on its line")]
    assert query(dsn, "SELECT count(*), count(DISTINCT id), min(id), max(id) "
                      "FROM bad_start")[0] == (5998, 5998, 1, 6000)


def test_a_row_the_server_refuses_for_a_constraint_is_rejected_alone(tmp_path, dsn):
    make_table(dsn, "keyed", "CREATE TABLE {table} (id int PRIMARY KEY, v int CHECK (v > 0))")
    data = tmp_path / "keyed.csv"
    data.write_text("id,v\n" + "".join(f"{i},{1 if i != 40 else -1}\n" for i in range(1, 100))
                    + "7,1\n")
    for impl in BOTH:
        s = run(dsn, data, "keyed", impl)
        assert (s.rows_loaded, s.rows_rejected) == (98, 2), impl
        reasons = rejects_of(s)
        assert [line for line, _ in reasons] == [41, 101]
        assert "check constraint" in reasons[0][1] and "duplicate key" in reasons[1][1]


@pytest.mark.parametrize("impl", BOTH)
def test_upsert_nothing_and_update_count_exactly(tmp_path, dsn, impl):
    make_table(dsn, "up", "CREATE TABLE {table} (id int PRIMARY KEY, v text, "
                          "at timestamptz DEFAULT now())")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO up (id, v) SELECT g, 'old' FROM generate_series(1, 5) g")
    data = tmp_path / "up.csv"
    data.write_text("id,v\n4,new4\n5,new5\n6,new6\n7,new7\n7,again7\nx,bad\n")
    s = load(LoadOptions(data, "up", dsn, IMPLS[impl], workers=1, on_conflict="nothing"))
    assert (s.rows_inserted, s.rows_updated, s.rows_skipped, s.rows_rejected) == (2, 0, 3, 1)
    assert s.rows_read == 6
    assert query(dsn, "SELECT id, v FROM up WHERE id >= 4 ORDER BY id") == [
        (4, "old"), (5, "old"), (6, "new6"), (7, "new7")]
    data.write_text("id,v\n1,upd1\n7,upd7\n8,new8\n8,again8\n")
    proc = etl("load", str(data), "--table", "up", "--on-conflict", "update", "--impl", impl,
               "--json", dsn=dsn)
    assert proc.returncode == 0, proc.stderr
    s2 = json.loads(proc.stdout)
    assert (s2["rows_inserted"], s2["rows_updated"], s2["rows_skipped"]) == (1, 3, 0)
    assert query(dsn, "SELECT id, v FROM up WHERE id IN (1, 7, 8) ORDER BY id") == [
        (1, "upd1"), (7, "upd7"), (8, "again8")]
    other = tmp_path / "other.csv"
    other.write_text("id\n1\n")
    bad = etl("load", str(other), "--table", "up", "--on-conflict", "update",
              "--conflict-columns", "v", dsn=dsn)
    assert bad.returncode == 2 and "conflict column 'v' is not among" in bad.stderr


def test_create_table_infers_types_and_prints_the_ddl(tmp_path, dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS inferred")
    data = tmp_path / "any.csv"
    data.write_text("Id,big,price,day,at,ok,label,empty\n"
                    "1,9000000000,1.5,2024-01-02,2024-01-02 03:04:05,true,a,\n"
                    "2,-3,2,2024-02-29,2024-01-02T03:04:05.5,f,b,\n")
    proc = etl("load", str(data), "--table", "inferred", "--create-table", dsn=dsn)
    assert proc.returncode == 0, proc.stderr
    assert 'CREATE TABLE IF NOT EXISTS "inferred" (\n    "Id" integer,' in proc.stderr
    types = query(dsn, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                       "WHERE attrelid = 'inferred'::regclass AND attnum > 0 ORDER BY attnum")
    assert [t for _, t in types] == ["integer", "bigint", "numeric", "date",
                                     "timestamp without time zone", "boolean", "text", "text"]
    assert query(dsn, "SELECT count(*) FROM inferred")[0][0] == 2


def _kill_mid_load(dsn: str, args: list[str], load: str, stdin=None) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "perflab", "etl", *args], env=env,
                            stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    committed = 0
    while time.monotonic() < deadline and committed < 3:
        time.sleep(0.02)
        committed = query(dsn, "SELECT count(*) FROM perflab_etl_journal "
                               "WHERE chunk >= 0 AND load_id = %s", load)[0][0]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_kill_and_resume_a_gz_load_and_refuse_resume_on_a_pipe(tmp_path, dsn):
    make_table(dsn, "resumed_gz", PEOPLE)
    plain = tmp_path / "big.csv"
    rows = 60_000
    generate(plain, rows)
    data = tmp_path / "big.csv.gz"
    data.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    # The default step with two workers: one reader's windows on two connections (_fanout).
    args = ["load", str(data), "--table", "resumed_gz", "--batch-rows", "500", "--workers", "2",
            "--dsn", dsn]
    _kill_mid_load(dsn, args, load_id(data, "resumed_gz"))
    (partial,) = query(dsn, "SELECT count(*) FROM resumed_gz")[0]
    assert 0 < partial < rows, "the kill must land mid-load"
    again = etl(*args[:-2], dsn=dsn)
    assert again.returncode == 2 and "was partly loaded" in again.stderr
    resumed = etl(*args[:-2], "--resume", dsn=dsn)
    assert resumed.returncode == 0, resumed.stderr
    assert query(dsn, "SELECT count(*), count(DISTINCT id), min(id), max(id) "
                      "FROM resumed_gz")[0] == (rows, rows, 1, rows)
    done = etl(*args[:-2], dsn=dsn)
    assert done.returncode == 2 and "was already loaded" in done.stderr

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    piped = subprocess.run([sys.executable, "-m", "perflab", "etl", "load", "-", "--table",
                            "resumed_gz", "--resume", "--dsn", dsn], input=b"",
                           capture_output=True, env=env)
    assert piped.returncode == 2
    assert piped.stderr.decode().splitlines()[0] == (
        "error: --resume cannot apply to standard input: a pipe cannot be read again")


def _damaged(tmp_path, kind: str, damage: str):
    """60,000 rows compressed, then cut in the middle or with bytes flipped."""
    from backports import zstd

    plain = tmp_path / "whole.csv"
    generate(plain, 60_000)
    raw = plain.read_bytes()
    data = bytearray(gzip.compress(raw, compresslevel=6) if kind == "gzip"
                     else zstd.compress(raw))
    if damage == "cut":
        del data[len(data) // 2:]
    else:  # "flip": inflates to wrong bytes, found by the CRC at the end of the member;
        at = len(data) // 2 if damage == "flip" else 10  # "flip-head": zlib.error at once
        data[at:at + 8] = bytes(b ^ 0xFF for b in data[at:at + 8])
    path = tmp_path / ("damaged.csv.gz" if kind == "gzip" else "damaged.csv.zst")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("kind", "damage", "workers", "impl"), [
    ("gzip", "cut", 1, "server-checks"),
    ("gzip", "cut", 2, "server-checks"),  # the fan-out: one reader, two connections
    ("gzip", "cut", 1, "block-regex"),  # the exact path, its parser in a thread
    ("gzip", "flip", 1, "server-checks"),
    ("gzip", "flip", 2, "server-checks"),
    ("gzip", "flip-head", 2, "server-checks"),
    ("zstd", "cut", 1, "server-checks"),
    ("zstd", "cut", 2, "server-checks"),
])
def test_a_corrupt_or_truncated_stream_is_one_error_and_commits_only_what_it_read(
        tmp_path, dsn, kind, damage, workers, impl):
    make_table(dsn, "damaged", PEOPLE)
    path = _damaged(tmp_path, kind, damage)
    args = ["load", str(path), "--table", "damaged", "--batch-rows", "500",
            "--workers", str(workers), "--impl", impl]
    # HANG_S: a reader's failure must end the load, not leave it waiting (no timing).
    proc = etl(*args, dsn=dsn, timeout=HANG_S)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    error = re.fullmatch(rf"error: {re.escape(str(path))}: corrupt or truncated {kind} stream, "
                         r"after ([\d,]+) decompressed bytes: .+", lines[0])
    assert error, proc.stderr
    assert len(lines) == 2 and lines[1].startswith("hint: "), proc.stderr
    reached = int(error[1].replace(",", ""))

    # As any fatal error mid-load: the chunks committed before it stay, with their
    # journal rows; nothing past the point the stream broke at is committed.
    load = load_id(path, "damaged")
    journal = "FROM perflab_etl_journal WHERE chunk >= 0 AND load_id = %s"
    committed, end = query(dsn, f"SELECT coalesce(sum(rows_loaded), 0), "
                                f"coalesce(max(end_offset), 0) {journal}", load)[0]
    count, ids = query(dsn, "SELECT count(*), count(DISTINCT id) FROM damaged")[0]
    assert count == committed and end <= reached
    if damage == "cut":  # the rows read before the cut: a prefix of the file, each once
        assert 0 < count == ids == query(dsn, "SELECT max(id) FROM damaged")[0][0]
    elif damage == "flip-head":
        assert count == 0

    # A rerun is refused as for any load that stopped after its plan was journalled; one
    # that broke in the header (before any plan) meets the same error again.
    planned = query(dsn, "SELECT count(*) FROM perflab_etl_journal WHERE chunk = -1 "
                         "AND load_id = %s", load)[0][0]
    assert planned == (0 if damage == "flip-head" else 1)
    again = etl(*args, dsn=dsn, timeout=HANG_S)
    assert again.returncode == 2, again.stderr
    assert ("was partly loaded" in again.stderr if planned
            else again.stderr.splitlines()[0] == lines[0]), again.stderr
    resumed = etl(*args, "--resume", dsn=dsn, timeout=HANG_S)  # the same file breaks again
    assert resumed.returncode == 2 and resumed.stderr.splitlines()[0] == lines[0], \
        resumed.stderr
    assert query(dsn, "SELECT count(*) FROM damaged")[0][0] == count


def test_bad_options_are_one_clear_error(tmp_path, dsn):
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    for args, message in (
        (["--delimiter", ";;"], "error: --delimiter must be one ASCII character, not ';;'"),
        (["--encoding", "nope"], "error: unknown --encoding 'nope'"),
        (["--encoding", "utf-16"], "error: --encoding utf-16: only ASCII-compatible"),
        (["--null", "a,b"], "error: --null must not contain the delimiter"),
    ):
        proc = etl("load", str(data), "--table", "mapped", *args, dsn=dsn)
        assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr


def test_two_clusters_a_table_per_part(tmp_path, dsn):
    """The distributed shape testable here (no Citus build): each part of the data is
    loaded into its own server concurrently, each with its own journal."""
    from perflab.services.postgres import private_cluster

    data = tmp_path / "all.csv"
    generate(data, 4000)
    with open(data, newline="") as f:
        header = f.readline()
        rows = [(fields, raw) for _, fields, raw, _ in csv_rows(Dialect(), iter(f), 2)]
    with private_cluster("tests-b") as other:
        targets = {"a": (dsn, []), "b": (other.dsn, [])}
        for fields, raw in rows:  # by key, as a distributed table would route them
            targets["a" if int(fields[0]) % 2 else "b"][1].append(raw)
        procs = []
        for name, (target, part) in targets.items():
            make_table(target, "shard", PEOPLE)
            path = tmp_path / f"{name}.csv"
            path.write_text(header + "".join(part))
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "perflab", "etl", "load", str(path), "--table", "shard",
                 "--json", "--dsn", target], stdout=subprocess.PIPE, env=env))
        loaded = [json.loads(p.communicate()[0])["rows_loaded"] for p in procs]
        counts = [query(t, "SELECT count(*), min(mod(id, 2)), max(mod(id, 2)) FROM shard")[0]
                  for t, _ in targets.values()]
    assert sum(loaded) == 4000 and counts == [(loaded[0], 1, 1), (loaded[1], 0, 0)]
