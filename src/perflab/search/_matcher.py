"""Pure core of the search: patterns and line scanning over bytes.

Semantics follow `LC_ALL=C grep -E`: bytes, not characters; `-i` folds ASCII
only; `-w` needs a non-word byte (or a line end) on both sides of the match.
Patterns use Python's `re` syntax, which for common patterns is ERE's.

Whole-buffer scanning: instead of running the regex once per line from Python,
the compiled pattern searches the whole file buffer in C, and each match is
confirmed against the line that contains it (a match found in the buffer may
span a newline; the line decides). After a matching line, the search resumes
at the next line, so each line is reported once.
"""

from __future__ import annotations

import os

from perflab.errors import UsageError

# `re` is imported when a pattern is compiled: a plain literal (the usual search)
# is compiled only when a file holds it, so start-up does not pay for `re`
# (benchmarks/startup.py). mypy only:
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any, TypeVar

    T = TypeVar("T")

# Characters with a meaning in a pattern: one without any is its own literal text.
_SPECIAL = frozenset(".^$*+?{}[]\\|()")

__all__ = [
    "POSIX_CLASSES",
    "BytesPattern",
    "Found",
    "Literal",
    "PatternSpec",
    "compile_bytes",
    "compile_text",
    "fold_unicode",
    "is_plain",
    "plain_literal",
    "posix_classes",
    "quietly",
    "rare_byte",
    "rare_pair",
    "required_literals",
    "scan_buffer",
]


class PatternSpec:
    """What to look for. (Plain classes on the start-up path: `dataclasses` would slow it.)

    Several patterns (-e, -f) select a line when any of them matches it; no
    pattern at all (`-f /dev/null`) selects nothing, as in grep.
    """

    __slots__ = ("fixed", "ignore_case", "line", "origins", "patterns", "word")

    def __init__(
        self,
        patterns: str | Sequence[str],
        fixed: bool = False,
        ignore_case: bool = False,
        word: bool = False,
        line: bool = False,
        origins: Sequence[str] = (),  # where each pattern came from ("pats.txt:3"), if not -e
    ) -> None:
        self.patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.origins = list(origins)
        if not fixed:  # grep's [[:digit:]] classes, which Python's re does not know
            self.patterns = [posix_classes(p, self.origins[i] if i < len(self.origins) else "")
                             if "[:" in p else p for i, p in enumerate(self.patterns)]
        self.fixed = fixed  # -F
        self.ignore_case = ignore_case  # -i
        self.word = word  # -w
        self.line = line  # -x

    @property
    def pattern(self) -> str:
        return "\n".join(self.patterns)

    def _one(self, pattern: str) -> str:
        import re

        body = re.escape(pattern) if self.fixed else pattern
        if self.ignore_case and not pattern.isascii():
            body = fold_unicode(body)
        return body

    def source(self) -> str:
        if not self.patterns:
            return "(?!)"  # matches nothing
        parts = [self._one(p) for p in self.patterns]
        body = parts[0] if len(parts) == 1 else "|".join(f"(?:{p})" for p in parts)
        if self.line:
            return rf"^(?:{body})$"
        if self.word:
            body = rf"(?<!\w)(?:{body})(?!\w)"
        return body

    def flags(self) -> int:
        import re

        # ASCII: `\w` and case folding on bytes, as grep in the C locale.
        flags = re.MULTILINE | re.ASCII
        return flags | re.IGNORECASE if self.ignore_case else flags


# POSIX bracket classes in the C locale (grep's), as the ranges Python's re reads.
POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "0-9A-Za-z", "upper": "A-Z", "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "xdigit": "0-9A-Fa-f",
    "punct": "\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e",
    "cntrl": "\\x00-\\x1f\\x7f", "print": "\\x20-\\x7e", "graph": "\\x21-\\x7e",
    "word": "0-9A-Za-z_",  # rg's, beside POSIX's
}


