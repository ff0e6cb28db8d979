"""A hard memory limit for one process tree, as a container runtime sets it.

Three ways, tried in this order by `confine(limit)` (or one named by `--limit-kind`):

    cgroup-v2   a group of its own under a cgroup2 mount with the memory controller:
                memory.max = limit, memory.swap.max = 0, memory.oom.group = 1;
                OOM kills counted from memory.events (`oom_kill`)
    cgroup-v1   a group under the v1 memory hierarchy: memory.limit_in_bytes (and
                memsw, where swap is accounted); OOM kills from memory.oom_control
    rlimit      RLIMIT_AS on the service process, where no group can be made (not
                root, no memory controller). Weaker: it bounds address space, not
                resident memory, per process (workers inherit their own), and
                Python and its servers reserve far more address space than they
                touch, so the limit is `factor` times the asked one and the report
                says so; there is no OOM killer, a failed allocation
                is a MemoryError or a crash, counted as such

Each is a `Confinement` (made in the parent, `enter` in the child between fork
and exec) whose `meter` reads the usage, peak and OOM counter. A meter is
rebuilt in another process from its `spec` string (`perflab run` measures
windows of a long soak in child processes).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from perflab.errors import UsageError

__all__ = ["KINDS", "RLIMIT_FACTOR", "Confinement", "Meter", "confine", "meter_from_spec"]

# Address space a CPython service under granian or uvicorn reserves but never
# touches (thread stacks, allocator arenas, mapped libraries) is a few times its
# RSS; at 4x the limit a service that stays inside its RSS budget still starts.
RLIMIT_FACTOR = 4
CGROUP_ROOT = Path("/sys/fs/cgroup")


class Meter(Protocol):
    kind: str

    def usage_bytes(self) -> float: ...
    def peak_bytes(self) -> float: ...
    def reset_peak(self) -> None: ...
    def oom_kills(self) -> int: ...
    def spec(self) -> str: ...


class Confinement(Protocol):
    kind: str  # "cgroup-v2", "cgroup-v1" or "rlimit": the summary's limit_kind
    limit: int  # the limit asked for
    factor: int  # enforced limit / asked limit (1 for a cgroup)
    meter: Meter

    def enter(self) -> None: ...  # in the child, before exec
    def close(self) -> None: ...


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _field(text: str, name: str) -> int:
    """`name N` from a flat-keyed file (memory.events, memory.oom_control); 0 if absent."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return 0


def _number(path: Path) -> float:
    text = _read(path).strip()
    return float(text) if text.isdigit() else float("nan")


class CgroupV1Meter:
    kind = "cgroup-v1"

    def __init__(self, group: Path) -> None:
        self.group = group

    def usage_bytes(self) -> float:
        return _number(self.group / "memory.usage_in_bytes")

    def peak_bytes(self) -> float:
        return _number(self.group / "memory.max_usage_in_bytes")

    def reset_peak(self) -> None:
        with contextlib.suppress(OSError):
            (self.group / "memory.max_usage_in_bytes").write_text("0")

    def oom_kills(self) -> int:
        return _field(_read(self.group / "memory.oom_control"), "oom_kill")

    def spec(self) -> str:
        return f"{self.kind}:{self.group}"


class CgroupV2Meter(CgroupV1Meter):
    kind = "cgroup-v2"

    def __init__(self, group: Path) -> None:
        super().__init__(group)
        self._peak = 0.0  # kernels before 5.19 have no memory.peak: the sampled maximum

    def usage_bytes(self) -> float:
        usage = _number(self.group / "memory.current")
        if usage == usage:
            self._peak = max(self._peak, usage)
        return usage

    def peak_bytes(self) -> float:
        peak = _number(self.group / "memory.peak")
        return peak if peak == peak else self._peak

    def reset_peak(self) -> None:
        self._peak = 0.0
        with contextlib.suppress(OSError):  # resettable since Linux 6.12
            (self.group / "memory.peak").write_text("0")

    def oom_kills(self) -> int:
        return _field(_read(self.group / "memory.events"), "oom_kill")


class RssMeter:
    """The summed RSS of a process group, sampled: an rlimit has no counter of its own."""

    kind = "rlimit"

    def __init__(self, pgid: int = 0) -> None:
        self.pgid = pgid
        self._peak = 0.0

    def usage_bytes(self) -> float:
        total = 0
        page = os.sysconf("SC_PAGE_SIZE")
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) == self.pgid:  # field 5 of stat: the process group
                    total += int(fields[21]) * page  # field 24: rss in pages
            except (OSError, ValueError, IndexError):
                continue
        self._peak = max(self._peak, float(total))
        return float(total)

    def peak_bytes(self) -> float:
        return self._peak

    def reset_peak(self) -> None:
        self._peak = 0.0

    def oom_kills(self) -> int:
        return 0  # no OOM killer acts on an rlimit

    def spec(self) -> str:
        return f"{self.kind}:{self.pgid}"


def meter_from_spec(spec: str) -> Meter:
    kind, _, where = spec.partition(":")
    if kind == "cgroup-v1":
        return CgroupV1Meter(Path(where))
    if kind == "cgroup-v2":
        return CgroupV2Meter(Path(where))
    if kind == "rlimit":
        return RssMeter(int(where))
    raise ValueError(f"not a meter spec: {spec!r}")


