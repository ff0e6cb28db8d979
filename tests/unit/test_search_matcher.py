import re

import pytest

from perflab.errors import UsageError
from perflab.search._matcher import PatternSpec, compile_bytes, required_literal, scan_buffer


def lines(pattern: str, buf: bytes, **kw) -> list[tuple[int, bytes]]:
    regex = compile_bytes(PatternSpec(pattern, **kw))
    return [(n, buf[s:e]) for n, s, e in scan_buffer(regex, buf)]


def test_line_numbers_and_crlf_kept_in_the_line():
    buf = b"alpha\r\nbeta\r\ngamma beta\r\n"
    assert lines("beta", buf) == [(2, b"beta\r"), (3, b"gamma beta\r")]


def test_last_line_without_newline_and_empty_buffer():
    assert lines("z", b"a\nz") == [(2, b"z")]
    assert lines("", b"") == []
    assert lines("", b"a\nb\n") == [(1, b"a"), (2, b"b")]  # grep: an empty pattern matches all


def test_a_match_may_not_span_lines():
    # In the buffer `a\sb` matches "a\nb"; grep is line-based, so neither line matches...
    assert lines(r"a\sb", b"xa\nb\n") == []
    # ...but a real match later on the first line is still found.
    assert lines(r"a\sb", b"a\na b\n") == [(2, b"a b")]
    assert lines(r"q[^z]*r", b"q\nr\nq r\n") == [(3, b"q r")]


def test_each_line_is_reported_once():
    assert lines("o", b"foo boo\nno\n") == [(1, b"foo boo"), (2, b"no")]


def test_word_fixed_and_ignore_case_are_bytewise():
    buf = b"foo_bar foo\nfoobar\nFOO.\n"
    assert lines("foo", buf, word=True) == [(1, b"foo_bar foo")]
    assert lines("foo", buf, word=True, ignore_case=True) == [(1, b"foo_bar foo"), (3, b"FOO.")]
    assert lines("a.b", b"a.b\naxb\n", fixed=True) == [(1, b"a.b")]
    assert lines("caf", "CAF\xe9\n".encode("latin-1"), ignore_case=True) == [(1, b"CAF\xe9")]


def test_invalid_utf8_is_just_bytes():
    assert lines("ab", b"\xff\xfeab\xc3\n\xc3\x28\n") == [(1, b"\xff\xfeab\xc3")]


def test_invalid_regex_is_a_usage_error():
    with pytest.raises(UsageError, match=r"invalid regular expression 'a\(b': missing \)"):
        compile_bytes(PatternSpec("a(b"))


@pytest.mark.parametrize(
    ("pattern", "kw", "expected"),
    [
        ("parse_config", {}, b"parse_config"),
        (r"ERR_[A-Z]+_[0-9]{3}", {}, b"ERR_"),
        (r"\w+Timeout\(", {}, b"Timeout("),
        ("a|b", {}, None),
        ("x*", {}, None),
        ("Hello", {"ignore_case": True}, b"hello"),
        ("a.b(", {"fixed": True}, b"a.b("),
    ],
)
def test_required_literal(pattern, kw, expected):
    assert required_literal(PatternSpec(pattern, **kw)) == expected


def test_required_literal_is_in_every_match():
    spec = PatternSpec(r"x+ERR_[A-Z]y?")
    literal = required_literal(spec)
    regex = re.compile(spec.source().encode())
    for text in (b"xxERR_Q", b"xERR_Zy"):
        assert regex.search(text) and literal in text
