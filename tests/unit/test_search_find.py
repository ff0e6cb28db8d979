"""The batch finder is `bytearray.find`, faster: the same answer for every start and end."""

from __future__ import annotations

import random

from perflab.search._find import batch_finder
from perflab.search._matcher import rare_pair


def test_batch_finder_answers_as_bytearray_find():
    buffer = bytearray(256)
    text = b"xx needle, needles; need needle\x00needle" + b"ne"
    buffer[:len(text)] = text
    find = batch_finder(buffer)
    assert find is not buffer.find  # libc was found (glibc)
    for needle in (b"needle", b"ne", b"e", b"needle\x00n", b"absent", b"needles; need needle",
                   b"dle", b"xx"):
        for start in range(len(text) + 2):
            for end in range(start, len(text) + 3):
                assert find(needle, start, end) == buffer.find(needle, start, end), (
                    needle, start, end)
    assert find(b"", 3, 3) == 3 and find(b"ne", -5, 1000) == buffer.find(b"ne", -5, 1000)
    assert buffer[:len(text)] == text and not any(buffer[len(text):])  # left as it was


def test_batch_finder_on_random_text_with_nuls_and_near_misses():
    rng = random.Random(7)
    buffer = bytearray(rng.choice(b"ab\x00c") for _ in range(4096))
    before = bytes(buffer)
    find = batch_finder(buffer)
    for _ in range(3000):
        needle = bytes(rng.choice(b"abc") for _ in range(rng.randint(1, 6)))
        start = rng.randint(0, len(buffer))
        end = rng.randint(start, len(buffer))
        assert find(needle, start, end) == buffer.find(needle, start, end), (needle, start, end)
    assert buffer == before  # the NUL written at `end` is taken back


def test_the_rare_pair_is_the_literal_pair_least_common_in_text():
    assert rare_pair(b"parse_config_v2") == len("parse_config_")  # "v2"
    assert rare_pair(b"x") == 0 and rare_pair(b"") == 0
