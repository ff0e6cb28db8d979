"""Whole commands measured like hyperfine does, judged like benchstat does.

- `expand` turns command templates and `--parameter-scan`/`--parameter-list`
  values into the benchmarks to run, `{NAME}` substituted (only known names,
  so `awk '{print}'` is left alone);
- `run_bench` runs them: warm-up runs first, then rounds in which every
  benchmark runs once (interleaved, the order rotated each round so none
  always follows the same neighbour), `prepare` before each run, `setup` and
  `cleanup` once per benchmark; until `runs` rounds, or until the time budget
  is spent after `min_runs`;
- one run is `posix_spawn` + `wait4`: wall time around both, user + system
  CPU and peak RSS from the child's rusage (the kernel's own accounting of
  that child and the descendants it waited for);
- the result is a `CaseResult` (the first benchmark is the baseline), so the
  stats, tables, `compare` and the report read it like any ladder;
- `instability` says why a benchmark's runs cannot be trusted as they are,
  in pyperf's and hyperfine's terms.
"""

from __future__ import annotations

import itertools
import os
import resource
import shlex
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from perflab.errors import MeasurementError, UsageError
from perflab.measure._case import Metric
from perflab.measure._format import Table, format_p, format_value
from perflab.measure._records import CaseResult, MetricSamples, VariantResult
from perflab.measure._stats import mann_whitney_p

__all__ = [
    "BENCH_METRICS",
    "BenchOptions",
    "Benchmark",
    "RunSample",
    "bench_table",
    "expand",
    "instability",
    "modified_zscores",
    "rss_floor_bytes",
    "rss_notes",
    "run_bench",
    "run_once",
    "scan_values",
]

BENCH_METRICS = (
    Metric("wall_s", "Wall Time", "s"),
    Metric("cpu_s", "CPU (user+sys)", "s"),
    Metric("peak_rss_bytes", "Peak RSS", "B"),
)
# A typo such as `-P n 1 1000000` must not queue a million benchmarks.
MAX_BENCHMARKS = 1000
# pyperf warns when the standard deviation is more than 10% of the mean.
DEFAULT_SPREAD_THRESHOLD = 0.10
# hyperfine's outlier threshold on the modified z-score (a normal sample's are within ~3.5).
OUTLIER_SCORE = 14.0
# Shell syntax that `--shell auto` hands to `sh -c` instead of exec'ing directly.
_SHELL_CHARS = set("|&;<>()$`\\\"'*?[]#~\n")


@dataclass(frozen=True)
class Benchmark:
    name: str  # unique: a repeated command gets " #2"
    command: str
    params: Mapping[str, str] = field(default_factory=dict)
    prepare: str | None = None
    setup: str | None = None
    cleanup: str | None = None


@dataclass(frozen=True)
class BenchOptions:
    runs: int | None = None  # None: until the budget is spent
    warmups: int = 1
    budget_s: float = 3.0  # per benchmark, when `runs` is None
    min_runs: int = 10
    max_runs: int = 1000
    shell: str = "auto"  # "auto", "sh" or "none"
    ignore_failure: bool = False
    show_output: bool = False


@dataclass(frozen=True)
class RunSample:
    wall_s: float
    cpu_s: float
    peak_rss_bytes: float
    status: int


def scan_values(lo: str, hi: str, step: str | None = None) -> list[str]:
    """LO..HI inclusive by STEP (1 when omitted), exact in decimal: 0.1 steps give 0.3, not
    0.30000000000000004."""
    try:
        a, b = Decimal(lo), Decimal(hi)
        d = Decimal(step) if step is not None else Decimal(1)
    except InvalidOperation as exc:
        raise UsageError(f"--parameter-scan needs numbers, got {lo!r} {hi!r}") from exc
    if d <= 0:
        raise UsageError("--parameter-step-size must be positive")
    if b < a:
        raise UsageError(f"--parameter-scan: {hi} is below {lo}")
    if (b - a) / d >= MAX_BENCHMARKS:
        raise UsageError(f"--parameter-scan {lo} {hi} makes more than {MAX_BENCHMARKS} values")
    values = []
    x = a
    while x <= b:
        values.append(str(x))
        x += d
    return values


def _substitute(template: str | None, params: Mapping[str, str]) -> str | None:
    if template is None:
        return None
    for name, value in params.items():
        template = template.replace("{" + name + "}", value)
    return template


