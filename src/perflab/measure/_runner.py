"""Runs a case's ladder: every repetition of every variant in a fresh process.

Repetitions are interleaved (rep 1 of every variant, then rep 2, ...) so slow
drift on a noisy machine spreads over all variants instead of biasing the one
measured last. The first `warmups` rounds are run and thrown away (page cache,
pyc files, lazily started services). Every measured sample is kept raw.

Two rules end a case's rounds early, and a note says which did:
- adaptive stopping (quick scale by default): once every verdict the case's
  tables print is settled, see `_stopping` for the rule and its error rate;
- a time budget: once at least `MIN_REPETITIONS` rounds are in and the
  budget is spent.
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
from perflab.measure._stopping import MIN_REPETITIONS, interim_significance_allowed, settled
from perflab.measure._tables import verdict_pairs
from perflab.measure._worker import load_case

__all__ = ["MIN_REPETITIONS", "Progress", "ProgressEvent", "RunOptions", "run_case"]

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
    adaptive: bool | None = None  # None: on at quick scale, off at full scale
    timeline: bool = True  # GC collections (and a case's own events) of the first measured run


@dataclass(frozen=True)
class ProgressEvent:
    case: str
    variant: str
    round: int  # 1-based, warm-up rounds included
    rounds: int
    warmup: bool
    seconds: float | None  # wall time of the finished execution, None when starting
    variants: int = 1  # executions in a round
    position: int = 1  # 1-based place of this variant in its round
    elapsed_s: float | None = None  # the finished execution, child start-up included
    warmups: int = 0  # of the `rounds`
    budget_s: float | None = None  # the case's time budget for its rounds


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
            "timeline": options.timeline,
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
    adaptive = options.adaptive if options.adaptive is not None else options.scale == "quick"
    interim_ok = interim_significance_allowed(MIN_REPETITIONS, options.repetitions)
    samples: dict[str, list[dict[str, float]]] = {v.name: [] for v in variants}
    errors: dict[str, str] = {}
    notes: list[str] = []
    timelines: dict[str, Any] = {}

    workdir = options.workdir / case.name / options.scale
    workdir.mkdir(parents=True, exist_ok=True)
    base_ctx = RunContext(options.scale, workdir)
    case_started = time.monotonic()
    with case.session(base_ctx) as params:
        ctx = RunContext(options.scale, workdir, dict(params))
        started = time.monotonic()
        for index in range(rounds):
            warmup = index < options.warmups
            for position, v in enumerate(variants, 1):
                if v.name in errors:
                    continue
                event = ProgressEvent(case.name, v.name, index + 1, rounds, warmup, None,
                                      len(variants), position, warmups=options.warmups,
                                      budget_s=budget)
                if progress:
                    progress(event)
                child_started = time.monotonic()
                result = _run_child(case_ref, v.name, ctx, options)
                if "error" in result:
                    if v.kind != "reference":
                        raise MeasurementError(f"{case.name}/{v.name}: {result['error']}")
                    errors[v.name] = result["error"]
                    continue
                if progress:
                    progress(replace(event, seconds=result["metrics"].get("wall_s"),
                                     elapsed_s=time.monotonic() - child_started))
                if not warmup:
                    samples[v.name].append(result["metrics"])
                    if "timeline" in result:
                        timelines.setdefault(v.name, result["timeline"])
            measured = index + 1 - options.warmups
            if measured < MIN_REPETITIONS or index + 1 >= rounds:
                continue
            if adaptive and _all_settled(_result(case, options, variants, samples, errors, ()),
                                         options.repetitions - measured,
                                         interim_ok and measured == MIN_REPETITIONS):
                notes.append(
                    f"stopped after {measured} of {options.repetitions} repetitions: "
                    "every verdict settled (adaptive stopping)"
                )
                break
            if time.monotonic() - started > budget:
                notes.append(
                    f"time budget of {budget:.0f} s spent after {measured} of "
                    f"{options.repetitions} repetitions"
                )
                break

    measured_case = _result(case, options, variants, samples, errors, notes)
    return replace(measured_case, timelines=timelines,
                   elapsed_s=round(time.monotonic() - case_started, 3))


def _result(case: Any, options: RunOptions, variants: Sequence[Variant],
            samples: dict[str, list[dict[str, float]]], errors: dict[str, str],
            notes: Sequence[str]) -> CaseResult:
    return CaseResult(
        name=case.name,
        title=case.title,
        scale=options.scale,
        variants=[_variant_result(v, samples[v.name], errors.get(v.name)) for v in variants],
        table=list(case.metrics),
        notes=list(notes),
    )


def _all_settled(partial: CaseResult, remaining: int, interim_ok: bool) -> bool:
    return all(settled(a.samples, b.samples, remaining, interim_ok=interim_ok)
               for a, b in verdict_pairs(partial))


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
