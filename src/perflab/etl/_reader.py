"""Byte ranges of the input: reading one, and cutting a file into ranges at row boundaries.

Parallel workers each read a byte range that starts and ends at a row
boundary: a newline outside quotes, found from the parity of the quote bytes
before it (doubled quotes inside a field come in pairs, so parity holds), or,
with an escape character other than the quote, by the dialect's boundary regex
walking the quoted sections in C. Rows themselves are read by `_csv`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

from perflab.etl._csv import Dialect, TextWindow

__all__ = ["Part", "open_range", "split_ranges"]

SCAN_BLOCK = 8 << 20  # bytes per step when scanning for boundaries: C-speed counts
REGEX_SCAN_BLOCK = 1 << 20  # the most the escape regex walks per step (one cut per step)


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


def open_range(path: Path | None, start: int, end: int | None, buffer_size: int,
               dialect: Dialect, stream: BinaryIO | None = None) -> io.TextIOWrapper:
    """Text of bytes [start, end) of a file (or of `stream`, to its end).

    Bytes that are not valid in the file's encoding are kept as surrogates, so the
    row survives to be rejected with a reason instead of stopping the load.
    """
    if stream is None:
        assert path is not None and end is not None
        raw = _RangeIO(os.open(path, os.O_RDONLY), start, end)
        buffered: BinaryIO = io.BufferedReader(raw, buffer_size)
    else:
        buffered = stream
    return io.TextIOWrapper(buffered, encoding=dialect.codec, errors="surrogateescape",
                            newline="")


def split_ranges(path: Path, parts: int, start: int, dialect: Dialect,
                 first_line: int = 2) -> list[Part]:
    """Cut [start, size) into about `parts` ranges at row boundaries."""
    size = path.stat().st_size
    if parts <= 1 or size - start < 1 << 20:
        return [Part(0, start, size, first_line)]
    targets = [start + (size - start) * k // parts for k in range(1, parts)]
    if dialect.patterns.boundary is not None:
        cuts = _regex_cuts(path, start, targets, dialect, first_line)
    else:
        cuts = _parity_cuts(path, start, targets, dialect.quote.encode(), first_line)
    bounds = [(start, first_line), *cuts]
    return [
        Part(i, s, bounds[i + 1][0] if i + 1 < len(bounds) else size, line)
        for i, (s, line) in enumerate(bounds)
    ]


def _parity_cuts(path: Path, start: int, targets: list[int], quote: bytes,
                 first_line: int) -> list[tuple[int, int]]:
    cuts: list[tuple[int, int]] = []  # (offset after the boundary newline, line number there)
    quotes = lines = 0
    others = bytes(b for b in range(256) if b not in (quote[0], 0x0A))  # what translate drops
    with path.open("rb") as f:
        f.seek(start)
        offset = start
        while targets and (block := f.read(SCAN_BLOCK)):
            end = offset + len(block)
            while targets and targets[0] < end:
                pos = block.find(b"\n", max(targets[0] - offset, 0))
                while pos >= 0 and block.count(quote, 0, pos) % 2 != quotes % 2:
                    pos = block.find(b"\n", pos + 1)  # inside quotes: not a row boundary
                if pos < 0:
                    break  # no boundary in this block: look in the next one
                cut = offset + pos + 1
                if not cuts or cut > cuts[-1][0]:
                    cuts.append((cut, first_line + lines + block.count(b"\n", 0, pos + 1)))
                targets.pop(0)
            # One pass keeps only the quotes and newlines, then two counts of that short
            # rest: bytes.count reads about 1 GB/s, and there would be two of it.
            kept = block.translate(None, others)
            block_quotes = kept.count(quote)
            quotes += block_quotes
            lines += len(kept) - block_quotes
            if targets and targets[0] < end:  # the boundary lies past this block
                targets[0] = end
            offset = end
    return cuts


def _regex_cuts(path: Path, start: int, targets: list[int], dialect: Dialect,
                first_line: int) -> list[tuple[int, int]]:
    """Walk complete rows from `start` in C; cut at the first row end at or past each target."""
    pattern = dialect.patterns.boundary
    assert pattern is not None
    cuts: list[tuple[int, int]] = []
    line = first_line
    size = path.stat().st_size
    # Blocks small beside a part, so that a cut lands near its target.
    step = min(REGEX_SCAN_BLOCK, max(1 << 16, (size - start) // (8 * (len(targets) + 1))))
    with path.open("rb") as f:
        f.seek(start)
        boundary = start
        carry = b""
        while targets and (block := f.read(step)):
            data = carry + block
            m = pattern.match(data)
            done = m.end() if m else 0
            line += data.count(b"\n", 0, done)
            boundary += done
            carry = data[done:]
            if done and boundary >= targets[0] and boundary < size:
                cuts.append((boundary, line))
                while targets and targets[0] <= boundary:
                    targets.pop(0)
    return cuts


class TextCursor(TextWindow):
    """A window on the text of a byte range, for matching many rows at once in C.

    `next_line` hands whole lines to the exact (csv) path when the fast regex
    stops, refilling as a row needs.
    """

    def __init__(self, text: io.TextIOWrapper) -> None:
        super().__init__(text.read)

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
