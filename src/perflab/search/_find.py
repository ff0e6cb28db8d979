"""A literal's next occurrence in the batch buffer, found with glibc's strstr where there is one.

CPython 3.11's `bytes.find` for a needle of a few bytes is a Horspool variant
that reads about 2 GB/s of source text, and glibc's memmem (a two-byte hash
search, one byte at a time) about twice that. glibc's strstr compares 16 bytes
at a time for a needle's first two bytes, then checks the rest where they
occur: started at the literal's rarest pair of adjacent bytes (the rest of the
literal is checked where it is found), it reads text several times faster
again, as the memchr crate's "packed pair" search that ripgrep uses does
(`benchmarks/search_peers.py` times the three). strstr stops at a NUL, so the
byte at `end` is made NUL for the call (and restored), and past a NUL in the
text (a binary file in the batch) memmem searches the rest.

libc is reached through ctypes, imported only when a batch is first searched
(start-up: benchmarks/startup.py); without it (no glibc-like libc), `bytearray.find`.
"""

from __future__ import annotations

from perflab.search._matcher import rare_pair

TYPE_CHECKING = False  # `typing` slows start-up (benchmarks/startup.py); mypy only
if TYPE_CHECKING:
    from collections.abc import Callable

    Find = Callable[[bytes, int, int], int]

__all__ = ["batch_finder"]


def batch_finder(buffer: bytearray) -> Find:
    """`buffer.find(literal, start, end)`, as fast as this platform allows. The buffer
    must keep its size while the finder lives (it holds the buffer's address)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        memmem = libc.memmem
    except (ImportError, OSError, AttributeError):
        return buffer.find
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    size = len(buffer)
    base = ctypes.addressof((ctypes.c_char * size).from_buffer(buffer))

    def find_memmem(literal: bytes, start: int, end: int) -> int:
        if start < 0 or end < 0 or end > size:  # Python's meanings of such bounds: its own
            return buffer.find(literal, start, end)
        if end - start < len(literal):
            return -1
        at = memmem(base + start, end - start, literal, len(literal))
        return -1 if at is None else at - base

    if not hasattr(libc, "gnu_get_libc_version"):
        return find_memmem  # another libc's strstr may not be the faster one
    strstr = libc.strstr
    strstr.restype = ctypes.c_void_p
    strstr.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    tails: dict[bytes, tuple[bytes, int] | None] = {}  # literal: (the part searched, its offset)

    def find(literal: bytes, start: int, end: int) -> int:
        if literal not in tails:
            back = rare_pair(literal)
            tails[literal] = (
                (literal[back:], back) if len(literal) > 1 and 0 not in literal else None)
        tail = tails[literal]
        if tail is None or start < 0 or end >= size or end - start < len(literal):
            return find_memmem(literal, start, end)
        part, back = tail
        at = start + back
        saved, buffer[end] = buffer[end], 0
        try:
            while (hit := strstr(base + at, part)) is not None:
                first: int = hit - base - back
                if buffer.startswith(literal, first):
                    return first
                at = first + back + 1
            nul = buffer.find(0, at, end)  # strstr stopped there: `end`, or a NUL before it
        finally:
            buffer[end] = saved
        # The literal holds no NUL: none of its occurrences spans one
        return -1 if nul < 0 else find_memmem(literal, nul + 1, end)

    return find