def _pieces(pattern: str, posix: bool) -> Iterator[tuple[int, str, bool]]:
    """The pattern as (offset, piece, inside a bracket expression): an escape pair, the
    opening of a bracket expression (with a leading `]` or `^]`, which are literal), with
    `posix` a `[:name:]` inside one (or a `[:` with no end), or one character. Without
    `posix`, brackets are read as Python's re reads them: `]` ends `[[:a:]`."""
    i, n, in_class = 0, len(pattern), False
    while i < n:
        char, size, opens = pattern[i], 1, False
        if char == "\\" and i + 1 < n:
            size = 2
        elif posix and in_class and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            size = end + 2 - i if end > 0 else 2
        elif in_class and char == "]":
            in_class = False  # the closing bracket still belongs to the expression
            yield i, char, True
            i += 1
            continue
        elif not in_class and char == "[":
            lead = pattern[i + 1:i + 3]
            size = 3 if lead == "^]" else 2 if lead[:1] in ("]", "^") else 1
            opens = True
        yield i, pattern[i:i + size], in_class
        in_class = in_class or opens
        i += size


def posix_classes(pattern: str, origin: str = "") -> str:
    """`[[:digit:]x]` as `[0-9x]`: each POSIX class inside a bracket expression as its
    ASCII ranges; an unknown class name is an error, as in grep."""
    out: list[str] = []
    for at, piece, in_class in _pieces(pattern, posix=True):
        if in_class and piece.startswith("[:"):
            name = piece[2:-2] if len(piece) > 2 else ""
            if name not in POSIX_CLASSES:
                where = f"{origin}:{at + 1}: " if origin else ""
                raise UsageError(f"{where}invalid regular expression {pattern!r}: "
                                 f"unknown character class [:{name}:]",
                                 hint="one of: " + ", ".join(sorted(POSIX_CLASSES)))
            piece = POSIX_CLASSES[name]
        out.append(piece)
    return "".join(out)


def _variants(char: str) -> list[str]:
    found = {char}
    for other in (char.lower(), char.upper(), char.lower().upper(), char.upper().lower()):
        if len(other) == 1:  # simple case folding: one character for one
            found.add(other)
    return sorted(found)


def fold_unicode(source: str) -> str:
    """Give each letter outside a bracket expression its Unicode case partners.

    A bytes regex folds ASCII only (grep in the C locale does the same, so
    `grep -i é` does not find `É`); rg folds Unicode. Only patterns that are
    not pure ASCII are rewritten, so ASCII searches keep their speed: each
    non-ASCII letter `é` becomes `(?:É|é)`, which works on UTF-8 bytes.
    (ASCII letters keep ASCII folding: the Kelvin sign does not match `k`.)
    """
    out: list[str] = []
    for _, piece, in_class in _pieces(source, posix=False):
        if not in_class and len(piece) == 1 and not piece.isascii() and piece.isalpha():
            variants = _variants(piece)  # ASCII letters: re.IGNORECASE
            if len(variants) > 1:
                piece = "(?:" + "|".join(variants) + ")"
        out.append(piece)
    return "".join(out)


def is_plain(spec: PatternSpec) -> bool:
    """Whether every pattern is ASCII text without special characters: its own literal.

    Such patterns cannot fail to compile, so compiling them waits until a
    file holds their text (`BufferedEngine.regex`).
    """
    return all(p.isascii() and (spec.fixed or _SPECIAL.isdisjoint(p)) for p in spec.patterns)


