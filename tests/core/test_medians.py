"""Medians of the last few scores: the learner's over its samples and the scorer's live."""

from __future__ import annotations

import numpy as np
import pytest

from agent.core.medians import RecentMedian, full_medians, trailing_median


def test_trailing_median_uses_what_exists_at_the_start() -> None:
    values = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 100.0])
    np.testing.assert_array_equal(trailing_median(values, 3), [5.0, 3.0, 3.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(trailing_median(values, 1), values)
    with pytest.raises(ValueError, match=">= 1"):
        trailing_median(values, 0)


def test_a_live_median_says_what_the_learner_computes_over_the_same_values() -> None:
    values = np.random.default_rng(0).exponential(1.0, 50)
    live = RecentMedian(7)
    said = [live.add(float(v)) for v in values]

    assert said[:6] == [None] * 6  # nothing until there are seven
    np.testing.assert_allclose([m for m in said if m is not None], full_medians(values, 7))


def test_one_odd_value_moves_a_median_of_seven_nowhere() -> None:
    live = RecentMedian(7)
    for value in [1.0] * 6 + [1000.0]:
        median = live.add(value)
    assert median == 1.0
    for _ in range(3):
        median = live.add(1000.0)
    assert median == 1000.0  # four of the last seven


def test_a_median_of_no_values_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        RecentMedian(0)
