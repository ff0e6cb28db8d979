"""Progress of a running ladder on stderr: one live line on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from perflab.measure._runner import ProgressEvent

__all__ = ["ProgressPrinter"]


class ProgressPrinter:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()

    def __call__(self, event: ProgressEvent) -> None:
        phase = "warm-up" if event.warmup else f"rep {event.round}/{event.rounds}"
        elapsed = time.monotonic() - self.started
        head = f"[{elapsed:6.1f}s] {event.case}: {phase} {event.variant}"
        if event.seconds is None:
            if self.live:
                self.stream.write(f"\r\033[K{head} …")
                self.stream.flush()
            return
        line = f"{head} {event.seconds:.3f} s"
        if self.live:
            self.stream.write(f"\r\033[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
