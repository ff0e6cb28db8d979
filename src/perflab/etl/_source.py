"""Where the bytes come from: a file, a `.gz` or `.zst` file (decompressed as a stream), stdin.

A plain file can be split among workers (byte ranges at row boundaries) and
re-read from any offset. A compressed file is one stream: offsets are offsets in
the decompressed data, so `--resume` re-decompresses and skips to where the
journal says (cheap beside loading). Standard input can be read once: its first
bytes are kept while the header and the `--create-table` sample are read, then
replayed; `--resume` of a pipe is refused (there is nothing to re-read).

A compressed stream that is corrupt or truncated is an `InputError` naming the
file and how many decompressed bytes it gave before it broke (counting lines
too would cost the reader a pass over every block): what the decompressor
raises is translated where it is read (`_Decompressed`), in the prefetch thread
or while skipping to a resume offset, and reaches the loader as any bad input.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from perflab.errors import InputError, ToolUnavailable
from perflab.etl._csv import BOM, Dialect, csv_rows

__all__ = ["Header", "Source", "check_input", "read_header", "sample_rows"]

SKIP_BLOCK = 1 << 20  # bytes per read when skipping to a resume offset in a stream
# Decompression runs in a thread ahead of the loader (zlib and zstd release the GIL), so
# it overlaps the server's COPY instead of adding to it: PREFETCH_BLOCKS blocks of
# PREFETCH_BYTES are the most it holds (see benchmarks/etl_vs_psql.py --gz).
PREFETCH_BYTES = 1 << 20
PREFETCH_BLOCKS = 4
REPLAY_BYTES = 8 << 20  # the head of stdin kept for the header and the sample
SAMPLE_ROWS = 10_000  # rows --create-table infers types from
SAMPLE_BYTES = 4 << 20


def _zstd() -> Any:
    try:
        from compression import zstd  # type: ignore[import-not-found, unused-ignore]  # 3.14+
    except ImportError:
        try:
            from backports import zstd
        except ImportError as exc:
            raise ToolUnavailable("reading .zst needs the backports-zstd package",
                                  hint="uv sync (it is a perflab dependency)") from exc
    return zstd


class _Decompressed:
    """A decompressing stream whose corruption is an InputError naming the file.

    `errors` are what the decompressor raises on bad or missing data (EOFError for a
    stream cut short; gzip's BadGzipFile and zlib.error, or ZstdError, for bad bytes),
    never OSError as such: a failing disk is not a corrupt file. gzip checks its CRC
    only at the end of a member, so bytes that inflate wrongly are found there, after
    the rows read before have gone on.

    Reads are made of `read1` pieces, and the bytes decompressed before a failure are
    handed out before it is raised (on the next read): `read(n)` would drop them, so
    the offset in the message would depend on the callers' read sizes (the prefetch
    thread's and the resume skip's) instead of on the file.
    """

    def __init__(self, stream: Any, name: str, kind: str,
                 errors: tuple[type[BaseException], ...]) -> None:
        self.stream, self.name, self.kind, self.errors = stream, name, kind, errors
        self.offset = 0  # decompressed bytes handed out so far
        self.failed: BaseException | None = None  # the decompressor's error, not yet raised

    def read(self, size: int) -> bytes:
        pieces: list[bytes] = []
        got = 0
        while got < size and self.failed is None:
            try:
                piece: bytes = self.stream.read1(size - got)
            except self.errors as exc:
                self.failed = exc
                break
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        if not got and self.failed is not None:
            raise InputError(
                f"corrupt or truncated {self.kind} stream, after {self.offset:,} "
                f"decompressed bytes: {self.failed}", path=self.name,
                hint="the chunks committed before it stay loaded (the journal says which "
                     "lines); --resume stops here again") from self.failed
        self.offset += got
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def close(self) -> None:
        self.stream.close()


class _Replay(io.RawIOBase):
    """Standard input, with its first bytes kept so that they can be read again once."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.head = bytearray()
        self.pos = 0  # the offset of the next byte a reader gets
        self.recording = True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Never closes standard input: each reader's buffer wrapper closes its raw."""

    def seek_to(self, offset: int) -> None:
        if offset < self.pos and not (self.recording and offset <= len(self.head)):
            raise InputError("standard input cannot be read again", path="-")
        self.pos = offset

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        if self.pos < len(self.head):
            n = min(len(view), len(self.head) - self.pos)
            view[:n] = self.head[self.pos:self.pos + n]
            self.pos += n
            return n
        data = self.stream.read(len(view)) if hasattr(self.stream, "read") else b""
        n = len(data)
        view[:n] = data
        if self.recording and len(self.head) + n <= REPLAY_BYTES:
            self.head += data
        else:
            self.recording = False
        self.pos += n
        return n


