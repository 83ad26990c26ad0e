"""Sensor window preprocessing: outliers, smoothing and the feature vector layout."""

from __future__ import annotations

import numpy as np
import pytest

from agent.senses.sensor.preprocess import (
    baseline_stats,
    feature_names,
    moving_average,
    reject_outliers,
    smooth,
    standardise,
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


def test_window_features_keep_only_the_requested_stats_in_their_order() -> None:
    window = np.random.default_rng(4).normal(size=(12, 3))
    every = window_features(window).reshape(3, 5)
    np.testing.assert_array_equal(window_features(window, ("mean",)), every[:, 0])
    picked = window_features(window, ("max", "mean")).reshape(3, 2)
    np.testing.assert_array_equal(picked, every[:, [3, 0]])
    assert feature_names(["a", "b"], ("max", "mean")) == ["a_max", "a_mean", "b_max", "b_mean"]
    with pytest.raises(ValueError, match="unknown window stat 'median'"):
        window_features(window, ("median",))


def test_baseline_stats_are_median_and_a_gaussian_consistent_spread() -> None:
    samples = np.random.default_rng(2).normal([50.0, -3.0], [2.0, 0.1], size=(20_000, 2))
    centre, scale = baseline_stats(samples)
    np.testing.assert_allclose(centre, [50.0, -3.0], atol=0.05)
    np.testing.assert_allclose(scale, [2.0, 0.1], rtol=0.03)


def test_baseline_scale_stays_positive_on_quantised_and_constant_channels() -> None:
    # 70 % of a quantised channel sits on one level: its MAD is 0, its spread is not.
    quantised = np.array([0.33] * 70 + [0.0] * 15 + [0.66] * 15)
    constant = np.full(100, 400.0)
    centre, scale = baseline_stats(np.column_stack([quantised, constant]))
    assert centre.tolist() == [0.33, 400.0]
    assert scale[0] == pytest.approx(np.sqrt(np.pi / 2) * 0.099)
    assert scale[1] == pytest.approx(400.0 * 1e-6)  # the floor: later changes stand out
    z = standardise(np.array([[0.33, 400.0], [0.66, 400.04]]), centre, scale)
    np.testing.assert_allclose(z, [[0.0, 0.0], [0.33 / scale[0], 100.0]])


def test_smooth_is_outlier_rejection_then_moving_average() -> None:
    window = np.random.default_rng(6).normal(size=(20, 2))
    window[7, 1] = 40.0
    np.testing.assert_array_equal(
        smooth(window, 3.0, 4), moving_average(reject_outliers(window, 3.0), 4)
    )


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 2)), np.zeros((2, 2, 2))])
def test_functions_reject_non_windows(bad: np.ndarray) -> None:
    for function in (reject_outliers, window_features, lambda w: moving_average(w, 2)):
        with pytest.raises(ValueError, match="samples, channels"):
            function(bad)