def _group_name() -> str:
    return f"perflab-soak-{os.getpid()}-{time.monotonic_ns()}"


def _remove(group: Path) -> None:
    for _ in range(50):  # the killed tree takes a moment to leave the group
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


class CgroupV2:
    kind = "cgroup-v2"
    factor = 1

    def __init__(self, limit: int, group: Path) -> None:
        self.limit = limit
        self.group = group
        self.meter: Meter = CgroupV2Meter(group)

    @classmethod
    def make(cls, limit: int) -> CgroupV2 | None:
        for mount in _cgroup2_mounts():
            if "memory" not in _read(mount / "cgroup.controllers").split():
                continue
            if "memory" not in _read(mount / "cgroup.subtree_control").split():
                try:  # allowed at a hierarchy's root, or where the parent holds no process
                    (mount / "cgroup.subtree_control").write_text("+memory")
                except OSError:
                    continue
            group = mount / _group_name()
            try:
                group.mkdir()
                (group / "memory.max").write_text(str(limit))
                with contextlib.suppress(OSError):  # absent without swap accounting
                    (group / "memory.swap.max").write_text("0")
                with contextlib.suppress(OSError):  # kill the whole tree, as a container
                    (group / "memory.oom.group").write_text("1")
            except OSError:
                _remove(group)
                continue
            return cls(limit, group)
        return None

    def enter(self) -> None:
        (self.group / "cgroup.procs").write_text(str(os.getpid()))

    def close(self) -> None:
        _remove(self.group)


class CgroupV1(CgroupV2):
    kind = "cgroup-v1"

    def __init__(self, limit: int, group: Path) -> None:
        super().__init__(limit, group)
        self.meter = CgroupV1Meter(group)

    @classmethod
    def make(cls, limit: int) -> CgroupV1 | None:
        hierarchy = CGROUP_ROOT / "memory"
        if not (hierarchy / "cgroup.procs").exists():
            return None
        group = hierarchy / _group_name()
        try:
            group.mkdir()
            (group / "memory.limit_in_bytes").write_text(str(limit))
        except OSError:
            _remove(group)
            return None
        with contextlib.suppress(OSError):  # not every kernel accounts swap
            (group / "memory.memsw.limit_in_bytes").write_text(str(limit))
        with contextlib.suppress(OSError):
            (group / "memory.swappiness").write_text("0")
        return cls(limit, group)


class Rlimit:
    kind = "rlimit"

    def __init__(self, limit: int, factor: int = RLIMIT_FACTOR) -> None:
        self.limit = limit
        self.factor = factor
        self.meter: Meter = RssMeter()

    @classmethod
    def make(cls, limit: int) -> Rlimit:
        return cls(limit)

    def enter(self) -> None:
        cap = self.limit * self.factor
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    def watch(self, pgid: int) -> None:
        """The meter's process group, known once the child is started."""
        self.meter = RssMeter(pgid)

    def close(self) -> None:
        pass


def _cgroup2_mounts() -> list[Path]:
    mounts = []
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            mounts.append(Path(left.split()[4]))
    return mounts


def v2_unavailable(mounts: list[tuple[Path, str]], proc_cgroups: str) -> str:
    """Why no cgroup2 memory group can be made, from the cgroup2 mounts (path, their
    `cgroup.controllers`) and /proc/cgroups: the likely reason, for the error's hint."""
    if not mounts:
        return "no cgroup2 file system is mounted"
    offered = "; ".join(f"{path} offers {' '.join(c.split()) or 'no controller'}"
                        for path, c in mounts)
    for line in proc_cgroups.splitlines():
        fields = line.split()
        if fields[:1] == ["memory"] and len(fields) > 1 and fields[1] not in ("0", ""):
            # A controller serves v1 or v2, never both: bound to a mounted v1
            # hierarchy, it is absent from every cgroup2 mount until that is gone.
            return (f"the memory controller is bound to cgroup v1 (hierarchy {fields[1]} in "
                    f"/proc/cgroups), so cgroup2 cannot have it: {offered}")
    return f"{offered}; making a group there needs root"


KINDS: dict[str, Callable[[int], Confinement | None]] = {
    "cgroup-v2": CgroupV2.make,
    "cgroup-v1": CgroupV1.make,
    "rlimit": Rlimit.make,
}


def confine(limit: int, kind: str = "auto") -> Confinement:
    """The strongest confinement this machine allows, or the one named (UsageError if not)."""
    if kind != "auto" and kind not in KINDS:
        raise UsageError(f"unknown --limit-kind {kind!r}",
                         hint=f"one of: auto, {', '.join(KINDS)}")
    for name, make in KINDS.items():
        if kind in ("auto", name):
            made = make(limit)
            if made is not None:
                return made
    hint = "it needs root and that cgroup memory controller"
    if kind == "cgroup-v2":
        mounts = [(m, _read(m / "cgroup.controllers")) for m in _cgroup2_mounts()]
        hint = v2_unavailable(mounts, _read(Path("/proc/cgroups")))
    raise UsageError(f"cannot make a {kind} memory group here",
                     hint=f"{hint}; --limit-kind auto picks what this machine has")
