"""Thermal calibration and hot-region finding."""

from __future__ import annotations

import numpy as np
import pytest

from agent.senses.temperature.preprocess import calibrate, find_hot_regions, spot_peak
from tests.support.thermal_frames import CENTI_KELVIN, raw_from_celsius


def test_calibration_is_linear_per_pixel() -> None:
    raw = np.array([[29315, 37315], [27315, 30000]], dtype=np.uint16)
    temps = calibrate(raw, **CENTI_KELVIN)
    assert temps == pytest.approx(np.array([[20.0, 100.0], [0.0, 26.85]]), abs=1e-3)


def test_out_of_range_pixels_become_nan_not_hot_spots() -> None:
    raw = np.full((4, 4), 15000, dtype=np.uint16)  # 26.85 °C with a=0.02
    raw[0, 0] = 65535  # 1037.55 °C: beyond what the sensor can read
    raw[1, 1] = 0  # -273.15 °C: a dead pixel
    temps = calibrate(raw, a=0.02, b=-273.15)
    assert np.isnan(temps[0, 0])
    assert np.isnan(temps[1, 1])
    assert int(np.isnan(temps).sum()) == 2
    assert find_hot_regions(temps, threshold_c=100.0) == []


def test_rejects_non_radiometric_frames() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        calibrate(np.zeros((2, 2), dtype=np.uint8), 1.0, 0.0)


def test_hot_regions_have_box_area_and_temperatures() -> None:
    temps_c = np.full((20, 30), 25.0)
    temps_c[2:5, 3:7] = 90.0  # 12 px at 90
    temps_c[3, 4] = 120.0
    temps_c[10:12, 20:21] = 70.0  # 2 px at 70
    temps = calibrate(raw_from_celsius(temps_c), **CENTI_KELVIN)
    regions = find_hot_regions(temps, threshold_c=60.0)
    assert len(regions) == 2
    hottest, other = regions
    assert hottest.bbox == (3, 2, 4, 3)
    assert hottest.area_px == 12
    assert hottest.max_c == pytest.approx(120.0, abs=0.01)
    assert hottest.mean_c == pytest.approx((11 * 90 + 120) / 12, abs=0.01)
    assert other.bbox == (20, 10, 1, 2)
    assert find_hot_regions(temps, threshold_c=60.0, min_area_px=3) == [hottest]
    assert find_hot_regions(temps, threshold_c=150.0) == []


def test_spot_peak_keeps_a_small_hot_spot_and_ignores_a_hot_pixel() -> None:
    temps = np.full((60, 80), 25.0, dtype=np.float32)
    temps[30:33, 40:43] = 43.0  # a 3x3 bearing, 18 °C hotter: 9 of 4,800 pixels
    temps[5, 5] = 90.0  # one defective or glinting pixel
    valid = np.isfinite(temps)
    assert spot_peak(temps, valid) == pytest.approx(43.0)
    # a high percentile dilutes the spot
    assert float(np.percentile(temps, 99.5)) == pytest.approx(25.0)


def test_spot_peak_never_makes_a_spot_of_invalid_pixels() -> None:
    raw = np.full((6, 6), 15000, dtype=np.uint16)  # 26.85 °C with a=0.02
    raw[2:5, 2:5] = 65535  # 1037.55 °C, beyond the valid range: NaN
    temps = calibrate(raw, a=0.02, b=-273.15)
    valid = np.isfinite(temps)
    assert spot_peak(temps, valid) == pytest.approx(26.85, abs=1e-3)