def expand(
    commands: Sequence[str],
    parameters: Sequence[tuple[str, Sequence[str]]] = (),
    *,
    names: Sequence[str] = (),
    prepare: Sequence[str] = (),
    setup: str | None = None,
    cleanup: str | None = None,
) -> list[Benchmark]:
    """Every command for every combination of parameter values, in that order."""
    if not commands:
        raise UsageError("no command to benchmark")
    if names and len(names) != len(commands):
        raise UsageError(f"{len(names)} --command-name for {len(commands)} commands")
    if len(prepare) not in (0, 1, len(commands)):
        raise UsageError(f"{len(prepare)} --prepare for {len(commands)} commands: give one, "
                         "or one per command")
    seen_params = [n for n, _ in parameters]
    if len(set(seen_params)) != len(seen_params):
        raise UsageError("a parameter is named twice")
    combos = [dict(zip(seen_params, values, strict=True))
              for values in itertools.product(*(v for _, v in parameters))]
    if len(combos) * len(commands) > MAX_BENCHMARKS:
        raise UsageError(f"more than {MAX_BENCHMARKS} benchmarks")
    out: list[Benchmark] = []
    used: dict[str, int] = {}
    for i, command in enumerate(commands):
        for params in combos:
            base = _substitute(names[i], params) if names else None
            cmd = _substitute(command, params) or ""
            name = base or cmd
            used[name] = used.get(name, 0) + 1
            if used[name] > 1:
                name = f"{name} #{used[name]}"
            prep = prepare[0] if len(prepare) == 1 else (prepare[i] if prepare else None)
            out.append(Benchmark(name, cmd, params, _substitute(prep, params),
                                 _substitute(setup, params), _substitute(cleanup, params)))
    return out


def _argv(command: str, shell: str) -> list[str]:
    first = command.split(maxsplit=1)[0] if command.strip() else ""
    if shell == "sh" or (shell == "auto" and (_SHELL_CHARS & set(command) or "=" in first)):
        return ["/bin/sh", "-c", command]
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"cannot split {command!r}: {exc}") from exc
    if not argv:
        raise UsageError("an empty command")
    return argv


def run_once(command: str, *, shell: str = "auto", show_output: bool = False) -> RunSample:
    """One execution, timed from just before the spawn to just after the reap."""
    argv = _argv(command, shell)
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0)]
        if not show_output:
            actions += [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        start = time.perf_counter()
        try:
            pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
        except OSError as exc:
            raise UsageError(f"cannot run {argv[0]!r}: {exc.strerror}",
                             hint="a command with shell syntax needs --shell sh") from exc
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
    finally:
        os.close(devnull)
    return RunSample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024.0,
                     os.waitstatus_to_exitcode(status))


def _run_hook(what: str, command: str | None, bench: Benchmark, show_output: bool) -> None:
    if command is None:
        return
    sample = run_once(command, shell="sh", show_output=show_output)
    if sample.status != 0:
        raise MeasurementError(f"{bench.name}: {what} {command!r} exited {sample.status}")


def run_bench(
    benchmarks: Sequence[Benchmark],
    options: BenchOptions,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[RunSample]]:
    """Measured samples per benchmark name, warm-ups left out."""
    if options.runs is not None and options.runs < 2:
        raise UsageError("--runs must be at least 2 (a verdict needs two samples a side)")
    if options.warmups < 0:
        raise UsageError("--warmup cannot be negative")
    samples: dict[str, list[RunSample]] = {b.name: [] for b in benchmarks}
    for b in benchmarks:
        _run_hook("--setup", b.setup, b, options.show_output)
    try:
        for b in benchmarks:
            for _ in range(options.warmups):
                _run_hook("--prepare", b.prepare, b, options.show_output)
                _measure(b, options)
        rounds = options.runs if options.runs is not None else options.max_runs
        budget = options.budget_s * len(benchmarks)
        started = time.monotonic()
        for r in range(rounds):
            shift = r % len(benchmarks)
            for b in (*benchmarks[shift:], *benchmarks[:shift]):
                _run_hook("--prepare", b.prepare, b, options.show_output)
                samples[b.name].append(_measure(b, options))
            if progress:
                progress(f"round {r + 1}" + (f"/{options.runs}" if options.runs else ""))
            if (options.runs is None and r + 1 >= options.min_runs
                    and time.monotonic() - started >= budget):
                break
    finally:
        for b in benchmarks:
            _run_hook("--cleanup", b.cleanup, b, options.show_output)
    return samples


def _measure(b: Benchmark, options: BenchOptions) -> RunSample:
    sample = run_once(b.command, shell=options.shell, show_output=options.show_output)
    if sample.status != 0 and not options.ignore_failure:
        raise MeasurementError(f"{b.name}: exited {sample.status}",
                               hint="--ignore-failure measures it anyway")
    return sample


