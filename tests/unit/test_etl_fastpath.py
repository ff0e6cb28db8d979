import pytest

from perflab.etl._csv import Dialect, csv_rows, row_boundary
from perflab.etl._fastpath import row_pattern
from perflab.etl._gen import generate
from perflab.etl._types import Column, RowError, validate_row, validator_for

D = Dialect()

PEOPLE = (
    Column("id", "bigint", True),
    Column("name", "character varying(80)", True),
    Column("email", "text", True),
    Column("signup_date", "date"),
    Column("score", "numeric(8,2)"),
    Column("country", "character(2)"),
    Column("notes", "text"),
)
CHECKS = [validator_for(c.type) for c in PEOPLE]


def slow_accepts(line: str) -> bool:
    try:
        ((_, fields, _, error),) = list(csv_rows(D, iter([line]), 1))
        if error is not None or fields is None:
            return False
        validate_row(fields, PEOPLE, CHECKS)
    except (RowError, ValueError):
        return False
    return True


def test_fast_path_never_accepts_what_the_exact_checks_refuse(tmp_path):
    path = tmp_path / "p.csv"
    generate(path, 5000, bad_ratio=0.02)
    pattern = row_pattern(PEOPLE, D)
    assert pattern is not None
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        next(f)
        rows = [raw for _, fields, raw, _ in csv_rows(D, iter(f), 2) if fields is not None]
    assert len(rows) > 4000 and text
    fast = [row for row in rows if pattern.fullmatch(row)]
    assert len(fast) > 0.9 * 5000  # nearly every row takes the fast path
    assert all(slow_accepts(line) for line in fast)


@pytest.mark.parametrize(
    "line",
    [
        "1,A,a@x,2024-02-29,1.00,US,\n",  # a real date, but day > 28: left to the exact check
        "1234567890123456789,A,a@x,,,,\n",  # 19 digits: may overflow, exact check decides
        '1,"A\nB",a@x,,,,\n',  # a newline inside a bounded (varchar) field
        "1,,a@x,,,,\n",  # NULL in NOT NULL
        '1,"",a@x,,,,\n',  # quoted empty in NOT NULL: the exact check rejects it
        "1,A \udcff,a@x,,,,\n",  # not UTF-8
        "1,A,a@x,,1234567.0,,\n",  # numeric(8,2) overflow
        "1,A,a@x,,,USA,\n",  # char(2) overflow
    ],
)
def test_fast_path_leaves_doubtful_rows_to_the_exact_checks(line):
    pattern = row_pattern(PEOPLE, D)
    assert pattern is not None and not pattern.fullmatch(line)


def test_unknown_type_disables_the_fast_path():
    assert row_pattern((Column("j", "jsonb"),), D) is None


def test_a_window_is_cut_after_its_last_complete_row():
    assert row_boundary(D, b'1,"x""y\nz",2\n3,4') == 13  # the quoted newline is no row end
    assert row_boundary(D, b'1,a\n2,"b\nc') == 4  # the last row is unfinished
    assert row_boundary(D, b'1,"b\nc') is None  # no row ends in the window
    assert row_boundary(D, b"no newline") is None
