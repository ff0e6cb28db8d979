"""The two tables of a case, and the comparison of two results files.

- the guide-style results table: Metric | Before | After | Improvement,
  baseline against the last step of the ladder;
- the ladder table: each step's own effect against the step before it, and
  the cumulative effect against the baseline; references apart, against the
  last step;
- `compare_tables`: benchstat's old/new/delta per metric, with a geometric mean.

An effect is printed as a ratio only when Mann-Whitney says it is significant
(p < 0.05); otherwise as `~`, so noise is never reported as an improvement.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from perflab.measure._case import Metric
from perflab.measure._format import Table, format_p, format_ratio, format_value
from perflab.measure._records import (
    CaseResult,
    MetricSamples,
    Results,
    VariantResult,
    matched_cases,
    matched_metrics,
)
from perflab.measure._stats import geometric_mean, is_significant, mann_whitney_p

__all__ = [
    "Effect",
    "compare_tables",
    "effect",
    "geomean_improvement",
    "guide_table",
    "ladder",
    "ladder_metrics",
    "ladder_table",
    "references_table",
    "summary_table",
    "verdict_pairs",
    "verdicts_table",
]


@dataclass(frozen=True)
class Effect:
    """How much better `new` is than `old` (> 1 is better), and whether it is real."""

    ratio: float
    p: float
    appeared: bool = False  # a lower-is-better metric that was zero and is not any more

    @property
    def significant(self) -> bool:
        return is_significant(self.p)

    def text(self, unit: str = "") -> str:
        if math.isnan(self.ratio):
            return "n/a"
        if not self.significant:
            return "~"
        if math.isinf(self.ratio):
            return "eliminated"  # from some to none (e.g. OOM kills)
        if self.appeared:
            return "appeared"  # from none to some (e.g. GC pauses once batches live long)
        if unit == "B":
            change = 1 - 1 / self.ratio if self.ratio else 0.0
            return f"{abs(change) * 100:.0f}% {'less' if change >= 0 else 'more'}"
        suffix = "" if self.ratio >= 1 else " (worse)"
        return format_ratio(self.ratio) + suffix


def effect(old: MetricSamples, new: MetricSamples, better: str) -> Effect:
    before, after = old.summary.median, new.summary.median
    if better == "higher":
        ratio = after / before if before else float("inf")
    else:
        ratio = before / after if after else float("inf")
    appeared = better == "lower" and before == 0 and after > 0
    return Effect(ratio, mann_whitney_p(old.samples, new.samples), appeared)


def ladder_metrics(case: CaseResult) -> list[Metric]:
    """The metrics that get a ladder table: the first, and those marked for one."""
    return [m for i, m in enumerate(case.table) if i == 0 or m.ladder]


def ladder(case: CaseResult) -> list[VariantResult]:
    """Baseline and steps in order: the variants that measured without error."""
    return [v for v in case.variants if v.kind != "reference" and not v.error]


def _cell(v: VariantResult, metric: Metric) -> str:
    m = v.metrics.get(metric.name)
    if m is None or any(math.isnan(x) for x in m.samples):
        return "n/a"
    s = m.summary
    return f"{format_value(s.median, metric.unit)} ±{s.spread * 100:.0f}%"


def guide_table(case: CaseResult) -> Table | None:
    """None when the ladder has fewer than two variants that ran."""
    steps = ladder(case)
    if len(steps) < 2:
        return None
    before, after = steps[0], steps[-1]
    rows = []
    for metric in case.table:
        old, new = before.metrics.get(metric.name), after.metrics.get(metric.name)
        improvement = effect(old, new, metric.better).text(metric.unit) if old and new else "n/a"
        rows.append([metric.label, _cell(before, metric), _cell(after, metric), improvement])
    headers = ["Metric", f"Before ({before.name})", f"After ({after.name})", "Improvement"]
    return Table(headers, rows)


def ladder_table(case: CaseResult, metric: Metric | None = None) -> Table:
    metric = metric or case.table[0]
    steps = ladder(case)
    rows = []
    for i, v in enumerate(steps):
        m = v.metrics.get(metric.name)
        if i == 0 or m is None:
            rows.append([v.name, v.description, _cell(v, metric), "", "", ""])
            continue
        prev = steps[i - 1].metrics.get(metric.name)
        first = steps[0].metrics.get(metric.name)
        step = effect(prev, m, metric.better) if prev else None
        total = effect(first, m, metric.better) if first else None
        rows.append([
            v.name,
            v.description,
            _cell(v, metric),
            step.text() if step else "n/a",
            total.text() if total else "n/a",
            format_p(step.p) if step else "",
        ])
    headers = ["Step", "What changed", metric.label, "vs previous", "Cumulative", "p"]
    return Table(headers, rows)


def references_table(case: CaseResult, metric: Metric | None = None) -> Table | None:
    metric = metric or case.table[0]
    refs = [v for v in case.variants if v.kind == "reference"]
    if not refs:
        return None
    steps = ladder(case)
    final = steps[-1] if steps else None
    rows = []
    for ref in refs:
        if ref.error:
            rows.append([ref.name, ref.description, "not available", ref.error, ""])
            continue
        m = ref.metrics.get(metric.name)
        f = final.metrics.get(metric.name) if final else None
        e = effect(m, f, metric.better) if m and f else None
        rows.append([
            ref.name,
            ref.description,
            _cell(ref, metric),
            e.text() if e else "n/a",
            format_p(e.p) if e else "",
        ])
    final_name = final.name if final else "final"
    return Table(["Reference", "What it is", metric.label, f"{final_name} vs it", "p"], rows)


def verdict_pairs(case: CaseResult) -> list[tuple[MetricSamples, MetricSamples]]:
    """Every comparison the case's tables print a verdict on, as (old, new) samples.

    Each step against the one before it and against the baseline (ladder
    metrics), the baseline against the final step (every table metric), and
    each reference against the final step (the first metric).
    """
    steps = ladder(case)
    pairs: list[tuple[MetricSamples | None, MetricSamples | None]] = []
    for metric in ladder_metrics(case):
        for i in range(1, len(steps)):
            new = steps[i].metrics.get(metric.name)
            pairs.append((steps[i - 1].metrics.get(metric.name), new))
            pairs.append((steps[0].metrics.get(metric.name), new))
    if len(steps) >= 2:
        pairs += [(steps[0].metrics.get(m.name), steps[-1].metrics.get(m.name))
                  for m in case.table]
    if steps and case.table:
        first = case.table[0].name
        pairs += [(ref.metrics.get(first), steps[-1].metrics.get(first))
                  for ref in case.variants if ref.kind == "reference" and not ref.error]
    return [(a, b) for a, b in pairs if a is not None and b is not None]


def _peer_verdicts(case: CaseResult, metric: Metric, final: VariantResult | None) -> str:
    cells = []
    for ref in (v for v in case.variants if v.kind == "reference"):
        m = ref.metrics.get(metric.name)
        f = final.metrics.get(metric.name) if final else None
        if ref.error or m is None or f is None:
            cells.append(f"{ref.name}: not available")
        else:
            cells.append(f"{ref.name}: {effect(m, f, metric.better).text(metric.unit)}")
    return "; ".join(cells) or "none"


def summary_table(cases: Sequence[CaseResult]) -> Table:
    """One row per case: its first metric, baseline and final step, and the verdict on each peer.

    A peer's verdict is the final step against it: above 1x the final step is
    better, `~` when the difference is not significant.
    """
    rows = []
    for case in cases:
        if not case.table:
            continue
        metric = case.table[0]
        steps = ladder(case)
        before = steps[0] if steps else None
        after = steps[-1] if len(steps) > 1 else None
        old = before.metrics.get(metric.name) if before else None
        new = after.metrics.get(metric.name) if after else None
        improvement = effect(old, new, metric.better).text(metric.unit) if old and new else "n/a"
        rows.append([
            case.name,
            metric.label,
            f"{before.name}: {_cell(before, metric)}" if before else "n/a",
            f"{after.name}: {_cell(after, metric)}" if after else "n/a",
            improvement,
            _peer_verdicts(case, metric, after or before),
            format_value(case.elapsed_s, "s") if case.elapsed_s is not None else "n/a",
        ])
    return Table(["Case", "Metric", "Baseline", "Final step", "Improvement",
                  "Final step vs each peer", "Run time"], rows)


def _verdicts(case: CaseResult) -> dict[tuple[str, str, str], str]:
    """(step, against, metric) -> the verdict the tables print."""
    out: dict[tuple[str, str, str], str] = {}
    steps = ladder(case)
    for metric in ladder_metrics(case):
        for prev, v in itertools.pairwise(steps):
            a, b = prev.metrics.get(metric.name), v.metrics.get(metric.name)
            if a and b:
                out[(v.name, prev.name, metric.label)] = effect(a, b, metric.better).text()
    if steps and case.table:
        metric = case.table[0]
        final = steps[-1].metrics.get(metric.name)
        for ref in (r for r in case.variants if r.kind == "reference"):
            m = ref.metrics.get(metric.name)
            verdict = "not available"
            if final and m and not ref.error:
                verdict = effect(m, final, metric.better).text(metric.unit)
            out[(steps[-1].name, ref.name, metric.label)] = verdict
    return out


def verdicts_table(first: Results, second: Results) -> Table:
    """Each printed verdict of two runs side by side (e.g. quick against full scale).

    Only the verdict is compared, not the ratio: `~` or significant, and which way.
    """
    others = {c.name: c for c in second.cases}
    rows = []
    for case in first.cases:
        other = others.get(case.name)
        if other is None:
            continue
        mine, theirs = _verdicts(case), _verdicts(other)
        for key, verdict in mine.items():
            step, against, metric = key
            then = theirs.get(key, "absent")
            same = _kind(verdict) == _kind(then)
            rows.append([case.name, step, against, metric, verdict, then,
                         "same" if same else "DIFFERS"])
    return Table(["Case", "Step", "Against", "Metric", f"Verdict ({_scale(first)})",
                  f"Verdict ({_scale(second)})", ""], rows)


def _kind(verdict: str) -> str:
    if verdict in ("~", "n/a", "not available", "absent"):
        return verdict
    return "worse" if "worse" in verdict or "more" in verdict else "better"


def _scale(results: Results) -> str:
    scales = sorted({c.scale for c in results.cases})
    return "/".join(scales) or "?"


def _key(case: CaseResult, v: VariantResult) -> str:
    return f"{case.name}/{v.name}"


def compare_tables(old: Results, new: Results) -> list[str]:
    """For every case/variant/metric present in both, old vs new, grouped per metric."""
    rows_by_metric: dict[str, list[tuple[str, MetricSamples, MetricSamples]]] = {}
    better: dict[str, str] = {}
    for c_old, c_new in matched_cases(old, new):
        for m in (*c_old.table, *c_new.table):
            better[m.name] = m.better
        for v_old, name, m_old, m_new in matched_metrics(c_old, c_new):
            rows_by_metric.setdefault(name, []).append((_key(c_old, v_old), m_old, m_new))
    if not rows_by_metric:
        return ["no case, variant and metric in common"]
    lines: list[str] = []
    for name in sorted(rows_by_metric):
        rows = []
        ratios = []
        for key, m_old, m_new in rows_by_metric[name]:
            so, sn = m_old.summary, m_new.summary
            p = mann_whitney_p(m_old.samples, m_new.samples)
            if so.median and sn.median:
                ratios.append(sn.median / so.median)
            delta = (sn.median - so.median) / so.median * 100 if so.median else 0.0
            rows.append([
                key,
                f"{format_value(so.median, m_old.unit)} ±{so.spread * 100:.0f}%",
                f"{format_value(sn.median, m_new.unit)} ±{sn.spread * 100:.0f}%",
                f"{delta:+.1f}%" if is_significant(p) else "~",
                f"{format_p(p)} n={so.n}+{sn.n}",
            ])
        if len(rows) > 1 and ratios:
            rows.append(["geomean", "", "", f"{(geometric_mean(ratios) - 1) * 100:+.1f}%", ""])
        direction = f"{better.get(name, 'lower')} is better"
        lines.append(f"{name} ({direction})")
        lines += Table(["", "old", "new", "delta", ""], rows).lines()
        lines.append("")
    return lines[:-1]


def geomean_improvement(cases: Sequence[CaseResult]) -> float | None:
    """Geometric mean across cases of baseline→last-step improvement on each primary metric."""
    ratios = []
    for case in cases:
        steps = ladder(case)
        if len(steps) < 2 or not case.table:
            continue
        metric = case.table[0]
        old, new = steps[0].metrics.get(metric.name), steps[-1].metrics.get(metric.name)
        if old and new:
            ratio = effect(old, new, metric.better).ratio
            if math.isfinite(ratio):  # "eliminated" (e.g. OOM kills 1 -> 0) has no ratio
                ratios.append(ratio)
    return geometric_mean(ratios) if ratios else None
