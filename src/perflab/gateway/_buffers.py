"""Request-body buffers (`BUFFERS`): a new one per request, or reused from a bounded free list.

The guide's sync.Pool step. In Go it spares the collector an allocation per
request; in CPython a buffer is freed by its reference count, not by a
collection, so what is spared is one object's allocation and its reallocations
(`clear()` gives the capacity back) and the case's GETs have no body at all:
this step is expected to measure as noise here, and shows why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["BUFFERS", "Buffers"]

MAX_FREE = 64  # buffers kept for reuse: one per request in flight at most, beyond are dropped


class Buffers(Protocol):
    def take(self) -> bytearray: ...
    def give(self, buf: bytearray) -> None: ...


class Fresh:
    def take(self) -> bytearray:
        return bytearray()

    def give(self, buf: bytearray) -> None:
        pass


class Pooled:
    def __init__(self) -> None:
        self.free: list[bytearray] = []

    def take(self) -> bytearray:
        return self.free.pop() if self.free else bytearray()

    def give(self, buf: bytearray) -> None:
        buf.clear()
        if len(self.free) < MAX_FREE:
            self.free.append(buf)


BUFFERS: dict[str, Callable[[], Buffers]] = {"fresh": Fresh, "pooled": Pooled}
