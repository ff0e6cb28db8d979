"""cProfile one variant and group its time into the case's categories; drive py-spy and strace.

A category is a list of substrings matched against `file:function` of each
profiled function; its time is the sum of the matching functions' own time
(tottime), so nothing is counted twice. What matches no category is "other".
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Breakdown",
    "SyscallCount",
    "breakdown",
    "parse_strace_summary",
    "profile_call",
    "pyspy_record",
    "strace_count",
    "top_functions",
]


@dataclass(frozen=True)
class Breakdown:
    total_s: float
    by_category: Mapping[str, float]


def profile_call(func: Any, *args: Any) -> pstats.Stats:
    profiler = cProfile.Profile()
    profiler.runcall(func, *args)
    return pstats.Stats(profiler, stream=io.StringIO())


def _entries(stats: pstats.Stats) -> list[tuple[str, float, float, int]]:
    """(file:function, own seconds, cumulative seconds, calls) per function."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    out = []
    for (filename, line, func), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        out.append((f"{filename}:{line}:{func}", tottime, cumtime, calls))
    return out


def breakdown(stats: pstats.Stats, categories: Mapping[str, Sequence[str]]) -> Breakdown:
    totals = dict.fromkeys(categories, 0.0)
    totals["other"] = 0.0
    grand = 0.0
    for name, own, _cum, _calls in _entries(stats):
        grand += own
        for category, needles in categories.items():
            if any(needle in name for needle in needles):
                totals[category] += own
                break
        else:
            totals["other"] += own
    return Breakdown(grand, totals)


def top_functions(stats: pstats.Stats, limit: int = 15) -> list[tuple[str, float, float, int]]:
    return sorted(_entries(stats), key=lambda e: e[1], reverse=True)[:limit]


# --- whole-process tools: py-spy samples, strace counts (thin drivers; parsing is pure) ---

@dataclass(frozen=True)
class SyscallCount:
    name: str
    calls: int
    errors: int
    seconds: float


def parse_strace_summary(text: str) -> list[SyscallCount]:
    """`strace -c`'s table (the `total` row left out), most called first."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[0].replace(".", "").isdigit() or fields[-1] == "total":
            continue
        seconds, calls, name = float(fields[1]), int(fields[3]), fields[-1]
        errors = int(fields[4]) if len(fields) == 6 else 0
        rows.append(SyscallCount(name, calls, errors, seconds))
    return sorted(rows, key=lambda r: r.calls, reverse=True)


def pyspy_record(argv: Sequence[str], out: Path, *, rate: int, subprocesses: bool,
                 env: Mapping[str, str] | None = None) -> str | None:
    """Record `argv` under py-spy into folded stacks at `out`; an error message, or None."""
    import shutil
    import subprocess

    from perflab.errors import ToolUnavailable

    py_spy = shutil.which("py-spy") or _beside_python("py-spy")
    if py_spy is None:
        raise ToolUnavailable("py-spy is not installed", hint="pip install py-spy")
    cmd = [py_spy, "record", "--format", "raw", "--rate", str(rate), "--output", str(out)]
    if subprocesses:
        cmd.append("--subprocesses")
    proc = subprocess.run([*cmd, "--", *argv], capture_output=True, text=True,
                          env=dict(env) if env is not None else None)
    if proc.returncode != 0 or not out.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"py-spy failed (exit {proc.returncode}): {last}"
    return None


def strace_count(argv: Sequence[str], out: Path,
                 env: Mapping[str, str] | None = None) -> list[SyscallCount]:
    """`strace -c -f`: every system call of `argv` and its children, counted."""
    import shutil
    import subprocess

    from perflab.errors import MeasurementError, ToolUnavailable

    strace = shutil.which("strace")
    if strace is None:
        raise ToolUnavailable("strace is not installed", hint="apt-get install strace")
    proc = subprocess.run([strace, "-c", "-f", "-o", str(out), "--", *argv],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=dict(env) if env is not None else None)
    if proc.returncode != 0 or not out.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeasurementError(f"strace failed (exit {proc.returncode}): {last}")
    return parse_strace_summary(out.read_text())


def _beside_python(name: str) -> str | None:
    import sys

    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else None
