"""Searching one file: the naive line-by-line text engine and the whole-buffer bytes engine.

The line engine returns the matching lines as (line number, line bytes
without its newline), or None for a binary file; the buffer engine returns the
file's formatted output (`_output.Result`) and so supports every option.
A failure to read raises OSError for the caller to report.
"""

from __future__ import annotations

import os

from perflab.search._matcher import rare_byte
from perflab.search._output import Format, Result, format_buffer
from perflab.search._walk import child_path

TYPE_CHECKING = False  # `re` is imported when a pattern is compiled (start-up); mypy only
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterator, Sequence

    from perflab.search._matcher import BytesPattern

__all__ = ["BATCH_SIZE", "BINARY_PROBE", "BUFFER_SIZE", "BufferedEngine", "Match",
           "search_lines"]

# The line engine (the ladder's early steps) skips a file with a NUL in its first
# 8 KiB, as git does; the buffer engine follows grep's rule (see _output.py).
BINARY_PROBE = 8192
# Most source files fit in one read; larger ones are read whole into a bytes object.
BUFFER_SIZE = 256 * 1024
# A search for literals reads the files of a directory one after another into one
# buffer of this size and looks for each literal once over them all (_find.py): one
# call over many files costs less than a call per file (benchmarks/search_peers.py).
BATCH_SIZE = 1 << 20

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
    import re

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
        regex: BytesPattern | Callable[[], BytesPattern],
        literals: Sequence[bytes] | None,
        ignore_case: bool,
        fmt: Format,
        color: bool = False,
    ) -> None:
        # A pattern, or what compiles it when a file first needs it (see `regex`).
        self._regex = regex if not callable(regex) else None
        self._compile = regex if callable(regex) else None
        self.color = color
        self.literals = literals
        # Each literal with its rarest byte: a file without it is rejected by memchr.
        self.rare = [(literal, *rare_byte(literal)) for literal in literals or ()]
        self.ignore_case = ignore_case
        self.fmt = fmt
        # Without -v, -c or -L, a file the prefilter rejects prints nothing: skip it whole.
        self.skip_rejected = not fmt.invert and fmt.mode not in ("count", "files-without")
        self.buffer = bytearray(BUFFER_SIZE)
        self.batch: bytearray | None = None  # made at first use (BATCH_SIZE)
        self.find_in_batch: Callable[[bytes, int, int], int] | None = None

    @property
    def regex(self) -> BytesPattern:
        """The compiled pattern, compiled at first use: a plain literal (`is_plain`) that
        no file holds is never compiled, and `re` never imported (start-up)."""
        if self._regex is None:
            assert self._compile is not None
            self._regex = self._compile()
        return self._regex

    @property
    def color_regex(self) -> BytesPattern | None:
        return self.regex if self.color else None

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

    def may_match(self, data: bytes | bytearray, size: int) -> bool:
        literals = self.literals
        if literals is None:
            return True
        if self.ignore_case:
            haystack = data[:size].lower()
            return any(haystack.find(literal, 0, size) >= 0 for literal in literals)
        for literal, rare, offset in self.rare:
            at = data.find(rare, 0, size)
            if at >= 0 and data.find(literal, max(at - offset, 0), size) >= 0:
                return True
        return False

    def scan(self, path: str, data: bytes | bytearray, size: int) -> Result:
        return format_buffer(path, data, size, self.regex, self.fmt,
                             may_match=self.may_match(data, size), color_regex=self.color_regex)

    def __call__(self, path: str) -> Result:
        return self.scan(path, *self._read(path))

    def search_dir(
        self, directory: str, names: Sequence[str], errors: list[str]
    ) -> Iterator[tuple[str, Result]]:
        """(name, result) for each file of one directory that prints or selects something.

        One directory descriptor, and each file opened relative to it (openat):
        the kernel resolves one path component per file instead of the whole
        path, and no path string is built for the files the prefilter rejects.
        """
        try:
            dir_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            errors.append(f"{directory}: {exc.strerror or exc}")
            return
        read, skip, fmt = self._read, self.skip_rejected, self.fmt
        # Literals and no -i, the usual search: without -v, -c or -L, in batches
        # (_batched); else per file, the literal's rarest byte's `find` (memchr), then
        # its own, inline (this loop runs once per file; see benchmarks/search_peers.py).
        rares = self.rare if not self.ignore_case else []
        single, rare, offset = rares[0] if len(rares) == 1 else (None, b"", 0)
        several = rares if len(rares) > 1 else None
        may_match = self.may_match
        try:
            if rares and skip:
                yield from self._batched(directory, dir_fd, names, errors)
                return
            for name in names:
                try:
                    data, size = read(name, dir_fd)
                except OSError as exc:
                    errors.append(f"{child_path(directory, name)}: {exc.strerror or exc}")
                    continue
                if single is not None:
                    at = data.find(rare, 0, size)
                    may = at >= 0 and data.find(single, max(at - offset, 0), size) >= 0
                elif several:  # -e A -e B: a file may match when it holds any literal
                    may = False
                    for literal, rare_one, offset_one in several:
                        at = data.find(rare_one, 0, size)
                        if at >= 0 and data.find(literal, max(at - offset_one, 0), size) >= 0:
                            may = True
                            break
                else:
                    may = may_match(data, size)
                if may or not skip:
                    yield name, format_buffer(child_path(directory, name), data, size,
                                              self.regex, fmt, may_match=may,
                                              color_regex=self.color_regex)
        finally:
            os.close(dir_fd)

    def _batched(
        self, directory: str, dir_fd: int, names: Sequence[str], errors: list[str]
    ) -> Iterator[tuple[str, Result]]:
        """`search_dir` for literals: files read back to back, one `find` over them.

        Each file is read into the room left in the batch buffer (at least
        BUFFER_SIZE of it); a file that fills the room is larger than that and
        is searched alone, after the files before it.
        """
        if self.batch is None:
            from perflab.search._find import batch_finder

            self.batch = bytearray(BATCH_SIZE)
            self.find_in_batch = batch_finder(self.batch)
        view = memoryview(self.batch)
        room = BATCH_SIZE - BUFFER_SIZE  # past this much, the batch is searched
        batch: list[str] = []
        starts: list[int] = []
        end = 0
        # Bound once: this loop runs once per file (benchmarks/search_peers.py)
        open_file, readv, close, flags = os.open, os.readv, os.close, os.O_RDONLY
        with view:
            for name in names:
                try:
                    fd = open_file(name, flags, dir_fd=dir_fd)
                    try:
                        size = readv(fd, [view[end:]])
                        if end + size == BATCH_SIZE:  # it may go on: read the rest
                            rest = []
                            while chunk := os.read(fd, BUFFER_SIZE):
                                rest.append(chunk)
                    finally:
                        close(fd)
                except OSError as exc:
                    errors.append(f"{child_path(directory, name)}: {exc.strerror or exc}")
                    continue
                if end + size == BATCH_SIZE:
                    yield from self._hits(directory, batch, starts, end)
                    data = bytes(view[end:]) + b"".join(rest)
                    yield from self._hits(directory, [name], [0], len(data), data)
                    batch, starts, end = [], [], 0
                    continue
                batch.append(name)
                starts.append(end)
                end += size
                if end > room:
                    yield from self._hits(directory, batch, starts, end)
                    batch, starts, end = [], [], 0
            yield from self._hits(directory, batch, starts, end)

    def _hits(
        self, directory: str, names: Sequence[str], starts: Sequence[int], end: int,
        data: bytes | bytearray | None = None,
    ) -> Iterator[tuple[str, Result]]:
        """(name, result) of each file of a batch that holds a literal, in order."""
        buffer = self.batch if data is None else data
        assert buffer is not None
        find = buffer.find if data is not None else self.find_in_batch
        assert find is not None  # made with the batch
        rares = self.rare
        ahead = [-2] * len(rares)  # each literal's next hit at or after `pos`; -1: none
        pos = k = 0
        last = len(starts) - 1
        while pos < end:
            hit = width = -1
            for j, (literal, rare, offset) in enumerate(rares):
                found = ahead[j]
                if -1 < found < pos or found == -2:
                    at = buffer.find(rare, pos, end)
                    found = -1 if at < 0 else find(literal, max(at - offset, pos), end)
                    ahead[j] = found
                if found >= 0 and (hit < 0 or found < hit):
                    hit, width = found, len(literal)
            if hit < 0:
                return
            while k < last and starts[k + 1] <= hit:
                k += 1
            start, stop = starts[k], starts[k + 1] if k < last else end
            if hit + width > stop:  # it runs into the next file: a match of neither
                pos = hit + 1
                continue
            yield names[k], format_buffer(
                child_path(directory, names[k]), bytes(buffer[start:stop]), stop - start,
                self.regex, self.fmt, may_match=True, color_regex=self.color_regex)
            pos = stop
