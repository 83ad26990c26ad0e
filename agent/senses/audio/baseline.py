"""A machine's own healthy sound or vibration, learned on site, and how far a window departs.

Each window becomes a few level and shape features that a developing bearing or gear fault
moves: overall RMS, kurtosis and crest factor (impacts), and the energy in octave-wide bands
(faults add energy at their own frequencies, often high ones first). Learning keeps each
feature's median and robust spread over healthy windows; a window's raw score is the RMS of
its robust z-scores, and a `HealthyTail` fitted to the healthy windows' raw scores makes it a
calibrated score (docs/calibration.md). Nothing here is trained off site: any sample rate, any
machine.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from agent.core.calibration import HealthyTail

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
    """Level and shape features of one mono window (any unit: acceleration or sound)."""
    x = np.asarray(window, dtype=np.float64).ravel()
    if x.size < 16:
        raise ValueError(f"a window of {x.size} samples is too short")
    x = x - x.mean()
    power = float(np.mean(x * x)) + EPS
    kurtosis = float(np.mean(x**4)) / (power * power)
    crest = float(np.max(np.abs(x))) / np.sqrt(power)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate)
    bands = [spectrum[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in band_edges(rate)]
    levels = [0.5 * np.log10(power), np.log10(kurtosis + EPS), np.log10(crest + EPS)]
    return np.array([*levels, *np.log10(np.asarray(bands) + EPS)], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class VibrationBaseline:
    """The healthy features of one machine and the calibration of their distance."""

    rate: int
    centre: tuple[float, ...]
    spread: tuple[float, ...]
    tail: HealthyTail

    @staticmethod
    def learn(windows: Iterable[np.ndarray], rate: int) -> VibrationBaseline:
        """Learn from healthy windows (a ValueError when there are too few)."""
        features = np.stack([vibration_features(w, rate) for w in windows])
        centre = np.median(features, axis=0)
        mad = np.median(np.abs(features - centre), axis=0)
        spread = np.maximum(MAD_TO_SD * mad, SPREAD_FLOOR)
        raw = np.sqrt(np.mean(((features - centre) / spread) ** 2, axis=1))
        tail = HealthyTail.fit(raw)
        return VibrationBaseline(rate, tuple(map(float, centre)), tuple(map(float, spread)), tail)

    def raw(self, window: np.ndarray) -> float:
        """Distance of a window from the healthy centre, in robust standard deviations."""
        z = (vibration_features(window, self.rate) - self.centre) / np.asarray(self.spread)
        return float(np.sqrt(np.mean(z * z)))

    def score(self, window: np.ndarray) -> float:
        """The calibrated score: P(a healthy window of this machine departs less)."""
        return self.tail.calibrated(self.raw(window))
