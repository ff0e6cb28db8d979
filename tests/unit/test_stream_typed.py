"""The table's Struct (`_typed.py`) takes a message only as the dict path would: the same
row, byte for byte once encoded; what it leaves, the dict path decides."""

from __future__ import annotations

import json
import random

import msgspec
import pytest

from perflab.stream._decode import BadMessage
from perflab.stream._table import TableDecoder, TableSpec

COLUMNS = (
    ("i8", "Int8", ""), ("u8", "UInt8", ""), ("i64", "Int64", ""), ("u64", "UInt64", ""),
    ("i128", "Int128", ""), ("f32", "Float32", ""), ("f64", "Float64", ""),
    ("s", "String", ""), ("lc", "LowCardinality(String)", ""), ("b", "Bool", ""),
    ("ni", "Nullable(Int32)", ""), ("ns", "LowCardinality(Nullable(String))", ""),
    ("ai", "Array(Int16)", ""), ("ans", "Array(Nullable(String))", ""),
    ("m", "Map(String, String)", ""), ("mi", "Map(String, Int32)", ""),
    ("d", "Decimal(9, 2)", ""), ("day", "Date", ""), ("t", "DateTime64(3, 'UTC')", ""),
    ("u", "UUID", ""), ("e", "Enum8('a' = 1, 'b' = 2)", ""), ("fs", "FixedString(4)", ""),
    ("tup", "Tuple(a Int8, b String)", ""), ("dflt", "Int32", "DEFAULT"),
    ("deep", "UInt16", ""), ("deeper", "String", ""),
    ("_topic", "String", ""), ("_offset", "UInt64", ""),
)
MAPPING = (("deep", ("data", "x")), ("deeper", ("data", "y", "z")))

ODD = [0, 1, -1, 127, 128, -128, -129, 255, 256, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
       2**127, 2**200, -2**63, -2**63 - 1, 1.0, -0.0, 0.5, 1e38, 3.5e38, 1e308, 1e400, -1e400,
       "", "x", "12", "-5", "1.5", "abcd", "abcde", "é", "ééé", "2026-12-02",
       "2026-12-02T10:00:00Z", "2026-12-02 10:00:00.123", "a", "b", "c",
       "12345678-1234-5678-1234-567812345678", True, False, None, [], [1, 2], [1, None],
       ["x", None], [40000], {}, {"k": "v"}, {"k": 1}, {"a": 1, "b": "x"}, {"x": 5},
       {"y": {"z": "deep"}}, {"y": 3}]


def _good() -> dict:
    return {"i8": -5, "u8": 200, "i64": -2**40, "u64": 2**64 - 1, "i128": 2**100, "f32": 1.5,
            "f64": 2.25, "s": "text", "lc": "low", "b": True, "ni": None, "ns": "n",
            "ai": [1, -2], "ans": ["a", None], "m": {"k": "v"}, "mi": {"k": 3},
            "d": "12.34", "day": "2026-12-02", "t": "2026-12-02T10:00:00.123Z",
            "u": "12345678-1234-5678-1234-567812345678", "e": "a", "fs": "abcd",
            "tup": {"a": 1, "b": "x"}, "data": {"x": 7, "y": {"z": "deep"}}}


def _messages(rng: random.Random, count: int) -> list[bytes]:
    out = [json.dumps(_good()).encode()]
    keys = [c[0] for c in COLUMNS if not c[0].startswith("_")] + ["data", "extra"]
    for _ in range(count):
        obj = _good()
        for _ in range(rng.randint(0, 3)):  # a few odd values, a missing key or an extra one
            key = rng.choice(keys)
            if rng.random() < 0.15:
                obj.pop(key, None)
            else:
                obj[key] = rng.choice(ODD)
        text = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.05:
            text = text[:-1] + ', "i8": 3}'  # a duplicate key: the last one counts
        raw = text.encode()
        if rng.random() < 0.03:
            raw = raw.replace(b'"text"', b'"t\xffxt"')  # invalid UTF-8 in a string
        out.append(raw)
    return out


@pytest.mark.parametrize("strict", [False, True])
def test_the_struct_takes_what_the_dict_path_makes_the_same_row_of(strict):
    target = TableSpec("t", MAPPING, columns=COLUMNS, strict=strict).target()
    decoder = TableDecoder(target)
    typed = decoder._typed
    assert typed is not None
    encode = msgspec.json.encode
    taken = 0
    for i, value in enumerate(_messages(random.Random(7 + strict), 3000)):
        message = (0, i, value, 0)
        fast = typed(value)
        try:
            slow = decoder.row("topic", message)
        except BadMessage:
            assert fast is None, value  # the Struct never takes what the dict path refuses
            continue
        if fast is not None:
            taken += 1
            assert encode(decoder._with_source(fast, "topic", message)) == encode(slow), value
    assert typed(json.dumps(_good()).encode()) is not None
    assert taken > 600  # most good messages take the Struct; the rest were left to row()


def test_a_batch_reads_the_same_either_way():
    """The decoder's output (rows and dead letters) equals the dict path's alone."""
    target = TableSpec("t", MAPPING, columns=COLUMNS).target()
    from perflab.stream._table import _parse_json

    batch = [(0, i, v, 0) for i, v in enumerate(_messages(random.Random(3), 1000))]
    both, dicts = TableDecoder(target)("topic", batch), TableDecoder(target, _parse_json())(
        "topic", batch)
    assert (both.rows, both.rows_count, both.dead_count) == (
        dicts.rows, dicts.rows_count, dicts.dead_count)
    assert both.rows_count > 100 and both.dead_count > 100


def test_a_key_that_is_both_a_value_and_an_object_has_no_struct():
    spec = TableSpec("t", (("a", ("data",)), ("b", ("data", "x"))),
                     columns=(("a", "String", ""), ("b", "String", "")))
    assert TableDecoder(spec.target())._typed is None


def test_a_validator_that_fails_costs_one_dead_letter_not_the_stream(capsys):
    """A bug in a column's check (an exception other than BadValue) makes that message a
    dead letter that names the exception, and is reported on stderr once, with its
    traceback; the rest of the batch is inserted."""
    target = TableSpec("t", columns=(("d", "Decimal(9, 2)", ""),)).target()
    from dataclasses import replace

    def broken(value):
        if value == "6.66":
            raise ZeroDivisionError("division by zero")
        return value

    target = replace(target, columns=(replace(target.columns[0], convert=broken),))
    values = [b"1.00", b"6.66", b"2.50", b"6.66"]
    batch = [(0, i, b'{"d": "%s"}' % v, 0) for i, v in enumerate(values)]
    out = TableDecoder(target)("topic", batch)
    assert (out.rows_count, out.dead_count) == (2, 2)
    assert b"could not check the message: ZeroDivisionError" in out.dead
    err = capsys.readouterr().err
    assert err.count("failed unexpectedly (ZeroDivisionError") == 1
    assert "Traceback" in err and "in broken" in err
