import math

import pytest

from perflab.measure import geometric_mean, is_significant, mann_whitney_p, median_ci


def test_median_ci_uses_min_max_below_six_samples_and_reports_coverage():
    s = median_ci([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.ci_low, s.ci_high) == (3.0, 1.0, 5.0)
    assert s.confidence == pytest.approx(1 - 2 / 32)  # 0.9375: below 95%, and said so


def test_median_ci_order_statistics_for_twenty_samples():
    # For n=20 the 95% interval is x(6)..x(15) (coverage 0.9586; x(7)..x(14) gives 0.8847).
    s = median_ci([float(x) for x in range(1, 21)])
    assert s.median == 10.5
    assert (s.ci_low, s.ci_high) == (6.0, 15.0)
    assert s.confidence == pytest.approx(0.958610, abs=1e-6)


def test_median_ci_single_sample_has_no_confidence():
    s = median_ci([7.0])
    assert (s.median, s.ci_low, s.ci_high, s.confidence) == (7.0, 7.0, 7.0, 0.0)


def test_spread_is_the_larger_side_as_a_fraction():
    assert median_ci([8.0, 10.0, 13.0]).spread == pytest.approx(0.3)


def test_mann_whitney_exact_p_for_fully_separated_samples():
    # Exact two-sided p for 5 vs 5 with no overlap: 2 / C(10, 5) = 2/252.
    p = mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert p == pytest.approx(2 / 252)
    assert is_significant(p)


def test_mann_whitney_published_example():
    # scipy's documented example (Ludbrook & Dudley, 1998): U=17, exact p=0.1111.
    males = [19, 22, 16, 29, 24]
    females = [20, 11, 17, 12]
    assert mann_whitney_p(males, females) == pytest.approx(0.1111, abs=1e-4)


def test_mann_whitney_interleaved_samples_are_not_significant():
    p = mann_whitney_p([1, 3, 5, 7, 9], [2, 4, 6, 8, 10])
    assert p > 0.5
    assert not is_significant(p)


def test_mann_whitney_identical_constants_and_tiny_samples():
    assert mann_whitney_p([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]) == 1.0
    assert mann_whitney_p([1.0], [2.0]) == 1.0


def test_geometric_mean():
    assert geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    assert geometric_mean([1.5]) == pytest.approx(1.5)
    assert math.isclose(geometric_mean([0.5, 2.0]), 1.0)
