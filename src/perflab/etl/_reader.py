"""Reading CSV rows with their raw text and first line number, from a byte range.

A row may span lines (a quoted newline), so the loader needs where each row
starts (for error messages and rejects) and its exact text (for the rejects
file, and to forward validated rows to COPY unchanged). `csv.reader` parses
(in C); a thin generator in front of it records the lines it consumes.

Parallel workers each read a byte range that starts and ends at a row
boundary: a newline outside quotes, found from the parity of the `"` bytes
before it (doubled quotes inside a field come in pairs, so parity holds).
"""

from __future__ import annotations

import csv
import io
import os
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["Part", "data_start", "iter_rows", "open_range", "split_ranges"]

SCAN_BLOCK = 8 << 20  # bytes per step when scanning for boundaries: C-speed counts

Row = tuple[int, list[str] | None, str, str | None]  # line, fields, raw text, parse error


class Part:
    """A byte range of the file, starting at a row boundary, and the line it starts on."""

    __slots__ = ("end", "index", "line", "start")

    def __init__(self, index: int, start: int, end: int, line: int) -> None:
        self.index = index
        self.start = start
        self.end = end
        self.line = line

    def as_json(self) -> dict[str, int]:
        return {"index": self.index, "start": self.start, "end": self.end, "line": self.line}


class _RangeIO(io.RawIOBase):
    """A raw file reader that stops at `end`."""

    def __init__(self, fd: int, start: int, end: int) -> None:
        self.fd = fd
        self.pos = start
        self.end = end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self.end - self.pos)
        if want <= 0:
            return 0
        n = os.preadv(self.fd, [memoryview(buffer)[:want]], self.pos)
        self.pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


def open_range(path: Path, start: int, end: int, buffer_size: int) -> io.TextIOWrapper:
    """Text lines of bytes [start, end), through a buffer of `buffer_size` bytes.

    Invalid UTF-8 is kept as surrogates, so the row survives to be rejected with a
    reason instead of stopping the load.
    """
    raw = _RangeIO(os.open(path, os.O_RDONLY), start, end)
    buffered = io.BufferedReader(raw, buffer_size)
    return io.TextIOWrapper(buffered, encoding="utf-8", errors="surrogateescape", newline="")


def iter_rows(
    lines: Iterator[str], first_line: int, fast: Callable[[str], object] | None = None
) -> Iterator[Row]:
    """(line, fields or None, raw text, error or None) for every row; nothing is dropped.

    With `fast`, a line it accepts is yielded as (line, None, raw, None) without
    going through csv.reader at all: a row already known valid (see _fastpath).
    """
    consumed: list[str] = []
    pending: deque[str] = deque()  # lines the fast check refused, for csv.reader to parse

    def feed() -> Iterator[str]:
        while True:
            nxt = pending.popleft() if pending else next(lines, None)
            if nxt is None:
                return
            consumed.append(nxt)
            yield nxt

    reader = csv.reader(feed(), strict=True)
    line = first_line
    while True:
        if fast is not None:
            text = pending.popleft() if pending else next(lines, None)
            if text is None:
                return
            taken = [text]
            if text.count('"') % 2:  # a quote left open: the row goes on over the next lines
                quotes = text.count('"')
                while quotes % 2:
                    more = pending.popleft() if pending else next(lines, None)
                    if more is None:
                        break
                    taken.append(more)
                    quotes += more.count('"')
                text = "".join(taken)
            if fast(text):
                yield line, None, text, None
                line += len(taken)
                continue
            pending.extendleft(reversed(taken))  # csv.reader parses them, in order
        try:
            fields = next(reader)
            error = None
        except StopIteration:
            if consumed:  # an unterminated quote swallowed the end of the input
                yield line, None, "".join(consumed), "bad quoting: unterminated quoted field"
            return
        except csv.Error as exc:
            fields, error = None, f"bad quoting: {exc}"
        raw = "".join(consumed)
        count = len(consumed)
        consumed.clear()
        yield line, fields, raw, error
        line += count


def data_start(path: Path) -> int:
    """Byte offset just after the header line."""
    with path.open("rb") as f:
        f.readline()
        return f.tell()


def split_ranges(path: Path, parts: int, start: int, first_line: int = 2) -> list[Part]:
    """Cut [start, size) into about `parts` ranges at row boundaries."""
    size = path.stat().st_size
    if parts <= 1 or size - start < 1 << 20:
        return [Part(0, start, size, first_line)]
    targets = [start + (size - start) * k // parts for k in range(1, parts)]
    cuts: list[tuple[int, int]] = []  # (offset after the boundary newline, line number there)
    quotes = lines = 0
    with path.open("rb") as f:
        f.seek(start)
        offset = start
        while targets and (block := f.read(SCAN_BLOCK)):
            end = offset + len(block)
            while targets and targets[0] < end:
                pos = block.find(b"\n", max(targets[0] - offset, 0))
                while pos >= 0 and block.count(b'"', 0, pos) % 2 != quotes % 2:
                    pos = block.find(b"\n", pos + 1)  # inside quotes: not a row boundary
                if pos < 0:
                    break  # no boundary in this block: look in the next one
                cut = offset + pos + 1
                if not cuts or cut > cuts[-1][0]:
                    cuts.append((cut, first_line + lines + block.count(b"\n", 0, pos + 1)))
                targets.pop(0)
            quotes += block.count(b'"')
            lines += block.count(b"\n")
            if targets and targets[0] < end:  # the boundary lies past this block
                targets[0] = end
            offset = end
    bounds = [(start, first_line), *cuts]
    return [
        Part(i, s, bounds[i + 1][0] if i + 1 < len(bounds) else size, line)
        for i, (s, line) in enumerate(bounds)
    ]


class TextCursor:
    """A window on the text of a byte range, for matching many rows at once in C.

    `buf[pos:]` is what is not yet consumed; `refill` appends the next block.
    `next_line` hands whole lines to the exact (csv) path when the fast regex
    stops, refilling as a row needs.
    """

    BLOCK_CHARS = 1 << 20  # text read per refill: large enough that refills are rare

    def __init__(self, text: io.TextIOWrapper) -> None:
        self.text = text
        self.buf = ""
        self.pos = 0
        self.eof = False

    def refill(self) -> bool:
        if self.eof:
            return False
        data = self.text.read(self.BLOCK_CHARS)
        if not data:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + data
        self.pos = 0
        return True

    def complete_line_ahead(self) -> bool:
        """Whether a whole line is in the window (refilling once if not)."""
        if self.buf.find("\n", self.pos) >= 0:
            return True
        return self.refill() and self.buf.find("\n", self.pos) >= 0

    def next_line(self) -> str | None:
        end = self.buf.find("\n", self.pos)
        while end < 0 and self.refill():
            end = self.buf.find("\n", self.pos)
        if end < 0:
            if self.pos >= len(self.buf):
                return None
            end = len(self.buf) - 1  # the last line, without a newline
        line = self.buf[self.pos:end + 1]
        self.pos = end + 1
        return line
