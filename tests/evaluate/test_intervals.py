"""Exact intervals of a benchmark's rates: each end is where the counts seen become a 2.5 %
tail event, checked against tail sums computed here from first principles."""

from __future__ import annotations

import math

import pytest

from agent.apps.evaluate.intervals import proportion_interval, rate_interval, rounded


def binomial_at_least(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def poisson_at_most(k: int, mean: float) -> float:
    return sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k + 1))


@pytest.mark.parametrize(("missed", "faults"), [(1, 10), (5, 42), (12, 98), (41, 42)])
def test_a_miss_rate_interval_ends_where_the_count_seen_is_a_tail_event(
    missed: int, faults: int
) -> None:
    interval = proportion_interval(missed, faults)
    assert interval is not None
    low, high = interval
    assert low < missed / faults < high
    assert binomial_at_least(missed, faults, low) == pytest.approx(0.025, rel=1e-6)
    assert 1 - binomial_at_least(missed + 1, faults, high) == pytest.approx(0.025, rel=1e-6)


def test_none_missed_or_all_missed_leave_one_end_at_its_limit() -> None:
    none_missed, all_missed = proportion_interval(0, 42), proportion_interval(42, 42)
    assert none_missed is not None and all_missed is not None
    assert none_missed[0] == 0.0 and none_missed[1] == pytest.approx(1 - 0.025 ** (1 / 42))
    assert all_missed[0] == pytest.approx(0.025 ** (1 / 42)) and all_missed[1] == 1.0
    assert proportion_interval(0, 0) is None
    with pytest.raises(ValueError, match="6 events of 5"):
        proportion_interval(6, 5)


@pytest.mark.parametrize(("events", "hours"), [(1, 10.0), (4, 41.1), (9, 41.1), (30, 94.6)])
def test_a_false_alarm_rate_interval_ends_where_the_count_seen_is_a_tail_event(
    events: int, hours: float
) -> None:
    interval = rate_interval(events, hours)
    assert interval is not None
    low, high = interval
    assert low < events / hours < high
    assert 1 - poisson_at_most(events - 1, low * hours) == pytest.approx(0.025, rel=1e-6)
    assert poisson_at_most(events, high * hours) == pytest.approx(0.025, rel=1e-6)


def test_no_false_alarm_in_41_hours_bounds_the_rate_only_below_0_09_per_hour() -> None:
    """Why a split this size cannot show ≤ 0.05 per hour even with no false alarm."""
    interval = rate_interval(0, 41.1)
    assert interval is not None
    assert interval[0] == 0.0 and interval[1] == pytest.approx(-math.log(0.025) / 41.1)
    assert interval[1] > 0.089
    assert rate_interval(3, 0.0) is None


def test_rounding_never_narrows_an_interval() -> None:
    assert rounded((0.026517, 0.249187), 4) == [0.0265, 0.2492]
    assert rounded((0.0, 1.0), 4) == [0.0, 1.0]
    assert rounded(None, 4) is None