def quietly(call: Callable[..., T], *args: Any) -> T:
    """`call(*args)` without re's "Possible nested set" FutureWarning: `[[]` means what it
    says, as in grep."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return call(*args)


def _compile(
    source: str | bytes, flags: int, spec: PatternSpec
) -> re.Pattern[bytes] | re.Pattern[str]:
    import re

    try:
        return quietly(re.compile, source, flags)
    except re.error as exc:
        raise _located(spec, exc) from exc


def _located(spec: PatternSpec, exc: re.error) -> UsageError:
    """The error of the first pattern that fails alone, named with its origin."""
    import re

    for i, pattern in enumerate(spec.patterns):
        try:
            quietly(re.compile, pattern if not spec.fixed else re.escape(pattern), spec.flags())
        except re.error as own:
            origin = spec.origins[i] if i < len(spec.origins) else ""
            where = f"{origin}:{(own.pos or 0) + 1}: " if origin else ""
            return UsageError(
                f"{where}invalid regular expression {pattern!r}: {own.msg} at position {own.pos}",
                hint="use -F to search for the text literally")
    return UsageError(f"invalid regular expression {spec.pattern!r}: {exc.msg}",
                      hint="use -F to search for the text literally")


class Found:
    """A `Literal`'s occurrence, as the part of `re.Match` the search reads."""

    __slots__ = ("_data", "_end", "_start")

    def __init__(self, data: bytes | bytearray, start: int, end: int) -> None:
        self._data, self._start, self._end = data, start, end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def __getitem__(self, group: int) -> bytes:
        assert group == 0  # a literal has no groups
        return bytes(self._data[self._start:self._end])


class Literal:
    """One plain literal (no -i, -w, -x) as the part of `re.Pattern` the search calls,
    answered with `find`: such a search never imports `re`, whose import is a good part
    of a search's start (benchmarks/startup.py). Matches do not overlap, as re's."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: bytes) -> None:
        assert pattern  # an empty pattern matches everywhere: re's business
        self.pattern = pattern

    def search(self, data: bytes | bytearray, pos: int = 0, endpos: int | None = None
               ) -> Found | None:
        at = data.find(self.pattern, pos, len(data) if endpos is None else endpos)
        return None if at < 0 else Found(data, at, at + len(self.pattern))

    def finditer(self, data: bytes | bytearray, pos: int = 0, endpos: int | None = None
                 ) -> Iterator[Found]:
        end = len(data) if endpos is None else endpos
        size = len(self.pattern)
        while (at := data.find(self.pattern, pos, end)) >= 0:
            yield Found(data, at, at + size)
            pos = at + size

    def sub(self, repl: Callable[[Found], bytes], data: bytes) -> bytes:
        parts: list[bytes] = []
        pos = 0
        for found in self.finditer(data):
            parts += (data[pos:found.start()], repl(found))
            pos = found.end()
        return b"".join([*parts, data[pos:]])


def plain_literal(spec: PatternSpec) -> bytes | None:
    """The one literal the pattern is, when `Literal` can stand for its regex."""
    if (len(spec.patterns) != 1 or not spec.patterns[0] or spec.ignore_case or spec.word
            or spec.line or not is_plain(spec)):
        return None
    return os.fsencode(spec.patterns[0])


def compile_bytes(spec: PatternSpec) -> BytesPattern:
    """The pattern for the buffer engine: a `Literal` when it is one, else re's."""
    literal = plain_literal(spec)
    if literal is not None:
        return Literal(literal)
    import re

    source = os.fsencode(spec.source())
    compiled = _compile(source, spec.flags() & ~re.ASCII, spec)  # bytes are ASCII-only
    assert isinstance(compiled.pattern, bytes)
    return compiled


def compile_text(spec: PatternSpec) -> re.Pattern[str]:
    """For the line-by-line engine, which decodes files as Latin-1 (one byte, one char)."""
    compiled = _compile(spec.source(), spec.flags(), spec)
    assert isinstance(compiled.pattern, str)
    return compiled


def _literal(spec: PatternSpec, pattern: str) -> bytes:
    if spec.fixed or (pattern.isascii() and _SPECIAL.isdisjoint(pattern)):
        return os.fsencode(pattern)  # as the parser below would find it, without `re`
    import re
    from re import _constants, _parser  # type: ignore[attr-defined]  # re's own parser

    try:
        parsed = quietly(_parser.parse, pattern, spec.flags())
    except re.error:
        return b""
    best: list[int] = []
    run: list[int] = []
    for op, arg in parsed:
        if op is _constants.LITERAL and arg < 128:
            run.append(arg)
            continue
        best = max(best, run, key=len)
        run = []
    return bytes(max(best, run, key=len))


