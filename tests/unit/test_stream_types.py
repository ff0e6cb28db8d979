"""The type core of `perflab stream run --table`: ClickHouse type strings as validators."""

from __future__ import annotations

import contextlib

import pytest

from perflab.stream._types import BadValue, UnsupportedType, converter, is_nullable, parse_type

GOOD = [
    ("Int8", -128, -128), ("Int8", 127, 127), ("UInt8", 255, 255), ("Int8", "-5", -5),
    ("UInt64", 2**64 - 1, 2**64 - 1), ("Int64", -(2**63), -(2**63)),
    ("Int128", 2**127 - 1, str(2**127 - 1)), ("UInt256", "0", "0"),
    ("Int256", -(2**255), str(-(2**255))),
    ("Float32", 1, 1.0), ("Float64", 1e308, 1e308), ("Float32", -3.4e38, -3.4e38),
    ("Decimal(10, 2)", 1.5, "1.50"), ("Decimal(10, 2)", "12345678.91", "12345678.91"),
    ("Decimal(10, 2)", 7, "7.00"), ("Decimal(10, 2)", "1.200", "1.20"),
    ("Decimal32(4)", "-99999.9999", "-99999.9999"), ("Decimal(76, 0)", "9" * 76, "9" * 76),
    ("String", "é", "é"), ("FixedString(3)", "ab", "ab"), ("FixedString(2)", "é", "é"),
    ("LowCardinality(String)", "x", "x"), ("Bool", True, True), ("Bool", False, False),
    ("Date", "2026-01-01", "2026-01-01"), ("Date", 0, "1970-01-01"),
    ("Date", "2149-06-06", "2149-06-06"), ("Date32", "1900-01-01", "1900-01-01"),
    ("Date32", -25567, "1900-01-01"), ("Date32", "2299-12-31", "2299-12-31"),
    ("DateTime", 0, "1970-01-01T00:00:00Z"), ("DateTime", 4294967295, "2106-02-07T06:28:15Z"),
    ("DateTime", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("DateTime", "2026-01-01 02:00:00+02:00", "2026-01-01T00:00:00Z"),
    ("DateTime('Asia/Tokyo')", "2026-01-01 09:00:00", "2026-01-01T00:00:00Z"),
    ("DateTime", 1767225600.0, "2026-01-01T00:00:00Z"),
    ("DateTime64(3)", 1767225600294, "2026-01-01T00:00:00.294Z"),
    ("DateTime64(3)", 1767225600.294, "2026-01-01T00:00:00.294Z"),
    ("DateTime64(3)", "2026-01-01T00:00:00.294Z", "2026-01-01T00:00:00.294Z"),
    ("DateTime64(3)", "2026-01-01T00:00:00.29400Z", "2026-01-01T00:00:00.294Z"),
    ("DateTime64(3)", "1900-01-01T00:00:00Z", "1900-01-01T00:00:00.000Z"),
    ("DateTime64(9, 'UTC')", "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775807Z"),
    ("DateTime64(0)", "2299-12-31T23:59:59Z", "2299-12-31T23:59:59Z"),
    ("DateTime64(6, 'America/New_York')", "2026-07-01 08:00:00.000001",
     "2026-07-01T12:00:00.000001Z"),
    ("UUID", "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
    ("Enum8('a' = 1, 'b' = -2)", "b", "b"), ("Enum8('a' = 1, 'b' = -2)", -2, "b"),
    ("Enum16('it''s' = 1000)", 1000, "it's"), ("Enum8('x\\'y' = 1)", 1, "x'y"),
    ("Nullable(Int8)", None, None), ("Nullable(Int8)", 3, 3),
    ("LowCardinality(Nullable(String))", None, None),
    ("Array(UInt8)", [1, 2], [1, 2]), ("Array(Array(String))", [["a"], []], [["a"], []]),
    ("Array(Nullable(Int8))", [None, 1], [None, 1]),
    ("Map(String, Int32)", {"a": 1}, {"a": 1}), ("Map(UInt32, String)", {"7": "x"}, {"7": "x"}),
    ("Map(LowCardinality(String), Array(Float64))", {"k": [1]}, {"k": [1.0]}),
    ("Tuple(Int8, String)", [1, "x"], [1, "x"]),
    ("Tuple(a Int8, b Nullable(String))", {"a": 1}, {"a": 1, "b": None}),
    ("Tuple(a Int8, b String)", [1, "x"], {"a": 1, "b": "x"}),
    ("Tuple(a Tuple(b Array(UInt8)))", {"a": {"b": [1]}}, {"a": {"b": [1]}}),
]

BAD = [
    ("Int8", 128, "128 is out of range for Int8 [-128, 127]"),
    ("Int8", -129, "out of range"), ("UInt8", -1, "out of range for UInt8"),
    ("UInt64", 2**64, "out of range"), ("Int64", 2**63, "out of range"),
    ("Int128", 2**127, "out of range"), ("UInt256", 2**256, "out of range"),
    ("Int32", True, "expected an integer for Int32, got bool"),
    ("Int32", 1.0, "got number"), ("Int32", "1.5", "got string"), ("Int32", None, "got null"),
    ("Float64", "1", "expected a number"), ("Float64", False, "got bool"),
    ("Float32", 1e39, "out of range for Float32"), ("Float64", 10**400, "out of range"),
    ("Decimal(10, 2)", "1.234", "more than 2 decimal places"),
    ("Decimal(10, 2)", 0.001, "more than 2 decimal places"),
    ("Decimal(4, 2)", 100, "out of range"), ("Decimal(4, 2)", "-100.00", "out of range"),
    ("Decimal(9, 2)", 1e308, "out of range"), ("Decimal(76, 0)", "-1e199", "out of range"),
    ("Decimal(10, 2)", "abc", "not a decimal"), ("Decimal(10, 2)", "NaN", "not a decimal"),
    ("Decimal(10, 2)", True, "got bool"),
    ("String", 5, "expected a string, got integer"), ("String", None, "got null"),
    ("String", {"a": 1}, "got object"),
    ("FixedString(3)", "abcd", "4 bytes do not fit FixedString(3)"),
    ("FixedString(2)", "éé", "4 bytes"),
    ("Bool", 1, "expected true or false"), ("Bool", "true", "got string"),
    ("Date", "2149-06-07", "out of range for Date"), ("Date", "1969-12-31", "out of range"),
    ("Date", "2026-02-30", "not a date"), ("Date", "2026-1-1", "not a date"),
    ("Date", -1, "out of range"), ("Date32", "1899-12-31", "out of range"),
    ("Date", 10**12, "out of range"),
    ("DateTime", "1969-12-31T23:59:59Z", "out of range"), ("DateTime", 2**32, "out of range"),
    ("DateTime", 1.5, "fractional"), ("DateTime", "2026-01-01T00:00:00.5Z", "fractional"),
    ("DateTime", "yesterday", "not an ISO 8601"), ("DateTime", True, "got bool"),
    ("DateTime64(3)", "2026-01-01T00:00:00.2941Z", "more than 3 fractional digits"),
    ("DateTime64(3)", "1899-12-31T23:59:59.999Z", "out of range"),
    ("DateTime64(3)", "2300-01-01T00:00:00Z", "out of range"),
    ("DateTime64(9)", "2262-04-11T23:47:16.854775808Z", "out of range"),
    ("DateTime64(3)", float("inf"), "not a time"),
    ("UUID", "6ba7b810-9dad-11d1-80b4", "not a UUID"), ("UUID", 5, "got integer"),
    ("Enum8('a' = 1)", "b", "'b' is not a member"), ("Enum8('a' = 1)", 2, "not a member"),
    ("Enum8('a' = 1)", None, "got null"),
    ("Int8", None, "got null"),
    ("Array(UInt8)", [1, 256], "[1]: 256 is out of range"), ("Array(UInt8)", "x", "an array"),
    ("Map(String, Int8)", {"a": 300}, "['a']: 300 is out of range"),
    ("Map(UInt8, String)", {"300": "x"}, "out of range"),
    ("Map(UInt8, String)", {"x": "x"}, "not an integer"), ("Map(String, String)", [], "object"),
    ("Tuple(Int8, String)", [1], "expected 2 elements"),
    ("Tuple(Int8, String)", [1, 2], "[1]: expected a string"),
    ("Tuple(a Int8, b String)", {"a": 1}, "missing element b"),
    ("Tuple(a Int8, b String)", {"a": 1000, "b": ""}, ".a: 1000 is out of range"),
    ("Tuple(Int8)", {"a": 1}, "expected an array"),
]


@pytest.mark.parametrize(("kind", "value", "stored"), GOOD)
def test_a_value_that_fits_is_sent_as_clickhouse_reads_it(kind, value, stored):
    assert converter(kind)(value) == stored


@pytest.mark.parametrize(("kind", "value", "reason"), BAD)
def test_a_value_that_does_not_fit_is_refused_with_the_reason(kind, value, reason):
    with pytest.raises(BadValue, match=None) as caught:
        converter(kind)(value)
    assert reason in str(caught.value), str(caught.value)


@pytest.mark.parametrize("kind", ["IPv4", "JSON", "Variant(String, UInt8)", "Nothing",
                                  "Decimal(77, 2)", "DateTime64(10)", "FixedString",
                                  "DateTime('Mars/Olympus')", "Array(", "Int8)", "Map(String)",
                                  "Tuple(a)", "Enum8('a')", "'x'", ""])
def test_types_it_cannot_check_are_said_at_start_up(kind):
    with pytest.raises(UnsupportedType):
        converter(kind)


def test_type_strings_as_system_columns_spells_them():
    node = parse_type("Map(LowCardinality(String), Tuple(`a b` Nullable(Decimal(9, 2)), c "
                      "Enum8('x' = 1, 'y,z' = 2)))")
    assert node.name == "Map" and node.args[0].name == "LowCardinality"
    inner = node.args[1]
    assert inner.args[0][0] == "a b" and inner.args[1][1].args == (("x", 1), ("y,z", 2))
    assert is_nullable("Nullable(UInt8)") and is_nullable("LowCardinality(Nullable(String))")
    assert not is_nullable("Array(Nullable(UInt8))")


def test_no_integer_is_wrapped_at_any_width():
    for bits in (8, 16, 32, 64, 128, 256):
        for signed in (True, False):
            name = f"{'' if signed else 'U'}Int{bits}"
            low = -(2 ** (bits - 1)) if signed else 0
            high = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
            check = converter(name)
            assert int(check(low)) == low and int(check(high)) == high
            for outside in (low - 1, high + 1):
                with pytest.raises(BadValue):
                    check(outside)


_HOSTILE_TYPES = [
    "Int8", "UInt64", "Int128", "UInt256", "Float32", "Float64", "Decimal(9, 2)",
    "Decimal(76, 10)", "Decimal(1, 1)", "String", "FixedString(4)", "Bool", "UUID", "Date",
    "Date32", "DateTime", "DateTime('Europe/Paris')", "DateTime64(3)", "DateTime64(9, 'UTC')",
    "Enum8('a' = 1, 'b' = -2)", "Nullable(Int32)", "Array(Int16)", "Array(Array(String))",
    "Map(String, Int32)", "Map(UInt8, String)", "Map(Int64, Array(Nullable(Float32)))",
    "Tuple(a Int8, b String)", "Tuple(Int8, Nullable(String))",
    "LowCardinality(Nullable(String))"]
_HOSTILE_VALUES = [
    0, -1, 2**64, 2**300, -2**300, 10**400, 1.0, -0.0, 1e308, 1e-320, float("inf"),
    float("nan"), "", "12", " 12 ", "1e400", "-1e-400", "NaN", "Infinity", "sNaN", "١٢",
    "2026-02-30",
    "0000-01-01", "99999-01-01", "2026-12-02T25:00:00", "2026-12-02T10:00:00+99:00",
    "2026-12-02 10:00:00.123456789123", "1969-12-31 23:59:59", "a" * 300, "\x00",
    "{12345678-1234-5678-1234-567812345678}", True, None, [], [1, None], [[["deep"]]], {},
    {"1": 1}, {"-1": "x"}, {"300": "x"}, {"a": None}, [1, "x"], [None, None]]


@pytest.mark.parametrize("kind", _HOSTILE_TYPES)
def test_a_hostile_value_is_a_dead_letter_never_a_crash(kind):
    """Every validator returns or raises BadValue (the message's dead letter): any other
    exception would stop the processor on one message."""
    convert = converter(kind)
    for value in _HOSTILE_VALUES:
        with contextlib.suppress(BadValue):
            convert(value)
