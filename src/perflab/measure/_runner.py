"""Runs a case's ladder: every repetition of every variant in a fresh process.

Repetitions are interleaved (rep 1 of every variant, then rep 2, ...) so slow
drift on a noisy machine spreads over all variants instead of biasing the one
measured last. The first `warmups` rounds are run and thrown away (page cache,
pyc files, lazily started services). Every measured sample is kept raw.

A case has a time budget: once at least `MIN_REPETITIONS` rounds are in and
the budget is spent, the remaining rounds are skipped and a note says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from perflab.errors import MeasurementError, UsageError
from perflab.measure._case import SCALES, RunContext, Variant
from perflab.measure._records import CaseResult, MetricSamples, VariantResult
from perflab.measure._worker import load_case

__all__ = ["MIN_REPETITIONS", "Progress", "RunOptions", "run_case"]

# With 3 samples a side, Mann-Whitney's smallest two-sided p is 0.1: never
# significant. 4 a side can reach 0.029, so a budget never cuts below that.
MIN_REPETITIONS = 4
# A case's budget is set for quick scale; full scale gets this many times more.
FULL_BUDGET_FACTOR = 5
# Far beyond any quick-scale variant; a hung child must not hang `perflab run`.
CHILD_TIMEOUT_S = 1800.0
# Units of the collector's metrics, for the JSON contract.
COLLECTOR_UNITS = {
    "wall_s": "s",
    "cpu_s": "s",
    "peak_rss_bytes": "B",
    "gc_collections": "count",
    "gc_pause_total_s": "s",
    "gc_pause_max_s": "s",
    "allocated_blocks": "count",
    "traced_peak_bytes": "B",
}


@dataclass(frozen=True)
class RunOptions:
    workdir: Path
    scale: str = "quick"
    repetitions: int = 5
    warmups: int = 1
    budget_s: float | None = None  # None: the case's own budget
    variants: Sequence[str] | None = None  # None: the whole ladder
    trace_allocations: bool = False


@dataclass(frozen=True)
class ProgressEvent:
    case: str
    variant: str
    round: int  # 1-based, warm-up rounds included
    rounds: int
    warmup: bool
    seconds: float | None  # wall time of the finished execution, None when starting


Progress = Callable[[ProgressEvent], None]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import whatever the parent can (tests register cases from tests/).
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def _run_child(case_ref: str, variant: str, ctx: RunContext, options: RunOptions) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="perflab-run-") as tmp:
        spec_path = Path(tmp, "spec.json")
        out_path = Path(tmp, "out.json")
        spec = {
            "case": case_ref,
            "variant": variant,
            "scale": ctx.scale,
            "workdir": str(ctx.workdir),
            "params": dict(ctx.params),
            "out": str(out_path),
            "trace_allocations": options.trace_allocations,
        }
        spec_path.write_text(json.dumps(spec))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "perflab.measure._worker", str(spec_path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=_child_env(),
                timeout=CHILD_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise MeasurementError(f"{variant}: no result after {CHILD_TIMEOUT_S:.0f} s") from exc
        if out_path.exists():
            result: dict[str, Any] = json.loads(out_path.read_text())
            return result
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return {"error": f"child exited {proc.returncode}: {tail[0]}"}


def run_case(
    case_ref: str, options: RunOptions, progress: Progress | None = None
) -> CaseResult:
    """Measure every selected variant of the case named by `module:attribute`."""
    if options.scale not in SCALES:
        raise UsageError(f"unknown scale {options.scale!r}; expected one of {', '.join(SCALES)}")
    if options.repetitions < 1:
        raise UsageError("--repetitions must be at least 1")
    case = load_case(case_ref)
    variants: list[Variant] = list(case.variants)
    if options.variants:
        known = {v.name for v in variants}
        unknown = [n for n in options.variants if n not in known]
        if unknown:
            raise UsageError(
                f"case {case.name!r} has no variant {unknown[0]!r}",
                hint=f"variants: {', '.join(v.name for v in variants)}",
            )
        variants = [v for v in variants if v.name in options.variants]
    else:
        variants = [v for v in variants if options.scale in v.scales]
    budget = options.budget_s if options.budget_s is not None else case.budget_s * (
        FULL_BUDGET_FACTOR if options.scale == "full" else 1)
    rounds = options.warmups + options.repetitions
    samples: dict[str, list[dict[str, float]]] = {v.name: [] for v in variants}
    errors: dict[str, str] = {}
    notes: list[str] = []

    workdir = options.workdir / case.name / options.scale
    workdir.mkdir(parents=True, exist_ok=True)
    base_ctx = RunContext(options.scale, workdir)
    with case.session(base_ctx) as params:
        ctx = RunContext(options.scale, workdir, dict(params))
        started = time.monotonic()
        for index in range(rounds):
            warmup = index < options.warmups
            for v in variants:
                if v.name in errors:
                    continue
                event = ProgressEvent(case.name, v.name, index + 1, rounds, warmup, None)
                if progress:
                    progress(event)
                result = _run_child(case_ref, v.name, ctx, options)
                if "error" in result:
                    if v.kind != "reference":
                        raise MeasurementError(f"{case.name}/{v.name}: {result['error']}")
                    errors[v.name] = result["error"]
                    continue
                if progress:
                    progress(replace(event, seconds=result["metrics"].get("wall_s")))
                if not warmup:
                    samples[v.name].append(result["metrics"])
            measured = index + 1 - options.warmups
            elapsed = time.monotonic() - started
            if measured >= MIN_REPETITIONS and elapsed > budget and index + 1 < rounds:
                notes.append(
                    f"time budget of {budget:.0f} s spent after {measured} of "
                    f"{options.repetitions} repetitions"
                )
                break

    return CaseResult(
        name=case.name,
        title=case.title,
        scale=options.scale,
        variants=[_variant_result(v, samples[v.name], errors.get(v.name)) for v in variants],
        table=list(case.metrics),
        notes=notes,
    )


def _variant_result(v: Variant, runs: list[dict[str, float]], error: str | None) -> VariantResult:
    names = sorted({k for run in runs for k in run})
    metrics = {
        name: MetricSamples(_unit(name), tuple(run[name] for run in runs if name in run))
        for name in names
    }
    return VariantResult(v.name, v.kind, v.description, metrics, error)


def _unit(metric: str) -> str:
    if metric in COLLECTOR_UNITS:
        return COLLECTOR_UNITS[metric]
    for suffix, unit in (("_per_s", "1/s"), ("_s", "s"), ("_bytes", "B"), ("_pct", "%")):
        if metric.endswith(suffix):
            return unit
    return "count"
