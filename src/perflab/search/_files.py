"""Searching one file: the naive line-by-line text engine and the whole-buffer bytes engine.

Both return the matching lines as (line number, line bytes without its newline),
or None for a binary file (a NUL byte in the first 8 KiB, as `grep -I`).
A failure to read raises OSError for the caller to report.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

from perflab.search._matcher import scan_buffer
from perflab.search._walk import child_path

__all__ = ["BINARY_PROBE", "BUFFER_SIZE", "BufferedEngine", "Match", "search_lines"]

# grep -I looks for a NUL in its first read buffer; 8 KiB is what the issue and git use.
BINARY_PROBE = 8192
# Most source files fit in one read; larger ones are read whole into a bytes object.
BUFFER_SIZE = 256 * 1024

Match = tuple[int, bytes]


def search_lines(
    path: str, pattern: re.Pattern[str] | tuple[str, int], limit: int | None = None
) -> list[Match] | None:
    """The guide's "before": whole file read as text, then the regex line by line.

    With a (source, flags) tuple instead of a compiled pattern, every line goes
    through `re.search(source, line, flags)`, the way a first script is written
    (CPython's `re` caches compiled patterns, so this is a dict look-up per line,
    not a compile: the guide's compile-per-file cost mostly does not carry over).
    Latin-1 maps each byte to one character, so any bytes round-trip exactly.
    """
    with open(path, encoding="latin-1", newline="") as f:
        text = f.read()
    if "\0" in text[:BINARY_PROBE]:
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the empty string after a final newline is not a line
    found: list[Match] = []
    if isinstance(pattern, tuple):
        source, flags = pattern
        for number, line in enumerate(lines, 1):
            if re.search(source, line, flags):
                found.append((number, line.encode("latin-1")))
                if limit and len(found) >= limit:
                    break
    else:
        search = pattern.search
        for number, line in enumerate(lines, 1):
            if search(line):
                found.append((number, line.encode("latin-1")))
                if limit and len(found) >= limit:
                    break
    return found


class BufferedEngine:
    """Beyond the guide: bytes in one reused buffer, a literal prefilter, whole-buffer regex.

    The buffer is the Python counterpart of the guide's pooled buffers: one
    bytearray per worker, filled by `os.readv`, so reading a file allocates
    nothing. Files that cannot match are rejected by `bytearray.find` (C speed)
    before any regex runs; that is almost every file of a typical search.
    Not thread-safe: one engine per worker process.
    """

    def __init__(
        self,
        regex: re.Pattern[bytes],
        literal: bytes | None,
        ignore_case: bool,
        limit: int | None = None,
    ) -> None:
        self.regex = regex
        self.literal = literal
        self.ignore_case = ignore_case
        self.limit = limit
        self.buffer = bytearray(BUFFER_SIZE)

    def _read(self, name: str, dir_fd: int | None = None) -> tuple[bytes | bytearray, int]:
        fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
        try:
            # A read of a regular file returns all that is asked for up to the end
            # of the file, so one call fills the buffer or reads the whole file.
            size = os.readv(fd, [self.buffer])
            if size < len(self.buffer):
                return self.buffer, size
            chunks = [bytes(self.buffer)]  # larger than the buffer: read the rest
            while chunk := os.read(fd, BUFFER_SIZE):
                chunks.append(chunk)
            data = b"".join(chunks)
            return data, len(data)
        finally:
            os.close(fd)

    def _scan(self, data: bytes | bytearray, size: int) -> list[Match] | None:
        literal = self.literal
        if literal is not None:
            haystack = data[:size].lower() if self.ignore_case else data
            if haystack.find(literal, 0, size) < 0:
                return []  # the common case: this file cannot match, no regex runs
        # Only a file that may match needs the binary probe: a binary file with
        # no match prints nothing either way, so most files skip this scan.
        if data.find(b"\0", 0, min(size, BINARY_PROBE)) >= 0:
            return None
        found: list[Match] = []
        for number, start, end in scan_buffer(self.regex, data, size):
            found.append((number, bytes(data[start:end])))
            if self.limit and len(found) >= self.limit:
                break
        return found

    def __call__(self, path: str) -> list[Match] | None:
        return self._scan(*self._read(path))

    def search_dir(
        self, directory: str, names: Sequence[str], errors: list[str]
    ) -> Iterator[tuple[str, list[Match]]]:
        """(name, matches) for the files of one directory that match.

        One directory descriptor, and each file opened relative to it (openat):
        the kernel resolves one path component per file instead of the whole
        path, and no path string is built for the files that do not match.
        """
        try:
            dir_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            errors.append(f"{directory}: {exc.strerror or exc}")
            return
        read, scan = self._read, self._scan
        try:
            for name in names:
                try:
                    matches = scan(*read(name, dir_fd))
                except OSError as exc:
                    errors.append(f"{child_path(directory, name)}: {exc.strerror or exc}")
                    continue
                if matches:
                    yield name, matches
        finally:
            os.close(dir_fd)
