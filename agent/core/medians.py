"""Medians over the last few scores: how a sense lets one odd sample decide nothing.

A fault lasts longer than a knock, a door or a glint; the median of a sense's last n raw
scores moves only once most of them depart. The learner computes the same medians over its
healthy samples (`trailing_median`) as the scorer keeps live (`RecentMedian`), so a tail
fitted to the one calibrates the other.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MAX_MEDIAN = 1_000  # scores: bounds what a card read back from disk makes a scorer keep


def trailing_median(values: np.ndarray, n: int) -> np.ndarray:
    """Median of the last `n` values at each position (fewer at the start), same length.

    Smooths the model's decision over time: SKAB-like faults last minutes, so one odd
    window should neither raise nor drop an alarm (upstream smooths with a rolling median).
    """
    if n < 1:
        raise ValueError(f"median length must be >= 1, got {n}")
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {array.shape}")
    padded = np.concatenate([np.full(n - 1, np.nan), array])
    return np.nanmedian(sliding_window_view(padded, n), axis=1)


def full_medians(values: np.ndarray, n: int) -> np.ndarray:
    """The medians of every run of `n` consecutive values (none shorter): what a
    `RecentMedian` of `n` would have said after each of them."""
    return trailing_median(values, n)[n - 1 :]


class RecentMedian:
    """The median of the last `count` values added; None until there are that many."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"median length must be >= 1, got {count}")
        self._values: deque[float] = deque(maxlen=count)

    def add(self, value: float) -> float | None:
        """The median with `value` in, once `count` values have come."""
        self._values.append(value)
        if len(self._values) < (self._values.maxlen or 1):
            return None
        return float(np.median(self._values))
