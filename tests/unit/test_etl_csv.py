"""PostgreSQL's CSV semantics in Python (`_csv`), the type checks, the mapping and inference."""

import io

import pytest

from perflab.errors import UsageError
from perflab.etl._catalog import map_columns
from perflab.etl._csv import Dialect, DialectError, RowReader, csv_rows, row_boundary
from perflab.etl._infer import infer_types
from perflab.etl._types import Column, validator_for

D = Dialect()


def rows(text: str, d: Dialect = D) -> list[tuple]:
    return [(line, fields, error is not None)
            for line, fields, _, error in csv_rows(d, iter(io.StringIO(text, newline="")), 2)]


def test_unquoted_empty_is_null_quoted_empty_is_an_empty_string():
    assert rows('a,,"",b\n') == [(2, ["a", None, "", "b"], False)]
    assert rows('x,"a""b",""\n') == [(2, ["x", 'a"b', ""], False)]
    assert rows('NA,"NA",\n', Dialect(null="NA")) == [(2, [None, "NA", ""], False)]


def test_quoted_sections_anywhere_in_a_field_as_postgresql_reads_them():
    assert rows('"Ken"ny,ab"c,d"e\n') == [(2, ["Kenny", "abc,de"], False)]
    assert rows('1,"two\nlines"\n2,x\n') == [(2, ["1", "two\nlines"], False),
                                           (4, ["2", "x"], False)]


def test_a_stray_quote_costs_its_line_only():
    assert rows('1,"Bad "Quote",x\n2,"ok, fine",y\n') == [
        (2, None, True), (3, ["2", "ok, fine", "y"], False)]
    assert rows('1,"open\n2,x\n') == [(2, None, True)]  # unterminated to the end


def test_crlf_and_a_lone_carriage_return():
    assert rows('1,a\r\n2,"b\r\nc"\r\n') == [(2, ["1", "a"], False), (3, ["2", "b\r\nc"], False)]
    assert rows("1,a\rb\n")[0][2] is True


@pytest.mark.parametrize("block", [1, 3, 7, 1 << 20])
def test_the_regex_reader_is_the_same_at_any_window_size(block):
    d = Dialect(delimiter=";", quote="'", escape="\\")
    text = "1;'a\\'b';x\n2;'multi\nline';'\\\\'\n3;plain;\n"
    reader = RowReader(d, io.StringIO(text).read, 1)
    reader.BLOCK_CHARS = block
    assert [f for _, f, _, _ in reader] == [["1", "a'b", "x"], ["2", "multi\nline", "\\"],
                                            ["3", "plain", None]]


def test_row_boundary_with_an_escape_that_is_not_the_quote():
    d = Dialect(escape="\\")
    data = b'1,"a\\"b\nc",x\n2,"d\n'
    assert row_boundary(d, data) == data.index(b"x\n") + 2
    assert row_boundary(d, b'1,"open\n') is None


@pytest.mark.parametrize("kwargs", [{"delimiter": ";;"}, {"quote": ","}, {"encoding": "utf-16"},
                                    {"encoding": "nope"}, {"null": "a,b"}, {"escape": "é"}])
def test_bad_dialects_are_refused(kwargs):
    with pytest.raises(DialectError):
        Dialect(**kwargs)


def test_copy_options_quote_their_literals():
    d = Dialect(delimiter="'", quote="|", null="N/A", encoding="latin-1")
    assert d.copy_options(encoding=True) == (
        "FORMAT csv, DELIMITER '''', QUOTE '|', NULL 'N/A', ENCODING 'LATIN1'")


TABLE = (Column("id", "bigint", True, has_default=True), Column("Name", "text", True),
         Column("score", "integer"), Column("made", "timestamp with time zone", True,
                                             has_default=True))


