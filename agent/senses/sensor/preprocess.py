"""Sensor window preprocessing shared by the scorer and the training tool.

A window is a 2-D array (samples, channels), oldest sample first, one column per register.
Everything here is pure and deterministic, so features computed at training time and at
inference time are identical by construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

FEATURE_STATS = ("mean", "std", "min", "max", "slope")
GAUSSIAN_MEAN_ABS = math.sqrt(math.pi / 2)  # std / mean absolute deviation of a Gaussian
SCALE_FLOOR = 1e-6  # relative to max(1, |centre|): the scale of a constant channel


def _as_window(window: np.ndarray) -> np.ndarray:
    """A float64 copy of a non-empty 2-D window; anything else is a caller bug."""
    array = np.asarray(window, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"a window is (samples, channels) with samples >= 1, got {array.shape}")
    return array.copy()


def baseline_stats(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel centre and scale of an installation's learning period.

    Each installation runs at its own operating point (SKAB's flow rate is 32 l/min on one
    rig and 122 on another), so a model only generalises across sites on signals expressed
    relative to the site's own normal. The centre is the median; the scale is the mean
    absolute deviation from it (x1.2533, the std for Gaussian noise), which unlike the MAD
    stays above 0 on quantised channels that sit on one level most of the time. A constant
    channel gets a tiny floor, so any later change of it stands out instead of dividing by 0.
    """
    array = _as_window(samples)
    centre = np.median(array, axis=0)
    spread = GAUSSIAN_MEAN_ABS * np.mean(np.abs(array - centre), axis=0)
    floor = SCALE_FLOOR * np.maximum(1.0, np.abs(centre))
    return centre, np.maximum(spread, floor)


def standardise(window: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The window in baseline units: (value - centre) / scale per channel."""
    return (_as_window(window) - centre) / scale


def reject_outliers(window: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Replace values farther than `sigma` std from their column mean by the column median.

    Drops single-sample glitches (a bad read, an EMI spike) before they reach the features.
    Constant columns are left as they are. Note that in n samples no value can lie more than
    (n-1)/sqrt(n) std from the mean, so short windows need a smaller sigma to reject anything.
    """
    array = _as_window(window)
    mean = array.mean(axis=0)
    std = array.std(axis=0)
    outliers = (np.abs(array - mean) > sigma * std) & (std > 0)
    median = np.broadcast_to(np.median(array, axis=0), array.shape)
    array[outliers] = median[outliers]
    return array


def moving_average(window: np.ndarray, n: int) -> np.ndarray:
    """Trailing moving average over `n` samples per column, same shape as the input.

    Row i averages rows max(0, i-n+1)..i, so the first rows average what exists so far
    and no value from the future leaks into the past.
    """
    if n < 1:
        raise ValueError(f"moving average length must be >= 1, got {n}")
    array = _as_window(window)
    sums = np.cumsum(array, axis=0)
    sums[n:] = sums[n:] - sums[:-n]
    counts = np.minimum(np.arange(1, array.shape[0] + 1), n)[:, None]
    return sums / counts


def smooth(window: np.ndarray, sigma: float, n: int) -> np.ndarray:
    """The cleaning chain the model sees: glitches rejected, then a trailing moving average."""
    return moving_average(reject_outliers(window, sigma), n)


def window_features(window: np.ndarray, stats: Sequence[str] = FEATURE_STATS) -> np.ndarray:
    """One float32 vector per window: the chosen `stats` (default all five) for each channel.

    Channel-major: [c0_mean, c0_std, c0_min, c0_max, c0_slope, c1_mean, ...] with all five;
    a model trained on a subset (its metadata `features`) gets those, in the order `stats`
    lists them. `slope` is the least-squares trend per sample (0 for a single sample); std is
    the population std.
    """
    rows = [_stat_index(stat) for stat in stats]
    array = _as_window(window)
    t = np.arange(array.shape[0], dtype=np.float64)
    t -= t.mean()
    denominator = float(np.dot(t, t))
    mean = array.mean(axis=0)
    slope = (t @ (array - mean)) / denominator if denominator > 0 else np.zeros_like(mean)
    every = np.stack([mean, array.std(axis=0), array.min(axis=0), array.max(axis=0), slope])
    return every[rows].T.reshape(-1).astype(np.float32)


def feature_names(channels: list[str], stats: Sequence[str] = FEATURE_STATS) -> list[str]:
    """Names of `window_features` outputs, in order: '<channel>_<stat>'."""
    return [f"{channel}_{stat}" for channel in channels for stat in stats]


def _stat_index(stat: str) -> int:
    """Position of a stat in FEATURE_STATS; an unknown name is a model/config bug."""
    if stat not in FEATURE_STATS:
        raise ValueError(f"unknown window stat {stat!r}, expected one of {FEATURE_STATS}")
    return FEATURE_STATS.index(stat)
