import pytest

from perflab.errors import UsageError
from perflab.measure import CaseResult, Metric, MetricSamples, Results, VariantResult
from perflab.measure._gate import parse_threshold, regressions


def results(wall, rate, noisy):
    variant = VariantResult("v", "baseline", "", {
        "wall_s": MetricSamples("s", tuple(wall)),
        "rate_per_s": MetricSamples("1/s", tuple(rate)),
        "noisy_s": MetricSamples("s", tuple(noisy)),
        "ops": MetricSamples("count", (1.0, 2.0, 3.0, 4.0, 5.0)),
    })
    table = [Metric("rate_per_s", "Rate", "1/s", "higher"), Metric("noisy_s", "Noisy", "s")]
    return Results({}, [CaseResult("c", "c", "quick", [variant], table)])


OLD = results([1.0, 1.01, 0.99, 1.0, 1.02], [100, 101, 99, 100, 102], [1, 2, 1, 2, 1])
# wall 10% slower, rate 10% lower: both significant; noisy 50% "worse" but within its noise.
NEW = results([1.1, 1.11, 1.09, 1.1, 1.12], [90, 91, 89, 90, 92], [1.5, 3, 1.5, 3, 1.5])


def test_significant_regressions_beyond_the_threshold_are_named():
    found = regressions(OLD, NEW, 0.05)
    assert {(r.where, r.metric) for r in found} == {("c/v", "wall_s"), ("c/v", "rate_per_s")}
    wall = next(r for r in found if r.metric == "wall_s")
    assert wall.change == pytest.approx(0.1) and "10.0% worse" in wall.text()


def test_the_threshold_and_the_metric_filter_apply():
    assert regressions(OLD, NEW, 0.2) == []
    assert [r.metric for r in regressions(OLD, NEW, 0.05, ["rate_per_s"])] == ["rate_per_s"]
    assert regressions(NEW, OLD, 0.0) == []  # improvements never fail


@pytest.mark.parametrize(("text", "value"), [("5%", 0.05), ("5", 0.05), ("0.5%", 0.005)])
def test_thresholds_are_percentages(text, value):
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "five", "-1%", "nan"])
def test_bad_thresholds_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_threshold(text)
