"""The adaptive stopping rule: exact sizes, settled verdicts, and the runner's use of them."""

import dataclasses
import itertools
import math

import pytest

from perflab.commands._progress import ProgressPrinter
from perflab.measure import CaseResult, Metric, MetricSamples, VariantResult
from perflab.measure._runner import ProgressEvent, _all_settled
from perflab.measure._stopping import (
    _exact_p,
    interim_significance_allowed,
    settled,
    two_look_size,
)


def test_exact_p_matches_scipy_without_ties():
    from scipy.stats import mannwhitneyu

    a, b = [1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 6.0, 7.0, 8.0, 9.0]
    u = sum(x > y for x in a for y in b)
    assert _exact_p(u, 5, 5) == pytest.approx(mannwhitneyu(a, b, method="exact").pvalue)
    assert _exact_p(0, 4, 4) == pytest.approx(2 / math.comb(8, 4))


def test_two_looks_at_4_and_5_keep_the_false_verdict_rate_within_alpha():
    size = two_look_size(4, 5)
    assert size is not None
    # More than one look alone (5 a side: p < 0.05 has probability 0.0317) ...
    assert size > _exact_p(2, 5, 5)
    # ... and still at most alpha: the interim significance stop is allowed.
    assert size <= 0.05 and interim_significance_allowed(4, 5)


def test_two_look_size_agrees_with_brute_force():
    """Every ordering of the groups (a early, b early, a late, b late), counted by permutation."""
    look, last = 3, 4  # small enough to enumerate by permutations
    hits = total = 0
    groups = [0] * look + [1] * look + [2] * (last - look) + [3] * (last - look)
    for perm in set(itertools.permutations(groups)):
        total += 1
        early = [g for g in perm if g in (0, 1)]
        every = [0 if g in (0, 2) else 1 for g in perm]
        u_early = sum(early[j] == 1 for i, g in enumerate(early) if g == 0 for j in range(i))
        u_all = sum(every[j] == 1 for i, g in enumerate(every) if g == 0 for j in range(i))
        if _exact_p(u_early, look, look) < 0.2 or _exact_p(u_all, last, last) < 0.2:
            hits += 1
    assert two_look_size(look, last, 0.2) == pytest.approx(hits / total)


def test_no_interim_significance_where_it_cannot_be_computed_or_is_too_large():
    assert two_look_size(4, 9) is None
    assert not interim_significance_allowed(4, 9)
    assert not interim_significance_allowed(4, 4)


def test_settled():
    separated = ([1.0, 1.1, 1.2, 1.3], [2.0, 2.1, 2.2, 2.3])
    assert settled(*separated, 1, interim_ok=True)
    assert not settled(*separated, 1, interim_ok=False)  # significant, but no stop for it
    mixed = ([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 5.0])  # U=6: no 5th round makes it p<0.05
    assert settled(*mixed, 1, interim_ok=False)
    nearly = ([1.0, 1.1, 1.2, 2.5], [2.0, 2.1, 2.2, 2.3])  # U=3 at 4 a side... or 1 more round
    assert not settled(*nearly, 3, interim_ok=True)
    assert settled([5.0] * 4, [5.0] * 4, 1, interim_ok=True)  # identical constants: ~ for good


def _case(**variants: tuple[float, ...]) -> CaseResult:
    kinds = ["baseline"] + ["step"] * (len(variants) - 1)
    return CaseResult("c", "C", "quick", [
        VariantResult(name, kind, "", {"wall_s": MetricSamples("s", xs)})
        for (name, xs), kind in zip(variants.items(), kinds, strict=True)
    ], [Metric("wall_s", "Total Time", "s")])


def test_a_case_is_settled_only_when_every_printed_verdict_is():
    real = (10.0, 10.1, 10.2, 10.3)
    faster = (5.0, 5.1, 5.2, 5.3)
    noop = (5.05, 5.15, 5.12, 5.25)  # overlaps `faster`: ~, and no round can change that
    assert _all_settled(_case(base=real, faster=faster, noop=noop), 1, interim_ok=True)
    edge = (5.3, 5.31, 5.32, 5.0)  # U=3 against `faster`: no fifth round makes it p<0.05
    assert _all_settled(_case(base=real, faster=faster, edge=edge), 1, interim_ok=True)
    close = (5.31, 5.32, 5.33, 5.25)  # U=1: p=0.057 now, significant if round 5 agrees
    assert not _all_settled(_case(base=real, faster=faster, close=close), 1, interim_ok=True)


def test_progress_estimates_the_time_left():
    printer = ProgressPrinter(_Sink(), case_index=1, cases=2, later_s=100.0)
    ev = ProgressEvent("c", "a", 1, 3, True, 0.5, variants=2, position=1, elapsed_s=2.0)
    printer(ev)
    # a timed at 2 s, b untimed counts as 2 s: half of round 1, then rounds 2 and 3
    assert printer.case_left_s(ev) == pytest.approx(2.0 + 4.0 * 2)
    printer(ProgressEvent("c", "b", 1, 3, True, 0.5, variants=2, position=2, elapsed_s=4.0))
    out = printer.stream.text
    assert "case 1/2 c: warm-up, step 2/2 b" in out
    assert "case ~12 s left, run ~1 min 52 s left" in out


def test_progress_estimate_stops_where_the_budget_would():
    printer = ProgressPrinter(_Sink())
    # 1 warm-up + 9 repetitions, 1 variant of 10 s, a budget of 45 s: the runner stops after
    # the first round past 45 s with >= 4 measured, i.e. the 5th round ends at 50 s.
    ev = ProgressEvent("c", "a", 1, 10, True, 10.0, variants=1, position=1, elapsed_s=10.0,
                       warmups=1, budget_s=45.0)
    printer(ev)
    printer.rounds_started -= 10.0  # as if the warm-up took its 10 s
    assert printer.case_left_s(ev) == pytest.approx(40.0, abs=0.5)
    unlimited = dataclasses.replace(ev, budget_s=None)
    assert printer.case_left_s(unlimited) == pytest.approx(90.0)


class _Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
