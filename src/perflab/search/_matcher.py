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
import re
from collections.abc import Iterator

from perflab.errors import UsageError

__all__ = ["PatternSpec", "compile_bytes", "compile_text", "required_literal", "scan_buffer"]


class PatternSpec:
    """What to look for. (Plain classes on the start-up path: `dataclasses` costs ~6 ms.)"""

    __slots__ = ("fixed", "ignore_case", "pattern", "word")

    def __init__(
        self, pattern: str, fixed: bool = False, ignore_case: bool = False, word: bool = False
    ) -> None:
        self.pattern = pattern
        self.fixed = fixed  # -F
        self.ignore_case = ignore_case  # -i
        self.word = word  # -w

    def source(self) -> str:
        body = re.escape(self.pattern) if self.fixed else self.pattern
        if self.word:
            body = rf"(?<!\w)(?:{body})(?!\w)"
        return body

    def flags(self) -> int:
        # ASCII: `\w` and case folding on bytes, as grep in the C locale.
        flags = re.MULTILINE | re.ASCII
        return flags | re.IGNORECASE if self.ignore_case else flags


def _compile(source: str | bytes, flags: int, pattern: str) -> re.Pattern[bytes] | re.Pattern[str]:
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise UsageError(
            f"invalid regular expression {pattern!r}: {exc.msg} at position {exc.pos}",
            hint="use -F to search for the text literally",
        ) from exc


def compile_bytes(spec: PatternSpec) -> re.Pattern[bytes]:
    source = os.fsencode(spec.source())
    compiled = _compile(source, spec.flags() & ~re.ASCII, spec.pattern)  # bytes are ASCII-only
    assert isinstance(compiled.pattern, bytes)
    return compiled


def compile_text(spec: PatternSpec) -> re.Pattern[str]:
    """For the line-by-line engine, which decodes files as Latin-1 (one byte, one char)."""
    compiled = _compile(spec.source(), spec.flags(), spec.pattern)
    assert isinstance(compiled.pattern, str)
    return compiled


def required_literal(spec: PatternSpec) -> bytes | None:
    """A byte string every match must contain, or None when there is none to rely on.

    Used to skip whole files with one `bytes.find` (C speed) before any regex
    runs. Only the top-level sequence of the pattern is read: the longest run
    of plain literal characters there is required by every match.
    """
    if spec.fixed:
        literal = os.fsencode(spec.pattern)
    else:
        from re import _constants, _parser  # type: ignore[attr-defined]  # re's own parser

        try:
            parsed = _parser.parse(spec.pattern, spec.flags())
        except re.error:
            return None
        best: list[int] = []
        run: list[int] = []
        for op, arg in parsed:
            if op is _constants.LITERAL and arg < 128:
                run.append(arg)
                continue
            best = max(best, run, key=len)
            run = []
        best = max(best, run, key=len)
        literal = bytes(best)
    if not literal:
        return None
    return literal.lower() if spec.ignore_case else literal


def scan_buffer(
    regex: re.Pattern[bytes], buf: bytes | bytearray, size: int | None = None
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
