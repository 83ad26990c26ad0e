"""Calibrated scores: the healthy distribution's body read empirically, its tail extrapolated."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from agent.core.calibration import HealthyTail, threshold_for


def healthy(n: int = 2000, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).exponential(1.0, n)


def test_the_body_matches_the_healthy_samples() -> None:
    scores = healthy()
    tail = HealthyTail.fit(scores)
    for q in (0.25, 0.5, 0.75):
        assert tail.calibrated(float(np.quantile(scores, q))) == pytest.approx(q, abs=0.01)


def test_the_tail_extrapolates_beyond_the_largest_healthy_sample() -> None:
    tail = HealthyTail.fit(healthy())
    # exponential(1): P(X >= 9) = e^-9 = 1.2e-4, far beyond 2,000 samples' reach
    assert tail.exceedance(9.0) == pytest.approx(math.exp(-9.0), rel=0.5)
    assert tail.calibrated(9.0) > 0.9998
    assert tail.calibrated(20.0) > tail.calibrated(9.0)


def test_calibrated_is_monotonic() -> None:
    tail = HealthyTail.fit(healthy(300, seed=7))
    raws = np.linspace(-1.0, 15.0, 200)
    values = [tail.calibrated(float(r)) for r in raws]
    assert all(b >= a for a, b in itertools.pairwise(values))


def test_too_few_or_broken_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 20"):
        HealthyTail.fit(np.ones(10))
    with pytest.raises(ValueError, match="finite"):
        HealthyTail.fit(np.array([*np.ones(30), np.nan]))


def test_threshold_from_false_alarms_per_day() -> None:
    # a sample every 10 s: 8,640 a day; one false crossing a day
    assert threshold_for(1.0, 8640.0) == pytest.approx(1.0 - 1.0 / 8640.0)
    with pytest.raises(ValueError):
        threshold_for(0.0, 8640.0)


def test_the_body_floor_keeps_one_excursion_from_making_the_tail_light() -> None:
    """Overlapping windows: the top tenth is one slow excursion, all near one value."""
    rng = np.random.default_rng(3)
    scores = np.concatenate([rng.normal(0.0, 1.0, 900), 2.0 + rng.normal(0.0, 0.01, 100)])
    light, floored = HealthyTail.fit(scores), HealthyTail.fit(scores, body_floor=True)
    assert light.tail_scale < 0.15  # about the excursion's own spread
    # an exponential from the median reaching the tail's start (2.0) at one tenth: / ln 5
    assert floored.tail_scale == pytest.approx((2.0 - np.median(scores)) / math.log(5), rel=0.05)
    assert light.exceedance(3.0) < 1e-5  # one unit past the excursion: "never seen healthy"
    assert 0.01 < floored.exceedance(3.0) < 0.1
    exponential = healthy()  # where the tail is fitted well, the floor changes little
    fitted = HealthyTail.fit(exponential, body_floor=True).tail_scale
    assert fitted == pytest.approx(HealthyTail.fit(exponential).tail_scale, rel=0.15)
