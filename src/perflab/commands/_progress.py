"""Progress of a run on stderr: which case and step runs, and an estimate of the time left.

One live line on a terminal, plain lines elsewhere. The estimate for the running
case is its remaining executions times the mean time each variant has taken so
far (child start-up included), up to the round where its time budget would stop
it; cases not started yet count with what the caller expects of them (their
time in the last kept run, or their budget). Adaptive stopping may end a case
sooner than estimated.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from perflab.measure._runner import MIN_REPETITIONS, ProgressEvent

__all__ = ["ProgressPrinter", "format_duration"]


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


class ProgressPrinter:
    def __init__(self, stream: TextIO = sys.stderr, *, case_index: int = 1, cases: int = 1,
                 later_s: float = 0.0) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()
        self.case_index = case_index
        self.cases = cases
        self.later_s = later_s  # expected time of the cases after this one
        self.durations: dict[str, list[float]] = {}
        self.rounds_started: float | None = None  # the first execution's start

    def case_left_s(self, event: ProgressEvent) -> float | None:
        """Expected seconds until this case ends; None before any execution finished."""
        means = [sum(d) / len(d) for d in self.durations.values() if d]
        if not means:
            return None
        # Variants not timed yet count at the mean of those that were.
        per_round = sum(means) + sum(means) / len(means) * max(0, event.variants - len(means))
        done = event.position if event.seconds is not None else event.position - 1
        left = per_round * (1 - done / max(event.variants, 1))
        if event.budget_s is None or self.rounds_started is None:
            return left + per_round * (event.rounds - event.round)
        # The runner stops after a round with at least MIN_REPETITIONS measured once the
        # budget is spent: follow it round by round.
        spent = time.monotonic() - self.rounds_started
        last = event.round
        while last < event.rounds and not (
                last - event.warmups >= MIN_REPETITIONS and spent + left > event.budget_s):
            last += 1
            left += per_round
        return left

    def __call__(self, event: ProgressEvent) -> None:
        if self.rounds_started is None:
            self.rounds_started = time.monotonic()
        if event.elapsed_s is not None:
            self.durations.setdefault(event.variant, []).append(event.elapsed_s)
        reps = event.rounds - event.warmups
        phase = "warm-up" if event.warmup else f"rep {event.round - event.warmups}/{reps}"
        elapsed = time.monotonic() - self.started
        where = f"case {self.case_index}/{self.cases} {event.case}"
        step = f"step {event.position}/{event.variants} {event.variant}"
        head = f"[{format_duration(elapsed):>10}] {where}: {phase}, {step}"
        left = self.case_left_s(event)
        eta = ""
        if left is not None:
            eta = f" · case ~{format_duration(left)} left"
            if self.case_index < self.cases:
                eta += f", run ~{format_duration(left + self.later_s)} left"
        if event.seconds is None:
            if self.live:
                self.stream.write(f"\r\033[K{head} …{eta}")
                self.stream.flush()
            return
        line = f"{head} {event.seconds:.3f} s{eta}"
        if self.live:
            self.stream.write(f"\r\033[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()