def required_literals(spec: PatternSpec) -> tuple[bytes, ...] | None:
    """Byte strings one of which every match must contain, or None when there are none.

    Used to skip whole files with `bytes.find` (C speed) before any regex
    runs. Only the top-level sequence of each pattern is read: the longest run
    of plain literal characters there is required by every match of it; with
    several patterns (-e A -e B), a file may match when it holds any of theirs.
    """
    if not spec.patterns:
        return None
    if spec.ignore_case and not all(p.isascii() for p in spec.patterns):
        return None  # Unicode folding: a match need not hold the literal's ASCII bytes
    literals = []
    for pattern in spec.patterns:
        literal = _literal(spec, pattern)
        if not literal:
            return None
        literals.append(literal.lower() if spec.ignore_case else literal)
    return tuple(dict.fromkeys(literals))


# Bytes by how common they are in source text, most common first: the 96 most frequent
# bytes of CPython 3.11's standard library sources (.py .c .h .txt .rst .html .json .cfg);
# any other byte is rarer than all of them. ripgrep's prefilter idea: a short literal
# whose last byte is common (`ERR_`) makes `find` stop and compare often, while a
# one-byte `find` is memchr; so a file is first asked for the literal's rarest byte
# (see benchmarks/search_peers.py).
_COMMON = (
    b' etarsin\nol"d,cp.fmu_:g()h0byx=1\'-2vwk3TA4S[]6E5*8#ICN{}7/R9P`>LDqF\\+'
    b'MOzGjBWUVH\rK$<|XZQ@%YJ;^?!\xe2'
)


def rare_byte(literal: bytes) -> tuple[bytes, int]:
    """The literal's rarest byte, as a one-byte string, and its offset in the literal.

    A file without that byte cannot hold the literal; in one with it, the
    literal's first occurrence starts no earlier than `offset` bytes before the
    byte's first occurrence.
    """
    offset = max(range(len(literal)), key=lambda i: _byte_rank(literal[i]))
    return literal[offset:offset + 1], offset


def rare_pair(literal: bytes) -> int:
    """The offset of the literal's rarest pair of adjacent bytes (0 for a shorter literal)."""
    return max(range(len(literal) - 1), default=0,
               key=lambda i: _byte_rank(literal[i]) + _byte_rank(literal[i + 1]))


def _byte_rank(byte: int) -> int:
    """How rare a byte is in text: its place in `_COMMON` (the most common first)."""
    rank = _COMMON.find(byte)
    return len(_COMMON) if rank < 0 else rank


def scan_buffer(
    regex: BytesPattern, buf: bytes | bytearray, size: int | None = None
) -> Iterator[tuple[int, int, int]]:
    """Yield (line number, line start, line end) for each matching line of `buf[:size]`.

    The line end excludes its `\\n`; a `\\r` before it is part of the line, as in grep.
    `size` lets a reused buffer hold a shorter file than its capacity.
    """
    search = regex.search
    if size is None:
        size = len(buf)
    ends_with_newline = size == 0 or buf[size - 1] == 0x0A
    pos = 0
    lineno = 1
    counted_to = 0
    while pos <= size:
        m = search(buf, pos, size)
        if m is None:
            return
        start = m.start()
        if start >= size and ends_with_newline:
            return  # an empty match after the final newline is not a line
        line_start = buf.rfind(b"\n", 0, start) + 1
        line_end = buf.find(b"\n", start, size)
        if line_end < 0:
            line_end = size
        if m.end() <= line_end or search(buf, line_start, line_end):
            lineno += buf.count(b"\n", counted_to, line_start)
            counted_to = line_start
            yield lineno, line_start, line_end
        pos = line_end + 1


if TYPE_CHECKING:
    # What the buffer engine searches with: a regex, or a plain literal standing for one
    BytesPattern = re.Pattern[bytes] | Literal
