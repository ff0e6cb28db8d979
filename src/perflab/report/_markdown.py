"""Results as Markdown: the tables `perflab run` prints, for summary.md and the docs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from perflab.measure._format import Table, format_value
from perflab.measure._records import CaseResult, Results
from perflab.measure._tables import (
    guide_table,
    ladder_metrics,
    ladder_table,
    references_table,
    summary_table,
)

__all__ = ["case_markdown", "environment_line", "markdown_table", "results_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in table.headers) + " |",
             "|" + "|".join("---" for _ in table.headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return lines


def environment_line(env: Mapping[str, Any]) -> str:
    """Where and when: the run's date, host, CPU, cores, Python and commit."""
    parts = []
    if env.get("created"):
        parts.append(str(env["created"]))
    if env.get("host"):
        parts.append(str(env["host"]))
    if env.get("cpu_model"):
        cores = env.get("affinity") or env.get("cpu_count")
        parts.append(f"{env['cpu_model']}" + (f", {cores} cores" if cores else ""))
    if env.get("python"):
        parts.append(f"Python {env['python']}")
    if env.get("git_commit"):
        parts.append(f"commit {str(env['git_commit'])[:7]}")
    if env.get("load_average") is not None:
        parts.append(f"load average {float(env['load_average']):.1f} at the start")
    return ", ".join(parts)


def case_markdown(case: CaseResult, level: int = 2) -> list[str]:
    head = "#" * level
    lines = [f"{head} {case.title} (`{case.name}`, {case.scale} scale)", ""]
    guide = guide_table(case)
    if guide is not None:
        lines += [*markdown_table(guide), ""]
    for metric in ladder_metrics(case):
        lines += [f"{head}# Ladder: {metric.label}", ""]
        lines += [*markdown_table(ladder_table(case, metric)), ""]
    refs = references_table(case)
    if refs is not None:
        lines += [f"{head}# References", "", *markdown_table(refs), ""]
    lines += [f"Note: {n}" for n in case.notes]
    if case.notes:
        lines.append("")
    return lines


def results_markdown(results: Results, cases: Sequence[str] | None = None) -> str:
    """summary.md: the summary table, then every case's tables."""
    chosen = [c for c in results.cases if cases is None or c.name in cases]
    whole = (f" The whole run took {format_value(results.elapsed_s, 's')}."
             if results.elapsed_s is not None else "")
    lines = ["# perflab results", "",
             f"Measured {environment_line(results.environment)}.{whole}", ""]
    lines += ["Medians over repetitions, each in a fresh process; ±: the 95% confidence "
              "interval of the median (or the widest there is below 6 samples); `~`: no "
              "significant difference (two-sided Mann-Whitney U, p ≥ 0.05). "
              "See docs/measurement.md.", ""]
    if chosen:
        lines += [*markdown_table(summary_table(chosen)), ""]
    for case in chosen:
        lines += case_markdown(case)
    return "\n".join(lines).rstrip() + "\n"
