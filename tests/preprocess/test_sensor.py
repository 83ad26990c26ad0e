"""Sensor window preprocessing: outliers, smoothing and the feature vector layout."""

from __future__ import annotations

import numpy as np
import pytest

from agent.preprocess.sensor import (
    feature_names,
    moving_average,
    reject_outliers,
    window_features,
)


def test_reject_outliers_replaces_a_spike_by_the_column_median() -> None:
    rng = np.random.default_rng(1)
    window = np.column_stack([rng.normal(20.0, 0.1, 32), np.full(32, 7.0)])
    window[10, 0] = 50.0
    cleaned = reject_outliers(window, sigma=3.0)
    assert cleaned.shape == window.shape
    assert cleaned[10, 0] == pytest.approx(np.median(window[:, 0]))
    others = np.arange(32) != 10
    np.testing.assert_array_equal(cleaned[others], window[others])
    np.testing.assert_array_equal(cleaned[:, 1], 7.0)  # constant column untouched


def test_reject_outliers_does_not_modify_its_input() -> None:
    window = np.array([[0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [9.0]])
    before = window.copy()
    cleaned = reject_outliers(window, sigma=2.0)
    np.testing.assert_array_equal(window, before)
    assert cleaned[-1, 0] == 0.0


def test_reject_outliers_sigma_controls_what_counts() -> None:
    window = np.array([[1.0], [2.0], [3.0], [4.0], [10.0]])  # 10 is ~1.9 std away
    np.testing.assert_array_equal(reject_outliers(window, sigma=3.0), window)
    assert reject_outliers(window, sigma=1.5)[-1, 0] == 3.0


def test_moving_average_is_trailing_and_keeps_the_shape() -> None:
    window = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0], [5.0, 50.0]])
    smoothed = moving_average(window, 3)
    expected_first = [1.0, 1.5, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(smoothed[:, 0], expected_first)
    np.testing.assert_allclose(smoothed[:, 1], np.array(expected_first) * 10)
    np.testing.assert_array_equal(moving_average(window, 1), window)
    np.testing.assert_allclose(moving_average(window, 99)[:, 0], [1.0, 1.5, 2.0, 2.5, 3.0])
    with pytest.raises(ValueError, match=">= 1"):
        moving_average(window, 0)


def test_window_features_layout_and_values() -> None:
    t = np.arange(8, dtype=np.float64)
    window = np.column_stack([2.0 * t + 1.0, np.full(8, -3.0)])
    features = window_features(window)
    assert features.dtype == np.float32
    assert features.shape == (10,)
    mean, std, low, high, slope = features[:5]
    assert mean == pytest.approx(8.0)
    assert std == pytest.approx(np.std(2.0 * t))
    assert (low, high) == (1.0, 15.0)
    assert slope == pytest.approx(2.0)
    np.testing.assert_allclose(features[5:], [-3.0, 0.0, -3.0, -3.0, 0.0])


def test_window_features_slope_matches_polyfit_on_noise() -> None:
    window = np.random.default_rng(3).normal(size=(40, 3)).cumsum(axis=0)
    features = window_features(window).reshape(3, 5)
    for channel in range(3):
        expected = np.polyfit(np.arange(40), window[:, channel], 1)[0]
        assert features[channel, 4] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_window_features_single_sample_has_zero_slope() -> None:
    np.testing.assert_array_equal(window_features(np.array([[4.0]])), [4.0, 0.0, 4.0, 4.0, 0.0])


def test_feature_names_match_the_layout() -> None:
    names = feature_names(["temp", "flow"])
    assert names[:5] == ["temp_mean", "temp_std", "temp_min", "temp_max", "temp_slope"]
    assert names[5] == "flow_mean"
    assert len(names) == window_features(np.zeros((4, 2))).size


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 2)), np.zeros((2, 2, 2))])
def test_functions_reject_non_windows(bad: np.ndarray) -> None:
    for function in (reject_outliers, window_features, lambda w: moving_average(w, 2)):
        with pytest.raises(ValueError, match="samples, channels"):
            function(bad)
