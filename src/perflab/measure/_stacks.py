"""Sampled stacks: read, convert, compare (pprof -base's job, on py-spy's samples).

A profile is a mapping from a stack (root first, one frame per Python call,
`function (file:line)`) to the number of samples that saw it. py-spy's raw
("folded") output and speedscope's sampled-profile JSON both hold exactly
that, so one recording gives both files and can be read back from either.

py-spy names the processes it followed `process PID:"command"`; the PID is
dropped on reading, so two runs of the same program line up in a diff.
A diff compares functions (file and name, not line: an edit above a function
moves its lines; processes by program name) by their share of all samples:
`self` (the function itself was running) and `total` (it was anywhere on the
stack).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perflab.errors import ResultsFileError

__all__ = [
    "FunctionShare",
    "ShareChange",
    "Stacks",
    "diff_shares",
    "function_key",
    "load_stacks",
    "parse_folded",
    "shares",
    "speedscope_stacks",
    "to_folded",
    "to_speedscope",
]

Stacks = Mapping[tuple[str, ...], int]

NO_STACK = "(no Python frame)"
_PROCESS = re.compile(r'^process \d+:(".*")$')
_LINE = re.compile(r":\d+\)$")
_COUNT = re.compile(r"(^| )\d+$")


def _frame(raw: str) -> str:
    match = _PROCESS.match(raw)
    return f"process {match.group(1)}" if match else raw


def parse_folded(text: str, path: str = "<stacks>") -> dict[tuple[str, ...], int]:
    stacks: Counter[tuple[str, ...]] = Counter()
    record: list[str] = []
    first = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not record:
            if not line.strip():
                continue
            first = lineno
        record.append(line)
        joined = " ".join(record)
        # A process's command line may hold newlines, which py-spy writes as they are:
        # inside its quotes, the record goes on on the next line.
        if joined.count('"') % 2:
            continue
        if not _COUNT.search(line):
            head = line.rpartition(" ")[0]
            raise ResultsFileError("expected `frame;frame;... COUNT`", path=path,
                                   line=lineno, column=len(head) + 2 if head else 1)
        record = []
        stack, _, count = joined.rpartition(" ")
        # py-spy writes an empty stack for a sample that caught no Python frame.
        frames = stack.split(";") if stack else [NO_STACK]
        stacks[tuple(_frame(f) for f in frames)] += int(count)
    if record:
        raise ResultsFileError("a command line's quotes are never closed", path=path,
                               line=first, column=1)
    return dict(stacks)


def to_folded(stacks: Stacks) -> str:
    return "".join(f"{';'.join(stack)} {count}\n" for stack, count in stacks.items())


def to_speedscope(stacks: Stacks, name: str) -> dict[str, Any]:
    """speedscope's file format, one sampled profile (https://www.speedscope.app)."""
    index: dict[str, int] = {}
    samples, weights = [], []
    for stack, count in stacks.items():
        samples.append([index.setdefault(frame, len(index)) for frame in stack])
        weights.append(count)
    total = sum(weights)
    return {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": [{"name": frame} for frame in index]},
        "profiles": [{"type": "sampled", "name": name, "unit": "none", "startValue": 0,
                      "endValue": total, "samples": samples, "weights": weights}],
        "name": name,
        "exporter": "perflab",
    }


def speedscope_stacks(data: Any, path: str = "<speedscope>") -> dict[tuple[str, ...], int]:
    """The sampled profiles of a speedscope file (py-spy's or ours), merged."""
    try:
        frames = [str(f["name"]) for f in data["shared"]["frames"]]
        stacks: Counter[tuple[str, ...]] = Counter()
        for profile in data["profiles"]:
            if profile.get("type") != "sampled":
                raise ResultsFileError(f"a {profile.get('type')!r} profile: only sampled "
                                       "ones can be compared", path=path)
            for sample, weight in zip(profile["samples"], profile["weights"], strict=True):
                stacks[tuple(_frame(frames[i]) for i in sample)] += int(weight)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise ResultsFileError(f"not a speedscope profile: {exc!r}", path=path) from exc
    return dict(stacks)


def load_stacks(path: Path) -> dict[tuple[str, ...], int]:
    """A profile written by `perflab profile`: speedscope JSON, or py-spy's folded text."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResultsFileError(f"cannot read profile: {exc.strerror}", path=str(path)) from exc
    if path.suffix != ".json":
        return parse_folded(text, str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"not valid JSON: {exc.msg}", path=str(path), line=exc.lineno,
                               column=exc.colno) from exc
    return speedscope_stacks(data, str(path))


def function_key(frame: str) -> str:
    """A frame without its line; a process by its program's name (its arguments, such as a
    temporary file, differ from run to run)."""
    if frame.startswith('process "'):
        program = frame[len('process "'):].split(" ", 1)[0].rstrip('"')
        return f"process ({program.rsplit('/', 1)[-1]})"
    return _LINE.sub(")", frame)


@dataclass(frozen=True)
class FunctionShare:
    self_share: float
    total_share: float


def shares(stacks: Stacks) -> dict[str, FunctionShare]:
    total = sum(stacks.values())
    if not total:
        return {}
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for stack, count in stacks.items():
        keys = [function_key(f) for f in stack]
        if keys:
            own[keys[-1]] += count
        for key in set(keys):  # recursion counts once
            anywhere[key] += count
    return {k: FunctionShare(own[k] / total, anywhere[k] / total) for k in anywhere}


@dataclass(frozen=True)
class ShareChange:
    function: str
    old: FunctionShare
    new: FunctionShare

    @property
    def self_delta(self) -> float:
        return self.new.self_share - self.old.self_share

    @property
    def total_delta(self) -> float:
        return self.new.total_share - self.old.total_share


def diff_shares(old: Stacks, new: Stacks, limit: int = 15) -> list[ShareChange]:
    """The functions whose share of the samples changed most, own time first."""
    a, b = shares(old), shares(new)
    none = FunctionShare(0.0, 0.0)
    changes = [ShareChange(k, a.get(k, none), b.get(k, none)) for k in a.keys() | b.keys()]
    changes.sort(key=lambda c: (abs(c.self_delta), abs(c.total_delta)), reverse=True)
    return [c for c in changes[:limit] if c.self_delta or c.total_delta]
