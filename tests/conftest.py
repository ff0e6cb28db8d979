from __future__ import annotations

from pathlib import Path

import pytest

from perflab.measure import CaseResult, Metric, MetricSamples, Results, VariantResult

REPO = Path(__file__).resolve().parent.parent


def _ms(unit: str, *samples: float) -> MetricSamples:
    return MetricSamples(unit, tuple(samples))


@pytest.fixture
def sample_case() -> CaseResult:
    """A hand-made case with known samples: baseline 10 s, step 5 s, noop ~5 s, a reference."""
    return CaseResult(
        name="demo",
        title="Demo case",
        scale="quick",
        table=[Metric("wall_s", "Total Time", "s"),
               Metric("rate_per_s", "Rate", "1/s", "higher", ladder=True),
               Metric("peak_rss_bytes", "Memory Peak", "B")],
        variants=[
            VariantResult("baseline", "baseline", "the naive way", {
                "wall_s": _ms("s", 10.0, 10.2, 9.8, 10.1, 9.9),
                "rate_per_s": _ms("1/s", 1000, 1010, 990, 1005, 995),
                "peak_rss_bytes": _ms("B", *(4 * 2**20,) * 5),
            }),
            VariantResult("halve", "step", "half the work", {
                "wall_s": _ms("s", 5.0, 5.1, 4.9, 5.05, 4.95),
                "rate_per_s": _ms("1/s", 2000, 2020, 1980, 2010, 1990),
                "peak_rss_bytes": _ms("B", *(2**20,) * 5),
            }),
            VariantResult("noop", "step", "changes nothing", {
                "wall_s": _ms("s", 5.02, 4.96, 5.08, 4.92, 5.04),
                "rate_per_s": _ms("1/s", 2005, 1985, 2015, 1995, 2000),
                "peak_rss_bytes": _ms("B", *(2**20,) * 5),
            }),
            VariantResult("peer", "reference", "a peer tool", {
                "wall_s": _ms("s", 2.5, 2.6, 2.4, 2.55, 2.45),
            }),
            VariantResult("absent", "reference", "not installed", {}, "ToolUnavailable: absent"),
        ],
        notes=["a note"],
    )


@pytest.fixture
def sample_results(sample_case: CaseResult) -> Results:
    return Results({"python": "3.11.7", "created": "2026-11-27T00:00:00+00:00"}, [sample_case])
