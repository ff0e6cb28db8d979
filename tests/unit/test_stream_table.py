"""Messages onto the user's table (pure): mapping, defaults, source columns, dead letters."""

from __future__ import annotations

import json

import pytest

from perflab.errors import InputError, ServiceError, UsageError
from perflab.services.clickhouse import is_transient, quote_table
from perflab.stream._table import TableDecoder, TableSpec, dedup_token, parse_mapping, read_mapping

COLUMNS = (("id", "UInt32", ""), ("name", "String", ""), ("city", "LowCardinality(String)", ""),
           ("score", "Nullable(Float64)", ""), ("level", "UInt8", "DEFAULT"),
           ("day", "Date", "MATERIALIZED"), ("_topic", "String", ""),
           ("_partition", "UInt32", ""), ("_offset", "UInt64", ""))


def decode(values, columns=COLUMNS, **kw):
    spec = TableSpec("t", columns=columns, **kw)
    batch = [(1, i, None if v is None else (v if isinstance(v, bytes) else json.dumps(v).encode()),
              0) for i, v in enumerate(values)]
    return TableDecoder(spec.target())("orders", batch)


def rows(out):
    return [json.loads(line) for line in out.rows.splitlines()]


def reasons(out):
    return [json.loads(line)["reason"] for line in out.dead.splitlines()]


def test_keys_map_by_name_nested_by_path_and_source_columns_are_filled():
    out = decode([{"id": 1, "name": "a", "addr": {"city": "Oslo"}, "extra": [1]}],
                 mapping=(("city", ("addr", "city")),))
    assert rows(out) == [{"id": 1, "name": "a", "city": "Oslo", "score": None,
                          "_topic": "orders", "_partition": 1, "_offset": 0}]
    assert "insert_deduplication_token" not in out.settings  # the rows say where they came from


def test_missing_keys_take_the_default_null_or_make_a_dead_letter():
    out = decode([{"id": 1, "name": "a", "city": "x"}, {"id": 2, "city": "x"},
                  {"id": 3, "name": "b", "city": "x", "level": 300}])
    assert [r["id"] for r in rows(out)] == [1]
    assert "level" not in rows(out)[0]  # left out: ClickHouse fills its DEFAULT
    assert reasons(out) == ["missing field name",
                            "column level: 300 is out of range for UInt8 [0, 255]"]
    assert out.rows_count + out.dead_count == 3


def test_bad_messages_of_every_kind_are_dead_letters_with_the_reason():
    out = decode([b"{not json", b"[1, 2]", None, b'{"id": 1, "name": "\xff"}', b"",
                  {"id": 1, "name": "a", "city": "x", "unknown": 1}], strict=True)
    got = reasons(out)
    assert got[0].startswith("invalid JSON") and got[1] == "not an object: list"
    assert got[2] == "empty message" and got[3].startswith("invalid UTF-8")
    assert got[4].startswith("invalid JSON") and got[5] == "unknown field unknown"
    assert out.rows_count == 0


def test_a_table_without_source_columns_gets_a_dedup_token_per_batch():
    columns = (("id", "UInt32", ""),)
    first = decode([{"id": 1}, {"id": 2}], columns=columns)
    again = decode([{"id": 1}, {"id": 2}], columns=columns)
    assert first.settings["insert_deduplication_token"] == \
        again.settings["insert_deduplication_token"] == "orders/1:0-1/2"
    assert first.origins is not None and [m[1] for m in first.origins] == [0, 1]
    assert dedup_token("t", [(0, 5, b"", 0), (2, 9, b"", 0), (0, 7, b"", 0)]) == "t/0:5-7,2:9-9/3"


def test_source_column_names_can_be_set_and_unknown_types_are_refused_at_start_up():
    columns = (("id", "UInt32", ""), ("src", "String", ""), ("off", "UInt64", ""))
    out = decode([{"id": 1}], columns=columns, source_columns=("src", "part", "off"))
    assert rows(out) == [{"id": 1, "src": "orders", "off": 0}]
    with pytest.raises(UsageError, match="column ip: type IPv4 is not supported"):
        TableSpec("t", columns=(("ip", "IPv4", ""),)).target()
    TableSpec("t", columns=(("ip", "IPv4", "DEFAULT"),)).target()  # ClickHouse fills it
    with pytest.raises(UsageError, match="nope"):
        TableSpec("t", columns=columns, mapping=(("nope", ("a",)),)).target()


def test_mapping_options_and_files(tmp_path):
    assert parse_mapping(["a=x.y", " b = z "]) == {"a": ("x", "y"), "b": ("z",)}
    for bad in ("a", "=x", "a=", "a=x..y"):
        with pytest.raises(UsageError):
            parse_mapping([bad])
    good = tmp_path / "m.toml"
    good.write_text('[columns]\ncity = "addr.city"\n')
    assert read_mapping(good) == {"city": ("addr", "city")}
    broken = tmp_path / "b.toml"
    broken.write_text('city = "addr.city"\nzip = \n')
    with pytest.raises(InputError) as caught:
        read_mapping(broken)
    assert str(caught.value).startswith(f"{broken}:2:")
    typed = tmp_path / "t.toml"
    typed.write_text("city = 5\n")
    with pytest.raises(InputError):
        read_mapping(typed)
    with pytest.raises(InputError):
        read_mapping(tmp_path / "missing.toml")


@pytest.mark.parametrize(("text", "transient"), [
    ("Code: 252. DB::Exception: Too many parts (3 with average size of 1.00 KiB) in table", True),
    ("Code: 241. DB::Exception: (total) memory limit exceeded: would use 1.00 GiB", True),
    ("Code: 159. DB::Exception: Timeout exceeded: elapsed 5 seconds", True),
    ("HTTPConnectionPool(host='x', port=8123): Max retries exceeded (Connection refused)", True),
    ("HTTP 503 Service Unavailable", True),
    ("HTTPDriver for http://ch:8123 returned response code 502", True),
    ("HTTPDriver for http://ch:8123 returned response code 500)\n Code: 27. Cannot parse", False),
    ("Code: 27. DB::Exception: Cannot parse input: expected '{' (at row 1)", False),
    ("Code: 117. DB::Exception: Unknown field found while parsing JSONEachRow format", False),
    ("Code: 53. DB::Exception: Type mismatch in IN or VALUES section", False),
    ("Code: 60. DB::Exception: Table default.nope does not exist", False),
])
def test_sink_errors_are_told_apart(text, transient):
    assert is_transient(ServiceError(text)) is transient


def test_a_connection_error_behind_a_service_error_is_transient():
    try:
        try:
            raise ConnectionResetError(104, "reset by peer")
        except OSError as exc:
            raise ServiceError("ClickHouse insert into t: failed") from exc
    except ServiceError as wrapped:
        assert is_transient(wrapped)


def test_table_names_are_quoted_with_their_database():
    assert quote_table("db.t") == "`db`.`t`"
    assert quote_table("a`b") == "`a\\`b`"
