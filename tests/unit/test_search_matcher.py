import re

import pytest

from perflab.errors import UsageError
from perflab.search._matcher import (
    PatternSpec,
    compile_bytes,
    fold_unicode,
    rare_byte,
    required_literals,
    scan_buffer,
)


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
    ("patterns", "kw", "expected"),
    [
        ("parse_config", {}, (b"parse_config",)),
        (r"ERR_[A-Z]+_[0-9]{3}", {}, (b"ERR_",)),
        (r"\w+Timeout\(", {}, (b"Timeout(",)),
        ("a|b", {}, None),
        ("x*", {}, None),
        ("Hello", {"ignore_case": True}, (b"hello",)),
        ("a.b(", {"fixed": True}, (b"a.b(",)),
        (["foo", "ba+r"], {}, (b"foo", b"b")),  # -e foo -e 'ba+r': either may be there
        (["foo", "x|y"], {}, None),  # one pattern without a literal: no prefilter
        ([], {}, None),
        ("café", {"ignore_case": True}, None),  # Unicode folding: É is not "é".lower()
    ],
)
def test_required_literals(patterns, kw, expected):
    assert required_literals(PatternSpec(patterns, **kw)) == expected


def test_required_literal_is_in_every_match():
    spec = PatternSpec(r"x+ERR_[A-Z]y?")
    literals = required_literals(spec)
    assert literals is not None
    regex = re.compile(spec.source().encode())
    for text in (b"xxERR_Q", b"xERR_Zy"):
        assert regex.search(text) and literals[0] in text


def test_several_patterns_and_whole_lines():
    assert lines("", b"a\n", line=True) == []
    buf = b"foo\nfoobar\nbar\n"
    assert lines(["foo", "bar"], buf, line=True) == [(1, b"foo"), (3, b"bar")]
    assert lines(["o+b", "^b"], buf) == [(2, b"foobar"), (3, b"bar")]
    assert lines(["a.b", "q"], b"a.b\naxb\n", fixed=True) == [(1, b"a.b")]
    assert lines([], buf) == []  # grep -f /dev/null selects nothing


def test_unicode_case_folding_only_for_non_ascii_patterns():
    text = "Café CAFÉ café\n".encode()
    assert lines("café", text, ignore_case=True) == [(1, text[:-1])]
    assert lines("CAFÉ", "un café\n".encode(), ignore_case=True) == [(1, "un café".encode())]
    assert lines("é", "É\n".encode()) == []  # without -i, bytes as they are
    assert fold_unicode("é[é]\\é") == "(?:É|é)[é]\\é"  # not inside brackets nor escaped
    # ASCII patterns keep re's ASCII folding (and so their speed): no rewriting.
    assert PatternSpec("Hello", ignore_case=True).source() == "Hello"


def test_rare_byte_is_the_literals_least_common():
    assert rare_byte(b"ERR_") == (b"R", 1)  # rarer in source text than E and _
    assert rare_byte(b"x") == (b"x", 0)
    assert rare_byte(b"caf\xc3\xa9") == (b"\xc3", 3)  # a byte outside the table: rarest


@pytest.mark.parametrize("data", [
    b"R only\n", b"RR_ ERR\n", b"xRx ERR_\n", b"ERR_", b"R" * 50 + b"ERR_",
    b"ERR", b"",
])
def test_the_rare_byte_prefilter_rejects_only_files_without_the_literal(tmp_path, data):
    from perflab.search._files import BufferedEngine
    from perflab.search._output import Format

    regex = re.compile(rb"ERR_[A-Z]+")
    engine = BufferedEngine(regex, (b"ERR_",), False, Format())
    assert engine.may_match(data, len(data)) == (b"ERR_" in data)
    (tmp_path / "f").write_bytes(data)
    # The per-directory loop, which has the same test inline: a rejected file is not yielded.
    yielded = [name for name, _ in engine.search_dir(str(tmp_path), ["f"], [])]
    assert yielded == (["f"] if b"ERR_" in data else [])