class _Prefetch(io.RawIOBase):
    """Reads `stream` in a thread, a bounded number of blocks ahead; errors are re-raised."""

    def __init__(self, stream: Any) -> None:
        import queue
        import threading

        self.stream = stream
        self.blocks: queue.Queue[bytes | BaseException] = queue.Queue(PREFETCH_BLOCKS)
        self.block = memoryview(b"")
        self.done = False
        self.failed: BaseException | None = None  # raised again on every later read
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="etl-decompress", daemon=True)
        self.thread.start()

    def _hand(self, item: bytes | BaseException) -> None:
        """Queue `item` for the reader, unless the reader has closed (then nobody reads it)."""
        import queue

        while not self.stop.is_set():
            try:
                self.blocks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                data = self.stream.read(PREFETCH_BYTES)
                self._hand(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reader, never lost while it reads
            self._hand(exc)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        while not self.block and not self.done:
            if self.failed is not None:
                raise self.failed  # the thread is gone: a second read must not wait for it
            item = self.blocks.get()
            if isinstance(item, BaseException):
                self.failed = item
                raise item
            self.block = memoryview(item)
            self.done = not item
        n = min(len(view), len(self.block))
        view[:n] = self.block[:n]
        self.block = self.block[n:]
        return n

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.stream.close()
        super().close()


def check_input(name: str) -> None:
    """Refuse an input that cannot be read as a file, before anything is started for it."""
    if name == "-":
        return
    path = Path(name)
    if path.is_dir():
        raise InputError("is a directory, not a CSV file", path=name)
    if not path.exists():
        raise InputError("no such file", path=name)
    # Offsets, parts and --resume need a file that reads the same again: a pipe is `-`.
    if not path.is_file():
        raise InputError("not a regular file", path=name, hint="pipe data in as - instead")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror}", path=name) from exc


class Source:
    """One input: `path` for files, None for standard input."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = None if name == "-" else Path(name)
        lower = name.lower()
        self.kind = ("stdin" if name == "-" else "gzip" if lower.endswith(".gz")
                     else "zstd" if lower.endswith((".zst", ".zstd")) else "file")
        self._replay = _Replay(sys.stdin.buffer) if self.kind == "stdin" else None
        check_input(name)

    @property
    def splittable(self) -> bool:
        """Byte ranges for parallel workers: only an uncompressed file can seek."""
        return self.kind == "file"

    def open(self, offset: int = 0) -> Any:
        """A binary stream of the (decompressed) data from `offset` on."""
        if self._replay is not None:
            self._replay.seek_to(offset)
            return io.BufferedReader(self._replay, SKIP_BLOCK)
        assert self.path is not None
        if self.kind == "file":
            f = self.path.open("rb")
            f.seek(offset)
            return f
        if self.kind == "gzip":
            import gzip
            import zlib

            stream = _Decompressed(gzip.GzipFile(self.path, "rb"), self.name, self.kind,
                                   (EOFError, gzip.BadGzipFile, zlib.error))
        else:
            zstd = _zstd()
            stream = _Decompressed(zstd.open(self.path, "rb"), self.name, self.kind,
                                   (EOFError, zstd.ZstdError))
        left = offset
        try:
            while left > 0:
                block = stream.read(min(left, SKIP_BLOCK))
                if not block:
                    break
                left -= len(block)
        except BaseException:  # broken before the resume offset: the file is not left open
            stream.close()
            raise
        return io.BufferedReader(_Prefetch(stream), PREFETCH_BYTES)

    def end(self) -> int | None:
        """Where the data ends, when it can be known without reading it."""
        return self.path.stat().st_size if self.kind == "file" and self.path else None


class Header:
    """The header's column names (None without one), and where the data starts."""

    def __init__(self, names: list[str] | None, start: int, line: int) -> None:
        self.names = names
        self.start = start
        self.line = line


def read_header(source: Source, dialect: Dialect) -> Header:
    """Skip a UTF-8 BOM; read the header row if the file has one (it may be quoted)."""
    with source.open(0) as f:
        head = f.read(len(BOM))
        start = len(BOM) if head == BOM and dialect.utf8 else 0
        if not dialect.header:
            return Header(None, start, 1)
    with io.TextIOWrapper(source.open(start), encoding=dialect.codec,
                          errors="surrogateescape", newline="") as text:
        first = next(csv_rows(dialect, iter(text.readline, ""), 1), None)
    if first is None:
        return Header(None, start, 2)  # an empty file: nothing to map, nothing to load
    _, fields, raw, error = first
    if error is not None or fields is None:
        raise InputError(f"cannot read the header: {error}", path=source.name, line=1)
    names = ["" if f is None else f for f in fields]
    end = start + len(raw.encode(dialect.codec, "surrogateescape"))
    return Header(names, end, 1 + raw.count("\n"))


def sample_rows(source: Source, dialect: Dialect, header: Header) -> list[list[str | None]]:
    """The first rows of the data, parsed (for --create-table)."""
    out: list[list[str | None]] = []
    taken = 0
    with io.TextIOWrapper(source.open(header.start), encoding=dialect.codec,
                          errors="surrogateescape", newline="") as text:
        for _, fields, raw, error in csv_rows(dialect, iter(text.readline, ""), header.line):
            taken += len(raw)
            if fields is not None and error is None:
                out.append(fields)
            if len(out) >= SAMPLE_ROWS or taken >= SAMPLE_BYTES:
                break
    return out

