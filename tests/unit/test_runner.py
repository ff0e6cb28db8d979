import os

import pytest

from perflab.errors import MeasurementError, UsageError
from perflab.measure import RunOptions, ladder_table, references_table, run_case


@pytest.fixture(scope="module")
def toy_result(tmp_path_factory):
    events = []
    options = RunOptions(workdir=tmp_path_factory.mktemp("work"), repetitions=3, warmups=1)
    result = run_case("tests.toycase:CASE", options, events.append)
    return result, events


def test_every_repetition_runs_in_a_fresh_process(toy_result):
    result, _ = toy_result
    pids = [p for v in result.variants if not v.error for p in v.metrics["pid"].samples]
    assert len(pids) == 9  # 3 variants x 3 measured repetitions
    assert len(set(pids)) == 9
    assert os.getpid() not in pids


def test_raw_samples_are_kept_for_every_metric(toy_result):
    result, _ = toy_result
    baseline = result.variant("baseline")
    for name in ("wall_s", "cpu_s", "peak_rss_bytes", "gc_collections", "allocated_blocks", "ops"):
        assert len(baseline.metrics[name].samples) == 3, name
    assert baseline.metrics["wall_s"].unit == "s"
    assert baseline.metrics["peak_rss_bytes"].summary.median > 1e6


def test_warmup_runs_first_and_is_not_kept(toy_result):
    _, events = toy_result
    finished = [e for e in events if e.seconds is not None]
    assert [e.warmup for e in finished[:3]] == [True] * 3
    assert sum(not e.warmup for e in finished) == 9


def test_ladder_verdicts_from_real_runs(toy_result):
    result, _ = toy_result
    rows = ladder_table(result).lines()
    faster = next(r for r in rows if r.startswith("faster"))
    noop = next(r for r in rows if r.startswith("noop"))
    assert "4.00x" in faster  # 400k ops -> 100k ops, lower is better
    assert "~" in noop.split()  # identical work: no significant change
    refs = "\n".join(references_table(result).lines())
    assert "not available" in refs and "toytool is not installed" in refs


def test_a_crashing_step_fails_the_case_with_its_error(tmp_path):
    options = RunOptions(workdir=tmp_path, repetitions=1, warmups=0)
    with pytest.raises(MeasurementError, match="the system under test crashed"):
        run_case("tests.toycase:BROKEN", options)


def test_budget_stops_after_the_minimum_repetitions(tmp_path):
    options = RunOptions(workdir=tmp_path, repetitions=6, warmups=0, budget_s=0.0,
                         variants=["baseline"], adaptive=False)
    result = run_case("tests.toycase:CASE", options)
    assert len(result.variant("baseline").metrics["wall_s"].samples) == 4
    assert "time budget" in result.notes[0]


def test_unknown_variant_and_scale(tmp_path):
    with pytest.raises(UsageError, match="no variant 'nope'"):
        run_case("tests.toycase:CASE", RunOptions(workdir=tmp_path, variants=["nope"]))
    with pytest.raises(UsageError, match="unknown scale"):
        run_case("tests.toycase:CASE", RunOptions(workdir=tmp_path, scale="huge"))


def test_adaptive_stopping_keeps_the_verdicts(tmp_path):
    """Quick scale stops once every verdict is settled; a no-op is still ~, a real step is not."""
    options = RunOptions(workdir=tmp_path, repetitions=5, warmups=0,
                         variants=["baseline", "faster", "noop"])
    result = run_case("tests.toycase:CASE", options)
    rows = ladder_table(result).lines()
    assert "4.00x" in next(r for r in rows if r.startswith("faster"))
    assert "~" in next(r for r in rows if r.startswith("noop")).split()
    n = len(result.variant("baseline").metrics["ops"].samples)
    assert n in (4, 5)
    assert (n == 4) == any("every verdict settled" in note for note in result.notes)


def test_full_scale_runs_every_repetition_by_default(tmp_path):
    options = RunOptions(workdir=tmp_path, repetitions=5, warmups=0, variants=["baseline"],
                         adaptive=None, scale="full")
    result = run_case("tests.toycase:CASE", options)
    assert len(result.variant("baseline").metrics["ops"].samples) == 5
    assert not result.notes


def test_a_variant_declared_for_full_scale_runs_at_quick_only_when_named(tmp_path):
    quick = run_case("tests.toycase:SCALED", RunOptions(workdir=tmp_path, repetitions=1,
                                                       warmups=0))
    assert [v.name for v in quick.variants] == ["baseline", "faster"]
    named = run_case("tests.toycase:SCALED", RunOptions(workdir=tmp_path, repetitions=1,
                                                       warmups=0, variants=["noop"]))
    assert [v.name for v in named.variants] == ["noop"]
