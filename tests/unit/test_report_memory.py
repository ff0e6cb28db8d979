"""The report's memory-over-time chart, from the memory events a case records."""

from dataclasses import replace

from perflab.report import render_report
from perflab.report._memory import memory_chart

MIB = 2**20


def _timeline(peak_mib: float, killed_at: float | None = None) -> dict:
    samples = [[t / 10, 0.0, (20 + t * peak_mib / 10) * MIB] for t in range(11)]
    events = {"memory": samples[::-1],  # a reservoir's order: the chart sorts by time
              "memory_limit": [[0.0, 1.0, 256.0 * MIB]]}
    if killed_at is not None:
        events["oom_kill"] = [[killed_at, 0.0, 1.0]]
    return {"events": events}


def test_memory_chart_draws_each_variant_the_limit_and_the_kills(sample_results):
    case = replace(sample_results.cases[0], timelines={
        "baseline": _timeline(236, killed_at=0.95), "halve": _timeline(40)})
    svg = memory_chart(case)
    assert svg is not None and svg.startswith("<svg")
    for label in ("baseline", "halve", "limit", "OOM kill"):
        assert label in svg
    page = render_report(replace(sample_results, cases=[case]))
    assert "<h3>Memory over time</h3>" in page and 'class="memory"' in page


def test_no_memory_events_no_chart(sample_results):
    case = sample_results.cases[0]
    assert memory_chart(case) is None
    gc_only = replace(case, timelines={"baseline": {"events": {"gc": [[0.1, 0.001, 0]]}}})
    assert memory_chart(gc_only) is None
    assert "Memory over time" not in render_report(replace(sample_results, cases=[gc_only]))
