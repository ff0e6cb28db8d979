"""The batch finder is `bytearray.find`, faster: the same answer for every start and end."""

from __future__ import annotations

from perflab.search._find import batch_finder


def test_batch_finder_answers_as_bytearray_find():
    buffer = bytearray(256)
    text = b"xx needle, needles; need needle\x00needle" + b"ne"
    buffer[:len(text)] = text
    find = batch_finder(buffer)
    assert find is not buffer.find  # memmem was found (glibc)
    for needle in (b"needle", b"ne", b"e", b"needle\x00n", b"absent", b"needles; need needle"):
        for start in range(len(text) + 2):
            for end in range(start, len(text) + 3):
                assert find(needle, start, end) == buffer.find(needle, start, end), (
                    needle, start, end)
    assert find(b"", 3, 3) == 3 and find(b"ne", -5, 1000) == buffer.find(b"ne", -5, 1000)
