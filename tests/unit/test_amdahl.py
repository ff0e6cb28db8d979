import math

import pytest

from perflab.errors import UsageError
from perflab.measure import overall_speedup, speedup_limit


@pytest.mark.parametrize(
    ("fraction", "speedup", "expected"),
    [
        (0.4, 10, 1 / 0.64),  # the guide says 1.4x; the formula says 1.5625x
        (0.1, 10, 1 / 0.91),  # the guide says 1.01x; the formula says 1.0989x
        (0.5, 2, 4 / 3),
        (0.0, 100, 1.0),
    ],
)
def test_overall_speedup(fraction, speedup, expected):
    assert overall_speedup(fraction, speedup) == pytest.approx(expected)


def test_limit():
    assert speedup_limit(0.4) == pytest.approx(1 / 0.6)
    assert speedup_limit(0.6) == pytest.approx(2.5)
    assert math.isinf(speedup_limit(1.0))


@pytest.mark.parametrize(("fraction", "speedup"), [(1.5, 2), (-0.1, 2), (0.5, 0)])
def test_rejects_impossible_values(fraction, speedup):
    with pytest.raises(UsageError):
        overall_speedup(fraction, speedup)
