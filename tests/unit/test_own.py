import pytest

from perflab.errors import MeasurementError, UsageError
from perflab.measure import RunContext, command_case, function_case


def slow(xs):
    """the slow way"""
    return sorted(xs)


def test_function_case_calls_each_variant_with_the_workload(tmp_path):
    seen = []
    case = function_case("demo", {"base": slow, "fast": seen.append}, workload=lambda: [3, 1],
                         number=3)
    assert [(v.name, v.kind) for v in case.variants] == [("base", "baseline"), ("fast", "step")]
    assert case.variants[0].description == "the slow way"
    out = case.run("fast", RunContext("quick", tmp_path))
    assert seen == [[3, 1]] * 3 and out["time_s"] >= 0
    assert case.categories["the case's own code"] == [__file__]


def test_variant_names_come_from_functions_and_must_be_unique():
    assert [v.name for v in function_case("d", [slow]).variants] == ["slow"]
    with pytest.raises(UsageError, match="share a name"):
        function_case("d", [slow, slow])
    with pytest.raises(UsageError):
        function_case("d", [])


def test_command_case_times_the_command_and_reports_its_failure(tmp_path):
    case = command_case("cmds", {"ok": "true", "bad": "false"})
    ctx = RunContext("quick", tmp_path)
    assert case.run("ok", ctx)["time_s"] > 0
    with pytest.raises(MeasurementError, match="exited 1"):
        case.run("bad", ctx)
