"""Socket writes made at once, or held until the loop round's callbacks have run (`WRITES`).

Beyond the guide. A write wakes whoever reads the other end. Made as each answer
is ready, writes interleave with the reads still to handle in the same round,
and the reader (the load generator, the upstream) can fall asleep in between
and pay a wake-up per write; made together, they wake it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["WRITES", "Batched", "Direct", "Writes"]


class Writes(Protocol):
    def write(self, transport: Any, data: bytes) -> None: ...
    def then(self, action: Callable[[], None]) -> None:
        """Run `action` (a close, say) after the writes asked for before it."""


class Direct:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        pass

    def write(self, transport: Any, data: bytes) -> None:
        transport.write(data)

    def then(self, action: Callable[[], None]) -> None:
        action()


class Batched:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # (transport, data) to write, or (None, action) to run once the writes before it are made
        self.pending: list[tuple[Any, Any]] = []

    def write(self, transport: Any, data: bytes) -> None:
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append((transport, data))

    def then(self, action: Callable[[], None]) -> None:
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append((None, action))

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        for transport, data in pending:
            if transport is None:
                data()
            elif not transport.is_closing():
                transport.write(data)


WRITES: dict[str, Callable[[asyncio.AbstractEventLoop], Writes]] = {
    "direct": Direct, "batched": Batched}
