import pytest

from perflab.errors import MeasurementError, UsageError
from perflab.measure._bench import (
    BenchOptions,
    expand,
    instability,
    run_bench,
    run_once,
    scan_values,
    to_case,
)


def test_scan_values_are_exact_decimals():
    assert scan_values("1", "3") == ["1", "2", "3"]
    assert scan_values("0.1", "0.3", "0.1") == ["0.1", "0.2", "0.3"]


@pytest.mark.parametrize("args", [("a", "3"), ("3", "1"), ("1", "3", "0"), ("0", "1e9")])
def test_scan_values_rejects_bad_ranges(args):
    with pytest.raises(UsageError):
        scan_values(*args)


def test_expand_substitutes_known_names_only_and_keeps_names_unique():
    benches = expand(["sleep {t}", "awk '{print}' {t}"], [("t", ["1", "2"])],
                     prepare=["echo {t}"])
    assert [b.command for b in benches] == ["sleep 1", "sleep 2", "awk '{print}' 1",
                                            "awk '{print}' 2"]
    assert benches[1].prepare == "echo 2" and benches[1].params == {"t": "2"}
    twice = expand(["true", "true"])
    assert [b.name for b in twice] == ["true", "true #2"]


def test_expand_takes_every_combination_of_lists():
    benches = expand(["x {a} {b}"], [("a", ["1", "2"]), ("b", ["p", "q"])])
    assert [b.command for b in benches] == ["x 1 p", "x 1 q", "x 2 p", "x 2 q"]


@pytest.mark.parametrize("kwargs", [{"names": ["a", "b"]}, {"prepare": ["a", "b"]}])
def test_expand_rejects_mismatched_counts(kwargs):
    with pytest.raises(UsageError):
        expand(["true"], **kwargs)


def test_instability_says_which_sign_it_saw():
    assert instability("c", [1.0, 1.01, 0.99, 1.0]) == []
    (first,) = instability("c", [3.0, 1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0])
    assert "first run" in first and "3.0x the median" in first
    (outlier,) = instability("c", [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.01, 3.0, 1.0, 0.99],
                             threshold=1.0)
    assert "1 outlier run" in outlier
    (spread,) = instability("c", [1.0, 2.0, 1.0, 2.0, 1.0, 2.0])
    assert "standard deviation" in spread and "first" not in spread


def test_run_once_reports_exit_status_and_rusage():
    ok = run_once("true")
    assert ok.status == 0 and ok.wall_s > 0 and ok.peak_rss_bytes > 0
    assert run_once("sh -c 'exit 3'").status == 3
    assert run_once("exit 4", shell="sh").status == 4
    with pytest.raises(UsageError, match="cannot run"):
        run_once("no-such-command-perflab")


def test_a_failing_command_stops_unless_ignored(tmp_path):
    (bench,) = expand(["false"])
    with pytest.raises(MeasurementError, match="exited 1"):
        run_bench([bench], BenchOptions(runs=2, warmups=0))
    samples = run_bench([bench], BenchOptions(runs=2, warmups=0, ignore_failure=True))
    assert len(samples["false"]) == 2


def test_prepare_setup_and_cleanup_run_as_documented(tmp_path):
    log = tmp_path / "log"
    (bench,) = expand(["true"], prepare=[f"echo p >> {log}"], setup=f"echo s >> {log}",
                      cleanup=f"echo c >> {log}")
    samples = run_bench([bench], BenchOptions(runs=3, warmups=1))
    assert log.read_text().split() == ["s", "p", "p", "p", "p", "c"]
    case = to_case([bench], samples)
    assert case.variants[0].kind == "baseline"
    assert len(case.variants[0].metrics["wall_s"].samples) == 3


def test_the_budget_stops_after_min_runs():
    benches = expand(["true", "true"])
    samples = run_bench(benches, BenchOptions(warmups=0, budget_s=0.0, min_runs=3))
    assert [len(s) for s in samples.values()] == [3, 3]
