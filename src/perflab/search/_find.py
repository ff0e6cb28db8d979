"""A literal's next occurrence in the batch buffer, with glibc's memmem where there is one.

CPython 3.11's `bytes.find` for a needle of a few bytes is a Horspool variant
that reads about 2 GB/s of source text; glibc's memmem (its two-byte hash
search) about twice that, and a literal search spends most of its CPU in this
one call (`benchmarks/search_peers.py` times both). memmem is reached through
ctypes, which is imported only when a batch is first searched (start-up:
benchmarks/startup.py); without it (no glibc-like libc), `bytearray.find`.
"""

from __future__ import annotations

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

        memmem = ctypes.CDLL(None).memmem
    except (ImportError, OSError, AttributeError):
        return buffer.find
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    size = len(buffer)
    base = ctypes.addressof((ctypes.c_char * size).from_buffer(buffer))

    def find(literal: bytes, start: int, end: int) -> int:
        if start < 0 or end < 0 or end > size:  # Python's meanings of such bounds: its own
            return buffer.find(literal, start, end)
        if end - start < len(literal):
            return -1
        at = memmem(base + start, end - start, literal, len(literal))
        return -1 if at is None else at - base

    return find
