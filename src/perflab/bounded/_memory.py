"""Memory: sizes, the limit the service must live in, its RSS now, giving memory back.

The limit comes from `--memory-limit`, else `PERFLAB_MEMORY_LIMIT`, else the
cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`): the Python answer to
Go's GOMEMLIMIT, which the runtime does not read by itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
from pathlib import Path

from perflab.errors import UsageError

__all__ = ["cgroup_limit", "malloc_trim", "memory_limit", "parse_size", "rss_bytes"]

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6,
          "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*")
# cgroup v1 reports "no limit" as a huge page-aligned number.
_UNLIMITED = 1 << 60


def parse_size(text: str) -> int:
    """'256MiB' -> 268435456; also kB/MB/GB (powers of ten) and plain bytes."""
    m = _SIZE.fullmatch(text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _UNITS:
        raise UsageError(f"invalid size {text!r}", hint="e.g. 256MiB, 1GiB, 500MB, 1048576")
    return int(float(m.group(1)) * _UNITS[unit])


def cgroup_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """This process's memory cgroup limit, or None when there is none."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            candidates = [root / path.lstrip("/") / "memory.max", root / "memory.max"]
        elif "memory" in controllers.split(","):
            candidates = [root / "memory" / path.lstrip("/") / "memory.limit_in_bytes"]
        else:
            continue
        for candidate in candidates:
            try:
                value = candidate.read_text().strip()
            except OSError:
                continue
            if value != "max" and value.isdigit() and int(value) < _UNLIMITED:
                return int(value)
    return None


def memory_limit(flag: str | None) -> tuple[int | None, str]:
    """(limit in bytes or None, where it came from)."""
    if flag:
        return parse_size(flag), "--memory-limit"
    env = os.environ.get("PERFLAB_MEMORY_LIMIT")
    if env:
        return parse_size(env), "PERFLAB_MEMORY_LIMIT"
    limit = cgroup_limit()
    return (limit, "cgroup") if limit is not None else (None, "none")


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size now (not the peak): what an OOM killer looks at."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def malloc_trim() -> bool:
    """Return freed heap pages to the OS (glibc); False where there is no such call."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError, TypeError):
        return False