def test_one_literal_read_in_batches_finds_the_files_that_hold_it(tmp_path):
    """Files back to back in one buffer: sizes round the batch's edges, a literal split
    across two files (a match of neither), empty files, one file larger than the batch;
    one literal, and two (-e A -e B)."""
    from perflab.search._files import BATCH_SIZE, BUFFER_SIZE, BufferedEngine
    from perflab.search._output import Format

    sizes = [100, 0, BATCH_SIZE - BUFFER_SIZE, 5, BUFFER_SIZE, BATCH_SIZE + 7, 50,
             BATCH_SIZE - BUFFER_SIZE + 1, 3, 2 * BATCH_SIZE, 0, 64]
    contents = {}
    for i, size in enumerate(sizes):
        body = bytearray(b"x" * size)
        if i % 3 == 0 and size >= 16:
            body[size // 2:size // 2 + 6] = b"ERR_AB"
        contents[f"f{i:02d}"] = bytes(body)
    contents["g1"], contents["g2"] = b"tail ERR", b"_AB head\n"  # split: in neither
    contents["h"] = b"x" * (BATCH_SIZE - BUFFER_SIZE - 20) + b"ERR_AB"  # at a batch's end
    contents["k"] = b"one QQZ here\n"  # the second literal only
    contents["m"] = b"QQZ first, ERR_AB after\n"
    for name, body in contents.items():
        (tmp_path / name).write_bytes(body)
    names = sorted(contents)
    for literals in ((b"ERR_AB",), (b"ERR_AB", b"QQZ"), (b"QQZ", b"ERR_AB")):
        regex = re.compile(b"|".join(literals))
        engine = BufferedEngine(regex, literals, False, Format("files"))
        found = [name for name, result in engine.search_dir(str(tmp_path), names, [])
                 if result.selected]
        assert found == [name for name in names
                         if any(literal in contents[name] for literal in literals)]


def test_posix_classes_become_ascii_ranges_inside_brackets():
    from perflab.search._matcher import posix_classes

    assert posix_classes("[[:digit:]]+") == "[0-9]+"
    assert posix_classes("a[[:alpha:][:digit:]_]") == "a[a-zA-Z0-9_]"
    assert posix_classes("[^][:lower:]]") == "[^]a-z]"  # a leading ] is literal
    assert posix_classes(r"\[[:x") == r"\[[:x"  # no bracket expression: unchanged
    with pytest.raises(UsageError, match="unknown character class"):
        posix_classes("[[:foo:]]")
    # the prefilter reads the translated pattern: `]abc` is not required, `abc` is
    spec = PatternSpec(["[[:digit:]]abc"])
    assert required_literals(spec) == (b"abc",)
    assert compile_bytes(spec).search(b"x 5abc") and not compile_bytes(spec).search(b"]abc")
    assert PatternSpec(["[[:digit:]]"], fixed=True).patterns == ["[[:digit:]]"]  # -F: text


def test_a_plain_literal_answers_as_its_regex_does():
    """`Literal` stands for the regex of a plain pattern: the same search, finditer and sub
    answers (overlapping text included), on random text; other patterns stay regexes."""
    import random
    import re

    from perflab.search._matcher import Literal, PatternSpec, compile_bytes

    assert isinstance(compile_bytes(PatternSpec("needle")), Literal)
    assert isinstance(compile_bytes(PatternSpec("a.b", fixed=True)), Literal)
    for spec in (PatternSpec("needle", ignore_case=True), PatternSpec("needle", word=True),
                 PatternSpec("needle", line=True), PatternSpec(["a", "b"]), PatternSpec("a.b"),
                 PatternSpec("")):
        assert not isinstance(compile_bytes(spec), Literal)
    rng = random.Random(5)
    for _ in range(2000):
        needle = bytes(rng.choice(b"ab") for _ in range(rng.randint(1, 3)))
        data = bytes(rng.choice(b"ab\n") for _ in range(rng.randint(0, 30)))
        ours, theirs = Literal(needle), re.compile(re.escape(needle))
        pos = rng.randint(0, len(data))
        end = rng.randint(pos, len(data))
        mine, re_s = ours.search(data, pos, end), theirs.search(data, pos, end)
        assert (mine and (mine.start(), mine.end(), mine[0])) == (
            re_s and (re_s.start(), re_s.end(), re_s[0]))
        assert [(m.start(), m[0]) for m in ours.finditer(data, pos, end)] == [
            (m.start(), m[0]) for m in theirs.finditer(data, pos, end)]
        assert ours.sub(lambda m: b"<" + m[0] + b">", data) == theirs.sub(
            lambda m: b"<" + m[0] + b">", data)
