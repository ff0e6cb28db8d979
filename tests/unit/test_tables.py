import pytest

from perflab.measure import guide_table, ladder_table, references_table
from perflab.measure._tables import compare_tables


def test_guide_table_exact_text(sample_case):
    assert "\n".join(guide_table(sample_case).lines()) == "\n".join([
        "Metric       Before (baseline)  After (noop)  Improvement",
        "━" * 57,
        "Total Time   10 s ±2%           5.02 s ±2%    1.99x",
        "Rate         1k/s ±1%           2k/s ±1%      2.00x",
        "Memory Peak  4 MiB ±0%          1 MiB ±0%     75% less",
        "━" * 57,
    ])


def test_ladder_table_marks_a_step_that_does_nothing_as_no_change(sample_case):
    lines = ladder_table(sample_case).lines()
    assert lines[0].split() == ["Step", "What", "changed", "Total", "Time", "vs", "previous",
                                "Cumulative", "p"]
    halve, noop = lines[3], lines[4]
    assert halve.startswith("halve") and "2.00x" in halve and "p=0.008" in halve
    assert noop.startswith("noop")
    cells = noop.split()
    assert "~" in cells  # no significant change against `halve`
    assert "1.99x" in cells  # but still about twice as fast as the baseline


def test_references_table_says_when_a_tool_is_missing(sample_case):
    text = "\n".join(references_table(sample_case).lines())
    assert "peer" in text and "0.50x (worse)" in text
    assert "absent" in text and "not available" in text


def test_compare_reports_geomean_and_unchanged(sample_results):
    lines = compare_tables(sample_results, sample_results)
    assert lines[0] == "peak_rss_bytes (lower is better)"
    wall = lines[lines.index("wall_s (lower is better)"):]
    assert any(line.startswith("demo/baseline") and " ~ " in line for line in wall)
    assert any(line.startswith("geomean") and "+0.0%" in line for line in wall)


def test_geomean_leaves_out_eliminated_metrics(sample_case):
    from perflab.measure import CaseResult, Metric, MetricSamples, VariantResult
    from perflab.measure._tables import geomean_improvement

    zero = CaseResult("oom", "OOM", "quick", [
        VariantResult("b", "baseline", "", {"oom": MetricSamples("count", (1.0,) * 5)}),
        VariantResult("s", "step", "", {"oom": MetricSamples("count", (0.0,) * 5)}),
    ], [Metric("oom", "OOM Events", "count")])
    assert geomean_improvement([sample_case, zero]) == pytest.approx(10.0 / 5.02, rel=1e-3)


def test_a_cost_that_was_zero_and_is_not_says_appeared():
    from perflab.measure import MetricSamples
    from perflab.measure._tables import effect

    none = MetricSamples("s", (0.0,) * 5)
    some = MetricSamples("s", (0.01, 0.012, 0.011, 0.013, 0.01))
    assert effect(none, some, "lower").text("s") == "appeared"
    assert effect(some, none, "lower").text("s") == "eliminated"
    assert effect(none, some, "higher").text("s") != "appeared"


def test_a_step_without_a_metric_shows_n_a_and_the_last_step_its_cumulative_effect():
    # the stream case measures p99 for the baseline and the final step only at quick scale
    from perflab.measure import CaseResult, Metric, MetricSamples, VariantResult

    rate = MetricSamples("1/s", (10.0, 11.0, 10.5))
    p99 = Metric("p99_s", "P99", "s", ladder=True)
    slow, fast = MetricSamples("s", (2.0,) * 3), MetricSamples("s", (1.0,) * 3)
    case = CaseResult("c", "C", "quick", [
        VariantResult("base", "baseline", "", {"rate": rate, "p99_s": slow}),
        VariantResult("mid", "step", "", {"rate": rate}),
        VariantResult("last", "step", "", {"rate": rate, "p99_s": fast}),
    ], [Metric("rate", "Rate", "1/s", "higher"), p99])
    _, mid, last = (line.split() for line in ladder_table(case, p99).lines()[2:5])
    assert mid[-1] == "n/a"  # not measured: no ratio, no p (empty cells)
    assert last[-2:] == ["n/a", "2.00x"]  # no step ratio, the cumulative one, no p
    assert "2.00x" in "\n".join(guide_table(case).lines())
