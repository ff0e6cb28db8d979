"""`perflab bounded soak`: any HTTP service under a hard memory limit, loaded, watched.

    Service     the command in its confinement (see _confine): started with its port
                in `{port}` and $PORT, its memory sampled, restarted after a death as
                a container runtime restarts an OOM-killed container
    soak        one run: start, load (see _load) until a deadline or a request count,
                scrape /metrics for GC pauses, stop; a `SoakResult`

The built-in service (`perflab bounded serve`) is the target when no command is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from perflab.bounded._confine import Confinement, Rlimit, confine
from perflab.bounded._load import Counts, LoadSpec, drive

__all__ = ["Service", "SoakResult", "builtin_command", "gc_pauses", "soak"]

SAMPLE_S = 0.1  # memory sampling period; doubled whenever the series passes MAX_SAMPLES
MAX_SAMPLES = 4000  # a plot needs no more, and an hours-long soak must not grow without end
READY_TIMEOUT_S = 30.0
IDLE_SETTLE_S = 0.3  # after the port opens, before idle memory is read


def builtin_command(variant: str, cache_bytes: str = "50MiB") -> list[str]:
    return [sys.executable, "-m", "perflab", "bounded", "serve", "--port", "{port}",
            "--impl", variant, "--cache-bytes", cache_bytes]


@dataclass
class SoakResult:
    command: list[str]
    limit_kind: str  # cgroup-v2, cgroup-v1 or rlimit
    limit_bytes: int
    enforced_bytes: int  # the limit the kernel enforces: limit_bytes * rlimit_factor
    rlimit_factor: int | None  # None under a cgroup
    seconds: float
    requests: int
    served: int
    shed: int
    errors_5xx: int
    errors_4xx: int
    client_errors: int
    uploads_done: int
    oom_kills: int
    deaths: int  # exits the soak did not ask for, OOM kills included
    restarts: int
    idle_bytes: float
    peak_bytes: float
    gc_pause_max_s: float | None  # from the service's /metrics, when it exposes them
    gc_pause_total_s: float | None
    p50_s: float
    p99_s: float
    memory_series: list[tuple[float, float]] = field(default_factory=list)
    death_times: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)  # -9: killed (the OOM killer's signal)

    def as_json(self, *, series: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not series:
            del out["memory_series"]
        return {k: (None if isinstance(v, float) and v != v else v) for k, v in out.items()}


class Service:
    """The command, confined, on a port of its own; watched by a thread until `stop`."""

    def __init__(self, command: Sequence[str], confinement: Confinement, *, restart: bool = True,
                 log: Path | None = None, status: Path | None = None) -> None:
        from perflab.services import free_port

        self.command = list(command)
        self.confinement = confinement
        self.restart = restart
        self.port = free_port()
        self.log = log
        self.status = status  # a JSON file other processes read: port, meter, restarts
        self.deaths = 0
        self.restarts = 0
        self.exit_codes: list[int] = []
        self.death_times: list[float] = []  # seconds since start, as in `series`
        self.series: list[tuple[float, float]] = []
        self.idle_bytes = float("nan")
        self.started = time.monotonic()
        self._period = SAMPLE_S
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._watch, name="soak-watch", daemon=True)

    @property
    def argv(self) -> list[str]:
        return [a.replace("{port}", str(self.port)) for a in self.command]

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def done(self) -> bool:
        """Dead for good: it died and is not to be restarted."""
        return not self.alive and not self.restart and self.deaths > 0

    def _spawn(self) -> None:
        env = {**os.environ, "PORT": str(self.port)}
        if isinstance(self.confinement, Rlimit):  # no cgroup for the service to read
            env["PERFLAB_MEMORY_LIMIT"] = str(self.confinement.limit)
        out: Any = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            self._proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                          env=env, start_new_session=True,
                                          preexec_fn=self.confinement.enter)
        except OSError as exc:
            from perflab.errors import UsageError

            raise UsageError(f"cannot run {self.command[0]!r}: {exc.strerror}") from exc
        except subprocess.SubprocessError as exc:  # entering the group failed in the child
            from perflab.errors import ServiceError

            raise ServiceError(f"cannot confine {self.command[0]!r} ({self.confinement.kind}): "
                               f"{exc}", hint="--limit-kind rlimit needs no root") from exc
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        if isinstance(self.confinement, Rlimit):
            self.confinement.watch(self._proc.pid)
        self._write_status()

    def _write_status(self) -> None:
        if self.status is not None:
            tmp = self.status.with_suffix(".tmp")  # readers never see half a file
            tmp.write_text(json.dumps({
                "port": self.port, "restarts": self.restarts, "deaths": self.deaths,
                "meter": self.confinement.meter.spec(), "idle_bytes": self.idle_bytes}))
            tmp.replace(self.status)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        from perflab.errors import ServiceError
        from perflab.services import wait_listening

        assert self._proc is not None
        hint = f"see {self.log}" if self.log else "run the command alone to see why"
        try:
            wait_listening(self.port, self.command[0], timeout, process=self._proc, hint=hint)
        except ServiceError:
            if self._proc.poll() is not None and self.confinement.meter.oom_kills():
                return  # killed on its way up: the watcher counts it
            raise

    def start(self) -> Service:
        self._spawn()
        self.wait_ready()
        time.sleep(IDLE_SETTLE_S)
        self.idle_bytes = self.confinement.meter.usage_bytes()
        self._write_status()
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stopping.wait(self._period):
            self.series.append((round(time.monotonic() - self.started, 3),
                                self.confinement.meter.usage_bytes()))
            if len(self.series) > MAX_SAMPLES:
                self.series = self.series[::2]
                self._period *= 2
            proc = self._proc
            if proc is None or proc.poll() is None or self._stopping.is_set():
                continue
            self.deaths += 1
            self.exit_codes.append(proc.returncode)
            self.death_times.append(round(time.monotonic() - self.started, 3))
            self._kill_group(proc)  # a worker may outlive its killed parent
            if not self.restart:
                self._write_status()
                continue
            self.restarts += 1
            with contextlib.suppress(Exception):  # a failed start shows as the next death
                self._spawn()
                self.wait_ready()

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 9)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill_group(proc)
                proc.wait()
        self.confinement.close()

    def __enter__(self) -> Service:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def gc_pauses(samples: dict[str, float]) -> tuple[float | None, float | None]:
    """(max, total) GC pause in seconds from a service's Prometheus samples, if it has them."""
    def ending(suffix: str) -> float | None:
        found = [v for k, v in samples.items() if k.endswith(suffix)]
        return max(found) if found else None

    return ending("gc_pause_seconds_max"), ending("gc_pause_seconds_total")