def to_case(benchmarks: Sequence[Benchmark], samples: Mapping[str, Sequence[RunSample]],
            notes: Sequence[str] = ()) -> CaseResult:
    variants = []
    for i, b in enumerate(benchmarks):
        runs = samples[b.name]
        metrics = {m.name: MetricSamples(m.unit, tuple(getattr(s, m.name) for s in runs))
                   for m in BENCH_METRICS}
        params = ", ".join(f"{k}={v}" for k, v in b.params.items())
        description = b.command + (f" ({params})" if params else "")
        variants.append(VariantResult(b.name, "baseline" if i == 0 else "step", description,
                                      metrics))
    return CaseResult("bench", "perflab bench", "bench", variants, list(BENCH_METRICS),
                      tuple(notes))


def rss_floor_bytes() -> float:
    """The least peak RSS a child of this process can report.

    A child spawned with vfork (posix_spawn) execs out of its parent's address space,
    and Linux carries that space's peak into the child's `ru_maxrss`; a command that
    stays smaller than this Python process reports this process's peak instead.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def rss_notes(case: CaseResult, floor: float) -> list[str]:
    return [f"{v.name}: its peak RSS is at most {format_value(floor, 'B')}, perflab's own "
            "(a child reports its parent's peak when it stays below it; `command time -v` "
            "measures it from a small parent)"
            for v in case.variants if v.metrics["peak_rss_bytes"].summary.median <= floor]


def modified_zscores(xs: Sequence[float]) -> list[float]:
    """Iglewicz and Hoaglin's modified z-scores, 0.6745 (x - median) / MAD, as hyperfine
    scores outliers; where MAD is 0, the mean absolute deviation times 1.2533 stands in."""
    median = statistics.median(xs)
    deviations = [abs(x - median) for x in xs]
    mad = statistics.median(deviations)
    if mad > 0:
        return [0.6745 * (x - median) / mad for x in xs]
    mean_ad = statistics.fmean(deviations) * 1.2533
    return [(x - median) / mean_ad if mean_ad else 0.0 for x in xs]


def instability(name: str, wall: Sequence[float],
                threshold: float = DEFAULT_SPREAD_THRESHOLD) -> list[str]:
    """Warnings, each saying which sign of instability it saw: hyperfine's slow first run
    and outliers (a modified z-score beyond 14), pyperf's spread (stdev over 10% of mean)."""
    warnings = []
    if len(wall) >= 3:
        scores = modified_zscores(wall)
        if scores[0] > OUTLIER_SCORE:
            rest = statistics.median(wall[1:])
            warnings.append(
                f"{name}: the first run ({format_value(wall[0], 's')}, "
                f"{wall[0] / rest:.1f}x the median of the rest) was much slower: caches were "
                "filled then; more --warmup, or --prepare to clear them every time")
            wall = wall[1:]  # said once: the checks below are the rest's
        elif (n := sum(abs(z) > OUTLIER_SCORE for z in scores)):
            warnings.append(
                f"{name}: {n} outlier run(s) (modified z-score over {OUTLIER_SCORE:g}): "
                "something else ran then; the median resists them, the spread does not")
    if len(wall) >= 2:
        mean = statistics.fmean(wall)
        sd = statistics.stdev(wall)
        if mean > 0 and sd / mean > threshold:
            warnings.append(
                f"{name}: unstable, the standard deviation is {sd / mean * 100:.0f}% of the "
                f"mean (over {threshold * 100:.0f}%): other load on the machine, or a "
                "bimodal command; more runs, or a quieter machine")
    return warnings


def _verdict(old: MetricSamples, new: MetricSamples) -> tuple[str, str]:
    p = mann_whitney_p(old.samples, new.samples)
    a, b = old.summary.median, new.summary.median
    if p >= 0.05 or not a or not b:
        return "~", format_p(p)
    ratio = b / a
    return (f"{ratio:.2f}x slower" if ratio > 1 else f"{1 / ratio:.2f}x faster"), format_p(p)


def bench_table(case: CaseResult) -> Table:
    """Each benchmark against the first: the median ± CI, CPU, peak RSS, verdict on time."""
    base = case.variants[0]
    rows = []
    for i, v in enumerate(case.variants):
        cells = []
        for m in BENCH_METRICS:
            s = v.metrics[m.name].summary
            cells.append(f"{format_value(s.median, m.unit)} ±{s.spread * 100:.0f}%")
        if i == 0:
            verdict, p = "baseline", ""
        else:
            verdict, p = _verdict(base.metrics["wall_s"], v.metrics["wall_s"])
        rows.append([v.name, *cells, str(v.metrics["wall_s"].summary.n), verdict, p])
    headers = ["Command", *(m.label for m in BENCH_METRICS), "Runs", "vs baseline", "p"]
    return Table(headers, rows)
