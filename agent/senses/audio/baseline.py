"""A machine's own healthy sound or vibration, learned on site, and how far a window departs.

Each window becomes its level features: overall RMS and the energy in octave-wide bands. A
developing bearing or gear fault adds energy, at its own frequencies first and then across the
spectrum, and keeps adding it as it grows, so levels trend with damage. Impulsiveness
(kurtosis, crest factor) is left out: in a 0.1 s window one knock dominates it, so healthy
running has a heavy tail of it that would push every threshold up. Learning keeps each
feature's median and robust spread over healthy windows; a window's raw score is its largest
rise above the healthy median in robust standard deviations (a quieter band is not a fault),
and a `HealthyTail` fitted to the healthy windows' raw scores calibrates it
(docs/calibration.md). Nothing here is trained off site: any sample rate, any machine.

A baseline may judge the median raw score of its last `median` windows instead of one: one
loud window (a knock, a door) then decides nothing. The tail stays the single windows': a
median of healthy windows reaches a level less often than one window does, so the calibrated
score of a median errs towards healthy, and a lasting departure scores as far into the tail
as its windows do one by one. `Departure` keeps those windows for a scorer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.core.calibration import HealthyTail
from agent.core.medians import MAX_MEDIAN, RecentMedian

BAND_EDGES_HZ = (25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0, 12800.0)
MIN_BAND_HZ = 2.0  # a band narrower than this (near Nyquist) is left out
SPREAD_FLOOR = 0.02  # log10 units (about 5 %): quantised quiet signals cannot make z explode
MAD_TO_SD = 1.4826
EPS = 1e-12


def band_edges(rate: int) -> list[tuple[float, float]]:
    """The octave bands a signal sampled at `rate` can hold."""
    nyquist = rate / 2.0
    pairs = itertools.pairwise(BAND_EDGES_HZ)
    return [(lo, min(hi, nyquist)) for lo, hi in pairs if min(hi, nyquist) - lo >= MIN_BAND_HZ]


def vibration_features(window: np.ndarray, rate: int) -> np.ndarray:
    """Log RMS and log octave-band energies of one mono window (any unit)."""
    x = np.asarray(window, dtype=np.float64).ravel()
    if x.size < 16:
        raise ValueError(f"a window of {x.size} samples is too short")
    x = x - x.mean()
    power = float(np.mean(x * x)) + EPS
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate)
    bands = [spectrum[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in band_edges(rate)]
    return np.array([0.5 * np.log10(power), *np.log10(np.asarray(bands) + EPS)])


def rise(features: np.ndarray, centre: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """The largest rise of each row of features above the centre, in spreads (0: none)."""
    return np.maximum((features - centre) / spread, 0.0).max(axis=-1)


@dataclass(frozen=True, slots=True)
class VibrationBaseline:
    """The healthy features of one machine and the calibration of their departure."""

    rate: int
    centre: tuple[float, ...]
    spread: tuple[float, ...]
    tail: HealthyTail  # of a single window's raw score
    median: int = 1  # windows whose median raw score is judged

    @staticmethod
    def learn(windows: Iterable[np.ndarray], rate: int) -> VibrationBaseline:
        """Learn from healthy windows, each judged alone (a ValueError when there are too few)."""
        return VibrationBaseline.from_features(
            np.stack([vibration_features(w, rate) for w in windows]), rate
        )

    @staticmethod
    def from_features(features: np.ndarray, rate: int, median: int = 1) -> VibrationBaseline:
        """Learn from the `vibration_features` of healthy windows (windows × features), so a
        learner keeps a dozen numbers a window, not the window."""
        centre = np.median(features, axis=0)
        mad = np.median(np.abs(features - centre), axis=0)
        spread = np.maximum(MAD_TO_SD * mad, SPREAD_FLOOR)
        tail = HealthyTail.fit(rise(features, centre, spread))
        return VibrationBaseline(
            rate, tuple(map(float, centre)), tuple(map(float, spread)), tail, median
        )

    def raw(self, window: np.ndarray) -> float:
        """How far the most-risen level of a window is above healthy, in robust sd."""
        features = vibration_features(window, self.rate)
        return float(rise(features, np.asarray(self.centre), np.asarray(self.spread)))

    def score(self, window: np.ndarray) -> float:
        """The calibrated score: P(a healthy window of this machine departs less)."""
        return self.tail.calibrated(self.raw(window))

    def to_json(self) -> dict[str, Any]:
        """Plain numbers and lists that `json.dumps` takes and `from_json` reads back."""
        return {
            "rate": self.rate,
            "centre": list(self.centre),
            "spread": list(self.spread),
            "tail": self.tail.to_json(),
            "median": self.median,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> VibrationBaseline:
        """The baseline `to_json` wrote (a ValueError when it does not fit these features)."""
        try:
            rate = int(data["rate"])
            centre = tuple(float(v) for v in data["centre"])
            spread = tuple(float(v) for v in data["spread"])
            healthy = HealthyTail.from_json(data["tail"])
            median = data.get("median", 1)  # baselines before it judged each window alone
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a vibration baseline: {exc!r}") from exc
        features = 1 + len(band_edges(rate))
        if rate <= 0 or len(centre) != features or len(spread) != features:
            raise ValueError(f"a baseline at {rate} Hz has {features} features")
        if not all(math.isfinite(v) for v in centre + spread) or min(spread) <= 0:
            # a learned card is read from disk: a spread of 0 would alarm on every window, a
            # NaN would silence the sense
            raise ValueError("a baseline's centre must be finite and its spread finite and above 0")
        if type(median) is not int or not 1 <= median <= MAX_MEDIAN:
            raise ValueError(f"a baseline's median is a whole number of windows, 1 to {MAX_MEDIAN}")
        return VibrationBaseline(rate, centre, spread, healthy, median)


class Departure:
    """A baseline's judgement of a stream of windows: the median raw score of the last
    `median` of them, which its tail calibrates; nothing until there are that many."""

    def __init__(self, baseline: VibrationBaseline) -> None:
        self.baseline = baseline
        self._raw = RecentMedian(baseline.median)

    def raw(self, window: np.ndarray) -> float | None:
        """The median raw score with this window in; None while fewer than `median` came."""
        return self._raw.add(self.baseline.raw(window))