def scrape(port: int, path: str | None) -> dict[str, float]:
    """The service's unlabelled Prometheus samples at `path`; empty when it has none."""
    import urllib.request

    if not path:
        return {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            text = resp.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name and not line.startswith("#") and "{" not in name:
            with contextlib.suppress(ValueError):
                samples[name] = float(value)
    return samples


def run_load(port: int, spec: LoadSpec, *, duration: float | None, requests: int | None,
             service: Service | None = None) -> tuple[Counts, Any]:
    """Drive `spec` at the port until the duration, the request count, or the service's end."""
    from perflab.measure import LatencyHistogram

    hist = LatencyHistogram()
    deadline = time.monotonic() + duration if duration is not None else float("inf")
    interrupted = threading.Event()

    def until(c: Counts) -> bool:
        return (time.monotonic() >= deadline or (requests is not None and c.requests >= requests)
                or (service is not None and service.done) or interrupted.is_set())

    # Ctrl-C or SIGTERM ends the load early and the soak still reports what it saw.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: interrupted.set())

    coro = drive(f"http://127.0.0.1:{port}", spec, until=until, latencies=hist)
    try:
        import uvloop

        counts: Counts = uvloop.run(coro)
    except ImportError:
        counts = asyncio.run(coro)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return counts, hist


def soak(command: Sequence[str], limit: int, spec: LoadSpec, *, duration: float | None = 30.0,
         requests: int | None = None, limit_kind: str = "auto", restart: bool = True,
         metrics_path: str | None = "/metrics", log: Path | None = None) -> SoakResult:
    confinement = confine(limit, limit_kind)
    started = time.monotonic()
    with Service(command, confinement, restart=restart, log=log) as service:
        counts, hist = run_load(service.port, spec, duration=duration, requests=requests,
                                service=service)
        seconds = time.monotonic() - started
        pause_max, pause_total = gc_pauses(scrape(service.port, metrics_path)) \
            if service.alive else (None, None)
        meter = confinement.meter
        usage = [b for _, b in service.series if b == b]
        peak = meter.peak_bytes()
        if peak != peak or (usage and max(usage) > peak):
            peak = max(usage, default=float("nan"))
        result = SoakResult(
            command=list(command), limit_kind=confinement.kind, limit_bytes=limit,
            enforced_bytes=limit * confinement.factor,
            rlimit_factor=confinement.factor if isinstance(confinement, Rlimit) else None,
            seconds=seconds, requests=counts.requests, served=counts.served, shed=counts.shed,
            errors_5xx=counts.errors_5xx, errors_4xx=counts.errors_4xx,
            client_errors=counts.client_errors, uploads_done=counts.uploads_done,
            oom_kills=meter.oom_kills(), deaths=service.deaths, restarts=service.restarts,
            idle_bytes=service.idle_bytes, peak_bytes=peak, gc_pause_max_s=pause_max,
            gc_pause_total_s=pause_total,
            p50_s=hist.percentile_s(50.0) if hist.count else float("nan"),
            p99_s=hist.percentile_s(99.0) if hist.count else float("nan"),
            memory_series=list(service.series), death_times=list(service.death_times),
            exit_codes=list(service.exit_codes),
        )
    return result
