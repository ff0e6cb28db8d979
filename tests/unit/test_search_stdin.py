"""Standard input a window at a time: wherever the reads cut it, the output is the file's."""

from __future__ import annotations

import pytest

from perflab.search._files import BufferedEngine
from perflab.search._matcher import PatternSpec, compile_bytes, required_literals
from perflab.search._output import Format, format_buffer
from perflab.search._stdin import search_windows, windows

LABEL = "(standard input)"
DATA = (b"hay\nneedle one\nhay\nneedle two\nneedles\n" + b"hay\n" * 3
        + b"x\nneedle after")  # no final newline

FORMATS = {
    "plain": Format(with_filename=False),
    "-n": Format(line_numbers=True, with_filename=False),
    "-H -nb": Format(line_numbers=True, byte_offset=True),
    "-ob": Format("only", byte_offset=True, with_filename=False),
    "-c": Format("count", with_filename=False),
    "-m 3 -n": Format(line_numbers=True, with_filename=False, max_count=3),
    "-vn": Format(line_numbers=True, with_filename=False, invert=True),
    "-v -m 2": Format(with_filename=False, invert=True, max_count=2),
    "-c -m 4": Format("count", with_filename=False, max_count=4),
    "-l": Format("files"),
    "-L": Format("files-without"),
    "--color -n": Format(line_numbers=True, with_filename=False, color=True),
}


def _engine(pattern: str, fmt: Format) -> BufferedEngine:
    spec = PatternSpec([pattern])
    return BufferedEngine(compile_bytes(spec), required_literals(spec), False, fmt, fmt.color)


def _reader(pieces: list[bytes]):
    rest = iter([p for p in pieces if p])
    return lambda: next(rest, b"")


def _streamed(engine, fmt, pieces) -> tuple[bytes, bool]:
    out = list(search_windows(engine, LABEL, fmt, _reader(pieces)))
    return b"".join(w.out for w in out), any(w.binary for w in out)


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("pattern", ["needle", "ne+", "zzz"])
def test_every_cut_of_the_input_gives_the_whole_inputs_output(name, pattern):
    fmt = FORMATS[name]
    engine = _engine(pattern, fmt)
    whole = format_buffer(LABEL, DATA, len(DATA), engine.regex, fmt,
                          color_regex=engine.color_regex).out
    for a in range(len(DATA) + 1):
        for b in range(a, len(DATA) + 1, 5):
            pieces = [DATA[:a], DATA[a:b], DATA[b:]]
            assert _streamed(engine, fmt, pieces) == (whole, False), (a, b)


def test_a_nul_makes_the_rest_of_the_input_binary_from_its_window_on():
    fmt = FORMATS["-n"]
    engine = _engine("needle", fmt)
    before, binary = b"needle a\nhay\n", b"needle \0 b\nneedle c\n"
    # In one window with the NUL, the input is binary from its start, as a file is.
    assert _streamed(engine, fmt, [before + binary]) == (b"", True)
    # Read before the NUL came, those lines were printed; the search stops at the first
    # selected line of the binary part.
    assert _streamed(engine, fmt, [before, binary]) == (b"1:needle a\n", True)
    # and a later window, even without a NUL, is still the binary part
    assert _streamed(engine, fmt, [before, b"hay \0\n", b"needle c\n"]) == (b"1:needle a\n",
                                                                           True)
    assert _streamed(engine, FORMATS["-c"], [before, binary]) == (b"3\n", False)
    text = Format(line_numbers=True, with_filename=False, binary_text=True)  # -a
    assert _streamed(_engine("needle", text), text, [before, binary]) == (
        b"1:needle a\n3:needle \0 b\n4:needle c\n", False)


def test_windows_end_at_the_last_complete_record():
    def cut(pieces, end=b"\n"):
        return [w for w, _ in windows(_reader(pieces), end)]

    assert cut([b"a\nb", b"c", b"\nd\n", b"e"]) == [b"a\n", b"bc\nd\n", b"e"]
    assert cut([b"a\0b", b"\0"], b"\0") == [b"a\0", b"b\0"]
    assert cut([]) == []
    long = [b"x" * 1000] * 50 + [b"x\ny"]  # one record over 51 reads
    assert cut(long) == [b"x" * 50_001 + b"\n", b"y"]
    # a NUL read past the window's last line is told with it
    assert list(windows(_reader([b"foo\nba\0r", b"\n"]), b"\n")) == [
        (b"foo\n", True), (b"ba\0r\n", False)]


def test_a_nul_past_the_last_line_of_a_read_makes_that_window_binary():
    fmt = FORMATS["-n"]
    engine = _engine("foo", fmt)
    assert _streamed(engine, fmt, [b"foo\nba\0r"]) == (b"", True)  # as grep, as a file
    assert _streamed(engine, fmt, [b"foo\nfoo\0"]) == (b"", True)


def test_i_counts_zero_for_an_input_whose_binary_part_it_reached():
    count = Format("count", with_filename=False, binary_skip=True)
    engine = _engine("1", count)
    lines = b"".join(b"%d\n" % n for n in range(1, 11))
    assert _streamed(engine, count, [lines, b"a\0\n", b"1\n"]) == (b"0\n", False)
    limited = Format("count", with_filename=False, binary_skip=True, max_count=1)
    assert _streamed(_engine("1", limited), limited, [lines, b"a\0\n"]) == (b"1\n", False)
    plain = Format(with_filename=False, binary_skip=True)
    assert _streamed(_engine("1", plain), plain, [lines, b"1 \0\n", b"1\n"]) == (
        b"1\n10\n", False)


def test_the_binary_cut_is_aligned_in_the_input_not_in_the_window():
    from perflab.search._output import FIRST_BUFFER

    fmt = Format(line_numbers=True, with_filename=False, binary_skip=True)
    engine = _engine("x", fmt)
    data = b"x\n" * (FIRST_BUFFER // 2) * 3 + b"\0\n"  # the NUL in the fourth 96 KiB
    whole = format_buffer(LABEL, data, len(data), engine.regex, fmt).out
    half = len(data) // 2 + 1  # a read that ends at a line's end, mid-input
    assert _streamed(engine, fmt, [data[:half], data[half:]])[0] == whole


def test_l_and_q_stop_reading_at_the_first_selected_line():
    reads = []

    def read():
        reads.append(1)
        return b"needle\n" if len(reads) < 100 else b""

    fmt = FORMATS["-l"]
    assert b"".join(w.out for w in search_windows(_engine("needle", fmt), LABEL, fmt, read)) \
        == b"(standard input)\n"
    assert len(reads) == 1
