"""Radiometric calibration and hot-region finding on thermal frames."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

VALID_RANGE_C = (-20.0, 500.0)


@dataclass(frozen=True, slots=True)
class HotRegion:
    """A connected patch of pixels above the hot threshold."""

    bbox: tuple[int, int, int, int]  # x, y, width, height in pixels
    area_px: int
    max_c: float
    mean_c: float

    def as_evidence(self) -> dict[str, object]:
        """JSON-ready form for alarm evidence."""
        return {
            "bbox": list(self.bbox),
            "area_px": self.area_px,
            "max_c": round(self.max_c, 2),
            "mean_c": round(self.mean_c, 2),
        }


def calibrate(raw: np.ndarray, a: float, b: float) -> np.ndarray:
    """Per-pixel temp = a*raw + b in °C; readings outside the sensor's valid range become NaN.

    NaN rather than clipping, so a dead pixel reading 65535 never looks like a 600 °C hot spot.
    """
    if raw.dtype != np.uint16:
        raise ValueError(f"expected a 16-bit radiometric frame, got {raw.dtype}")
    temps = raw.astype(np.float32) * np.float32(a) + np.float32(b)
    low, high = VALID_RANGE_C
    temps[(temps < low) | (temps > high)] = np.nan
    return temps


def spot_peak(temps: np.ndarray, valid: np.ndarray) -> float:
    """The hottest temperature that most of a 3x3 neighbourhood reaches (the largest 3x3
    median): a hot pixel alone (a defect, a glint) does not count, a hot spot of a few pixels
    does, at its own temperature. A high percentile dilutes a spot smaller than its share of
    the frame (0.5 % of 80x60 is 24 pixels; docs/calibration.md has a measured case).
    Invalid pixels (NaN) count as the coldest valid one, so they never make a spot."""
    filled = np.where(valid, temps, np.min(temps[valid])).astype(np.float32)
    return float(cv2.medianBlur(filled, 3).max())


def find_hot_regions(
    temps: np.ndarray, threshold_c: float, min_area_px: int = 1
) -> list[HotRegion]:
    """Connected regions (8-neighbour) at or above threshold_c, hottest first."""
    mask = (np.nan_to_num(temps, nan=-np.inf) >= threshold_c).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area_px]
    if not keep:
        return []
    maxima = ndimage.maximum(temps, labels, keep)
    means = ndimage.mean(temps, labels, keep)
    regions = [
        HotRegion(
            bbox=(
                int(stats[i, cv2.CC_STAT_LEFT]),
                int(stats[i, cv2.CC_STAT_TOP]),
                int(stats[i, cv2.CC_STAT_WIDTH]),
                int(stats[i, cv2.CC_STAT_HEIGHT]),
            ),
            area_px=int(stats[i, cv2.CC_STAT_AREA]),
            max_c=float(hi),
            mean_c=float(mean),
        )
        for i, hi, mean in zip(keep, maxima, means, strict=True)
    ]
    return sorted(regions, key=lambda r: r.max_c, reverse=True)