def test_mapping_is_by_name_case_insensitive_and_says_what_is_wrong():
    m = map_columns(["SCORE", "name"], TABLE, ignore_extra=False, where="f.csv", table_name="t")
    assert [c.name for c in m.fields] == ["score", "Name"]
    with pytest.raises(UsageError, match="'colour' \\(field 2\\) has no column"):
        map_columns(["name", "colour"], TABLE, ignore_extra=False, where="f", table_name="t")
    m = map_columns(["name", "colour"], TABLE, ignore_extra=True, where="f", table_name="t")
    assert m.drop == (1,) and m.keep(["a", "b"]) == ["a"]
    with pytest.raises(UsageError, match="Name are NOT NULL without a default"):
        map_columns(["score"], TABLE, ignore_extra=False, where="f", table_name="t")
    with pytest.raises(UsageError, match="both map to column 'Name'"):
        map_columns(["name", "NAME"], TABLE, ignore_extra=False, where="f", table_name="t")


@pytest.mark.parametrize(("pg_type", "good", "bad"), [
    ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99"),
    ("jsonb", '{"a": [1, null]}', "{'a': 1}"),
    ("inet", "192.168.0.1/24", "192.168.0.256"),
    ("cidr", "10/8", "10.0.0.1/8"),
    ("integer[]", "{{1,2},{3,NULL}}", "{1,two}"),
    ("timestamp with time zone", "2024-01-02 03:04:05.5+05:30", "2024-13-01"),
    ("time without time zone", "23:59:60", "24:00:01"),
    ("interval", "1 year 2 mons", "later"),
    ("bytea", "\\x00ff", "\\x0"),
    ("date", "2024-1-5", "2023-02-29"),
])
def test_type_checks_accept_the_good_and_refuse_the_certainly_bad(pg_type, good, bad):
    check = validator_for(pg_type)
    check(good)
    with pytest.raises(ValueError):
        check(bad)


def test_enum_checks_its_labels():
    check = validator_for("mood", ("sad", "happy"))
    check("sad")
    with pytest.raises(ValueError, match="enum mood"):
        check("Sad")
    validator_for("mood[]", ("sad",))("{sad,NULL}")


def test_inference_takes_the_narrowest_type_every_value_fits():
    rows = [["1", "9000000000", "1.5", "2024-01-02", "2024-01-02 03:04", "t", "x", None],
            ["-2", "1", "2", "2024-02-29", "2024-01-02T03:04:05", "false", "1", None]]
    assert infer_types(8, rows) == ["integer", "bigint", "numeric", "date", "timestamp",
                                    "boolean", "text", "text"]


@pytest.mark.parametrize("dialect", [Dialect(delimiter=";", quote="'"), Dialect(escape="\\")])
def test_parallel_parts_cut_only_at_row_boundaries_in_any_dialect(tmp_path, dialect):
    from perflab.etl._reader import open_range, split_ranges

    q, e, dl = dialect.quote, dialect.esc, dialect.delimiter
    rows = []
    pad = "x" * 120  # > 1 MiB in few rows: the file is split only past 1 MiB
    for i in range(10_000):  # escaped quotes, quoted newlines and delimiters
        text = f"{q}a{e}{q}b{dl}\nline {i}{e}{e}{q}" if i % 3 else f"plain {i}"
        rows.append(f"{i}{dl}{text}{dl}{q}{q}{dl}{pad}\n")
    data = tmp_path / "d.csv"
    data.write_text("".join(rows))
    parts = split_ranges(data, 3, 0, dialect, 1)
    assert len(parts) == 3

    def read(start, end, line):
        with open_range(data, start, end, 1 << 16, dialect) as text:
            return [(n, f) for n, f, _, err in csv_rows(dialect, iter(text), line)]

    whole = read(0, data.stat().st_size, 1)
    assert len(whole) == 10_000 and whole[1][1] == ["1", f"a{q}b{dl}\nline 1{e}", "", pad]
    assert [r for p in parts for r in read(p.start, p.end, p.line)] == whole
