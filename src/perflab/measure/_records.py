"""Measurements as plain, immutable data, saved as versioned JSON.

The minimal contract of `results.json` (outside tools rely on it):

    {"schema": "perflab.results/1",
     "environment": {...},
     "cases": [{"name", "scale", "variants": [
         {"name", "kind", "description",
          "metrics": {METRIC: {"unit", "median", "ci_low", "ci_high", "samples": [...]}}}]}]}

Beyond it each case also records its title, its table metrics (label, unit,
which direction is better), notes (e.g. why its rounds stopped early) and
`elapsed_s`, its wall time in the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.errors import ResultsFileError
from perflab.measure._case import KINDS, Metric
from perflab.measure._stats import Summary, median_ci

__all__ = [
    "RESULTS_FILE",
    "SCHEMA",
    "CaseResult",
    "MetricSamples",
    "Results",
    "VariantResult",
    "keep_benchmark",
    "kept_dir_name",
    "load",
    "matched_cases",
    "matched_metrics",
    "save",
]

SCHEMA = "perflab.results/1"
RESULTS_FILE = "results.json"


def kept_dir_name(environment: Mapping[str, Any], suffix: str = "") -> str:
    """`<date>-<host>-<commit>[-suffix]`: sorts by time, says where and what was measured.

    The date is the run's `created` time in UTC to the minute (`2026-12-01T2257Z`).
    """
    import datetime as dt
    import re

    created = environment.get("created")
    now = dt.datetime.now(dt.UTC)
    when = dt.datetime.fromisoformat(created) if isinstance(created, str) else now
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
    host = re.sub(r"[^A-Za-z0-9.]+", "-", str(environment.get("host") or "host")).strip("-")
    commit = str(environment.get("git_commit") or "nocommit")[:7]
    return "-".join(part for part in (stamp, host or "host", commit, suffix) if part)


@dataclass(frozen=True)
class MetricSamples:
    unit: str
    samples: tuple[float, ...]

    @property
    def summary(self) -> Summary:
        return median_ci(self.samples)

    def to_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "unit": self.unit,
            "median": s.median,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "confidence": round(s.confidence, 4),
            "samples": list(self.samples),
        }


@dataclass(frozen=True)
class VariantResult:
    name: str
    kind: str
    description: str
    metrics: Mapping[str, MetricSamples]
    error: str | None = None  # a variant that could not run (e.g. a missing reference tool)


@dataclass(frozen=True)
class CaseResult:
    name: str
    title: str
    scale: str
    variants: Sequence[VariantResult]
    table: Sequence[Metric]
    notes: Sequence[str] = ()
    elapsed_s: float | None = None  # the case's wall time in `perflab run`, set-up included
    # Per variant, the first measured run's events: {"events": {KIND: [[start, duration,
    # detail], ...]}, "dropped": {KIND: n}} (see measure/_timeline.py).
    timelines: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def variant(self, name: str) -> VariantResult:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)


@dataclass(frozen=True)
class Results:
    environment: Mapping[str, Any]
    cases: Sequence[CaseResult] = field(default_factory=tuple)
    elapsed_s: float | None = None  # the whole `perflab run`'s wall time


def keep_benchmark(name: str, title: str, table: Sequence[Metric],
                   variants: Mapping[str, tuple[str, Mapping[str, Sequence[float]]]],
                   root: Path = Path("results")) -> Path:
    """Keep a benchmark's samples as `root/<date>-<host>-<commit>-NAME/results.json`.

    `variants` maps each thing compared to (its description, {metric: samples});
    a `<!-- perflab:generated case=NAME table=values -->` region shows them.
    Returns the file written.
    """
    from perflab.measure._environment import collect_environment

    environment = collect_environment()
    units = {m.name: m.unit for m in table}
    case = CaseResult(
        name=name, title=title, scale="benchmark", table=list(table),
        variants=[
            VariantResult(variant, "reference", description, {
                metric: MetricSamples(units.get(metric, ""), tuple(float(x) for x in xs))
                for metric, xs in samples.items()
            })
            for variant, (description, samples) in variants.items()
        ],
    )
    path = root / kept_dir_name(environment, name) / RESULTS_FILE
    save(Results(environment, [case]), path)
    return path


def _variant_json(v: VariantResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": v.name,
        "kind": v.kind,
        "description": v.description,
        "metrics": {k: m.to_json() for k, m in v.metrics.items()},
    }
    if v.error:
        out["error"] = v.error
    return out


def to_json(results: Results) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "environment": dict(results.environment),
        **({"elapsed_s": results.elapsed_s} if results.elapsed_s is not None else {}),
        "cases": [
            {
                "name": c.name,
                "title": c.title,
                "scale": c.scale,
                "table": [
                    {"name": m.name, "label": m.label, "unit": m.unit, "better": m.better,
                     "ladder": m.ladder}
                    for m in c.table
                ],
                "notes": list(c.notes),
                **({"elapsed_s": c.elapsed_s} if c.elapsed_s is not None else {}),
                "variants": [_variant_json(v) for v in c.variants],
                **({"timelines": dict(c.timelines)} if c.timelines else {}),
            }
            for c in results.cases
        ],
    }


def save(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Compact: the timelines' event lists, one number a line when indented, were most of a
    # kept file's size; summary.md is the file people read.
    path.write_text(json.dumps(to_json(results), separators=(",", ":")) + "\n", encoding="utf-8")


def _require(obj: Any, key: str, kind: type, where: str, path: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ResultsFileError(f"missing key {key!r} in {where}", path=path)
    value = obj[key]
    if not isinstance(value, kind):
        raise ResultsFileError(
            f"{where}.{key}: expected {kind.__name__}, got {type(value).__name__}", path=path
        )
    return value


def _optional_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def from_json(data: Any, path: str = "<results>") -> Results:
    schema = _require(data, "schema", str, "results", path)
    if schema != SCHEMA:
        raise ResultsFileError(f"schema {schema!r} is not {SCHEMA!r}", path=path)
    env = _require(data, "environment", dict, "results", path)
    cases = []
    for i, c in enumerate(_require(data, "cases", list, "results", path)):
        where = f"cases[{i}]"
        variants = []
        for j, v in enumerate(_require(c, "variants", list, where, path)):
            vwhere = f"{where}.variants[{j}]"
            kind = _require(v, "kind", str, vwhere, path)
            if kind not in KINDS:
                raise ResultsFileError(f"{vwhere}.kind: unknown kind {kind!r}", path=path)
            metrics = {}
            for name, m in _require(v, "metrics", dict, vwhere, path).items():
                mwhere = f"{vwhere}.metrics.{name}"
                samples = _require(m, "samples", list, mwhere, path)
                if not samples or not all(isinstance(x, int | float) for x in samples):
                    raise ResultsFileError(f"{mwhere}.samples: expected numbers", path=path)
                unit = _require(m, "unit", str, mwhere, path)
                metrics[name] = MetricSamples(unit, tuple(float(x) for x in samples))
            variants.append(
                VariantResult(
                    name=_require(v, "name", str, vwhere, path),
                    kind=kind,
                    description=str(v.get("description", "")),
                    metrics=metrics,
                    error=v.get("error"),
                )
            )
        table = [
            Metric(
                str(t["name"]),
                str(t.get("label", t["name"])),
                str(t.get("unit", "")),
                "higher" if t.get("better") == "higher" else "lower",
                bool(t.get("ladder", False)),
            )
            for t in c.get("table", [])
            if isinstance(t, dict) and "name" in t
        ]
        cases.append(
            CaseResult(
                name=_require(c, "name", str, where, path),
                title=str(c.get("title", c["name"])),
                scale=_require(c, "scale", str, where, path),
                variants=variants,
                table=table,
                notes=tuple(str(n) for n in c.get("notes", [])),
                elapsed_s=_optional_float(c.get("elapsed_s")),
                timelines=_timelines(c.get("timelines", {}), where, path),
            )
        )
    return Results(environment=env, cases=cases, elapsed_s=_optional_float(data.get("elapsed_s")))


def _timelines(data: Any, where: str, path: str) -> dict[str, Any]:
    """Checked as far as the report relies on: lists of three numbers per event."""
    if not isinstance(data, dict):
        raise ResultsFileError(f"{where}.timelines: expected an object", path=path)
    for variant, timeline in data.items():
        events = timeline.get("events") if isinstance(timeline, dict) else None
        if not isinstance(events, dict):
            raise ResultsFileError(f"{where}.timelines.{variant}: expected events", path=path)
        for kind, rows in events.items():
            if not isinstance(rows, list) or not all(
                    isinstance(r, list) and len(r) == 3
                    and all(isinstance(x, int | float) for x in r) for r in rows):
                raise ResultsFileError(f"{where}.timelines.{variant}.events.{kind}: expected "
                                       "[start, duration, detail] numbers", path=path)
    return data


def matched_cases(old: Results, new: Results) -> Iterator[tuple[CaseResult, CaseResult]]:
    """The cases of `old` that `new` has too, each with its counterpart."""
    new_cases = {c.name: c for c in new.cases}
    for c_old in old.cases:
        c_new = new_cases.get(c_old.name)
        if c_new is not None:
            yield c_old, c_new


def matched_metrics(old: CaseResult, new: CaseResult
                    ) -> Iterator[tuple[VariantResult, str, MetricSamples, MetricSamples]]:
    """Every variant and metric of `old` that `new` measured too: (variant, name, old, new)."""
    new_variants = {v.name: v for v in new.variants}
    for v_old in old.variants:
        v_new = new_variants.get(v_old.name)
        if v_new is None:
            continue
        for name, m_old in v_old.metrics.items():
            m_new = v_new.metrics.get(name)
            if m_new is not None:
                yield v_old, name, m_old, m_new


def load(path: Path) -> Results:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResultsFileError(f"cannot read results file: {exc.strerror}", path=str(path)) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFileError(
            f"not valid JSON: {exc.msg}", path=str(path), line=exc.lineno, column=exc.colno
        ) from exc
    return from_json(data, str(path))
