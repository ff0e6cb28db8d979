"""The per-file output core: runs, context, -o, -c, binary files, -z (no processes)."""

from __future__ import annotations

import pytest

from perflab.search._matcher import PatternSpec, compile_bytes
from perflab.search._output import FIRST_BUFFER, Format, format_buffer


def out(data: bytes, pattern: str = "a", name: str = "f", **kw) -> tuple[bytes, int, bool]:
    mode = kw.pop("mode", "lines")
    numbers = kw.pop("numbers", False)
    fmt = Format(mode, numbers, kw.pop("with_filename", False), **kw)
    result = format_buffer(name, data, len(data), compile_bytes(PatternSpec(pattern)), fmt)
    return result.out, result.selected, result.binary


TEXT = b"a1\nb\na2\nc\nd\ne\na3\nf\n"


def test_invert_prints_the_stretches_between_matches_with_names():
    assert out(TEXT, invert=True, with_filename=True) == (
        b"f:b\nf:c\nf:d\nf:e\nf:f\n", 5, False)
    assert out(TEXT, invert=True, numbers=True)[0] == b"2:b\n4:c\n5:d\n6:e\n8:f\n"
    assert out(b"x\ny", invert=True) == (b"x\ny\n", 2, False)  # a final newline is added


def test_context_groups_and_separators():
    # Every group starts with "--"; the parent drops the first of the whole output.
    assert out(TEXT, numbers=True, before=1, after=1, context=True)[0] == (
        b"--\n1:a1\n2-b\n3:a2\n4-c\n--\n6-e\n7:a3\n8-f\n")
    assert out(TEXT, context=True)[0] == b"--\na1\n--\na2\n--\na3\n"  # -A 0: still "--"


def test_max_count_then_trailing_context():
    assert out(TEXT, max_count=1, after=2, context=True)[0] == b"--\na1\nb\na2\n"
    assert out(TEXT, max_count=2, invert=True) == (b"b\nc\n", 2, False)


def test_only_matching_and_count():
    assert out(b"aXa\nb\n", "a", mode="only", numbers=True)[0] == b"1:a\n1:a\n"
    assert out(b"aXa\nb\n", "a*", mode="only")[0] == b"a\na\n"  # empty matches skipped
    assert out(b"b\n", mode="count", with_filename=True) == (b"f:0\n", 0, False)
    assert out(TEXT, mode="count", null=True, with_filename=True)[0] == b"f\x003\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\x00\na\n", (b"", 2, True)),  # binary from the start: no line printed
        (b"a\n" + b"x" * FIRST_BUFFER + b"\n\x00a\n", (b"a\n", 2, True)),  # text, then binary
        (b"a\n" + b"x" * FIRST_BUFFER + b"\n\x00\n", (b"a\n", 1, False)),  # no match after it
    ],
)
def test_binary_files_as_grep(data, expected):
    assert out(data) == expected


def test_binary_counts_split_lines_at_nul():
    assert out(b"a\x00a\nb\n", mode="count")[0] == b"2\n"  # grep -c: NUL ends a line here
    assert out(b"a\x00a\nb\n", mode="count", binary_text=True)[0] == b"1\n"  # -a: as text


def test_null_data_records():
    assert out(b"a\nb\x00c\x00a\x00", null_data=True, numbers=True)[0] == b"1:a\nb\x003:a\x00"


def test_the_sink_writes_a_chunk_of_more_pieces_than_one_writev_takes_in_order(tmp_path):
    from perflab.search._parallel import IOV_MAX, Chunk, Sink

    pieces = [b"line %d\n" % i for i in range(2 * IOV_MAX + 3)]
    chunk = Chunk()
    for piece in pieces:
        chunk.write(piece)
    first = Chunk(b"--\nf:a\n")  # with context, the output's first "--" goes
    path = tmp_path / "out"
    with path.open("wb") as f:
        sink = Sink(Format(context=True), False, f.fileno())
        sink.emit(first)
        sink.emit(chunk)
    assert path.read_bytes() == b"f:a\n" + b"".join(pieces)
