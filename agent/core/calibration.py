"""Calibrated scores: how unusual a raw anomaly score is for this machine when it is healthy.

A learned baseline gives each sample a raw score (a distance, an Isolation Forest score: its
scale means nothing across senses). `HealthyTail` turns it into the probability that a healthy
sample of this machine scores lower, so 0.999 means "one healthy sample in a thousand scores
this high", whatever the sense. Below the top `tail_fraction` of the learned scores the
probability is read off their empirical distribution; above, an exponential tail fitted to
the excesses over that quantile extrapolates, so that a threshold such as 0.99999 is meaningful
with a few hundred healthy samples. The maths is in docs/calibration.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import numpy as np
from numpy.typing import ArrayLike
from pydantic import AfterValidator

MIN_SAMPLES = 20  # fewer healthy samples say too little about their tail
MIN_TAIL = 5  # the exponential's scale is fitted to at least this many excesses
SECONDS_PER_DAY = 86_400.0
MAX_QUANTILES = 10_001  # bounds what a learned card read back from disk makes a scorer hold
# A calibrated score is 1 − exceedance in a double: past about 16 nines it is exactly 1.0, so
# its decades of rarity are shown up to here ("at least this rare")
MAX_DECADES = 16.0


@dataclass(frozen=True, slots=True)
class HealthyTail:
    """The learned distribution of a raw score on healthy data (JSON-serialisable)."""

    quantiles: tuple[float, ...]  # the healthy scores at probabilities 0, 1/(Q-1), …, 1
    tail_start: float  # raw score above which the exponential tail applies
    tail_fraction: float  # share of healthy samples above `tail_start`
    tail_scale: float  # mean excess over `tail_start` of those samples
    samples: int

    @staticmethod
    def fit(
        scores: np.ndarray,
        tail_fraction: float = 0.1,
        grid: int = 201,
        body_floor: bool = False,
        min_scale: float = 0.0,
    ) -> HealthyTail:
        """Fit on healthy raw scores (higher = more anomalous).

        `body_floor`: the tail is no lighter than the body implies (an exponential from the
        median reaching the tail's start at its fraction), for scores of overlapping windows,
        whose top few may be one excursion: alone, its spread would make the tail far too light.
        `min_scale`: the tail's scale in raw units is at least this (what a healthy machine is
        known to vary by, whatever the learning period showed).
        """
        values = np.sort(np.asarray(scores, dtype=np.float64).ravel())
        if values.size < MIN_SAMPLES or not np.all(np.isfinite(values)):
            raise ValueError(
                f"need at least {MIN_SAMPLES} finite healthy scores, got {values.size}"
            )
        tail_count = max(MIN_TAIL, math.ceil(tail_fraction * values.size))
        tail_start = float(values[-tail_count - 1])
        excess = values[-tail_count:] - tail_start
        spread = float(values[-1] - values[0]) or 1.0
        fraction = tail_count / values.size
        scale = max(float(excess.mean()), 1e-9 * spread, min_scale)
        if body_floor and fraction < 0.5:
            body = (tail_start - float(np.median(values))) / math.log(0.5 / fraction)
            scale = max(scale, body)
        quantiles = np.quantile(values, np.linspace(0.0, 1.0, grid))
        return HealthyTail(
            quantiles=tuple(float(q) for q in quantiles),
            tail_start=tail_start,
            tail_fraction=fraction,
            tail_scale=scale,
            samples=int(values.size),
        )

    def to_json(self) -> dict[str, Any]:
        """Its fields as JSON types (a learned card stores it so)."""
        return {
            "quantiles": list(self.quantiles),
            "tail_start": self.tail_start,
            "tail_fraction": self.tail_fraction,
            "tail_scale": self.tail_scale,
            "samples": self.samples,
        }

    @staticmethod
    def from_json(value: Mapping[str, Any]) -> HealthyTail:
        """Back from `to_json`; a ValueError naming what is wrong when it is not a distribution
        `fit` could have made (a learned card is read from disk: nothing in it is trusted)."""
        if not isinstance(value, Mapping) or set(value) != set(HealthyTail.__slots__):
            raise ValueError(
                f"a healthy tail has exactly the fields {sorted(HealthyTail.__slots__)}"
            )
        quantiles = value["quantiles"]
        if not isinstance(quantiles, list) or not 2 <= len(quantiles) <= MAX_QUANTILES:
            raise ValueError(f"tail quantiles must be a list of 2 to {MAX_QUANTILES} numbers")
        numbers = [*quantiles, value["tail_start"], value["tail_fraction"], value["tail_scale"]]
        if not all(_is_finite_number(x) for x in numbers):
            raise ValueError("tail values must be finite numbers")
        if any(b < a for a, b in itertools.pairwise(quantiles)):
            raise ValueError("tail quantiles must not decrease")
        if not 0 < value["tail_fraction"] <= 1 or value["tail_scale"] <= 0:
            raise ValueError("tail_fraction must be in (0, 1] and tail_scale above 0")
        samples = value["samples"]
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise ValueError("tail samples must be a positive integer")
        return HealthyTail(
            quantiles=tuple(float(q) for q in quantiles),
            tail_start=float(value["tail_start"]),
            tail_fraction=float(value["tail_fraction"]),
            tail_scale=float(value["tail_scale"]),
            samples=samples,
        )

    def exceedance(self, raw: float) -> float:
        """P(a healthy sample scores at least `raw`)."""
        if not math.isfinite(raw):
            return 0.0 if raw > 0 else 1.0
        if raw > self.tail_start:
            return self.tail_fraction * math.exp(-(raw - self.tail_start) / self.tail_scale)
        grid = np.asarray(self.quantiles)
        below = float(np.interp(raw, grid, np.linspace(0.0, 1.0, grid.size)))
        return max(1.0 - below, self.tail_fraction)

    def calibrated(self, raw: float) -> float:
        """P(a healthy sample scores lower than `raw`): the score every sense shares."""
        return 1.0 - self.exceedance(raw)


def _checked_tail(value: dict[str, Any]) -> dict[str, Any]:
    HealthyTail.from_json(value)  # a ValueError naming what is wrong
    return value


# a healthy tail in a learned card (its `to_json()`), checked when the card is read
HealthyTailJson = Annotated[dict[str, Any], AfterValidator(_checked_tail)]


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def decades(score: ArrayLike) -> np.ndarray:
    """Decades of rarity of calibrated scores: d where a healthy sample of the machine scores
    as high once in 10^d (−log10 of 1 − score), at most MAX_DECADES."""
    exceedance = np.clip(1.0 - np.asarray(score, dtype=np.float64), 10.0**-MAX_DECADES, 1.0)
    return 0.0 - np.log10(exceedance)  # not -log10: a score of 0 would read "-0.0 decades"


def threshold_for(target_false_alarms_per_day: float, samples_per_day: float) -> float:
    """The calibrated threshold at which healthy samples cross `target` times a day.

    Each sample is taken as one chance to cross: P(exceed) = target / samples_per_day. Alarms
    that also need persistence (several samples in a row) cross less often than this.
    """
    if target_false_alarms_per_day <= 0 or samples_per_day <= 0:
        raise ValueError("the target and the sampling rate must be positive")
    return 1.0 - min(1.0, target_false_alarms_per_day / samples_per_day)


class CalibratedRule(Protocol):
    """How a device that learned its normal fuses its senses' calibrated scores."""

    @property
    def rule(self) -> str:
        """What an alarm it raises names as its rule."""
        ...

    @property
    def threshold(self) -> float:
        """The fused score at which the device alarms."""
        ...

    def contributions(self, values: dict[str, float]) -> dict[str, float]:
        """Each sense's part in the fused score, as its alarm shows it."""
        ...

    def combine(self, contributions: dict[str, float]) -> tuple[float, str | None]:
        """The fused score of these contributions, and the sense that drives it (None
        without senses)."""
        ...

    def degraded_threshold(self, alone_factor: float) -> float:
        """The threshold when too few senses are fresh: `alone_factor` times rarer."""
        ...

    def sense_threshold(self, sense: str) -> float:
        """The sense's own threshold: the calibrated score at which it alone would give the
        device's target rate of false alarms."""
        ...


@dataclass(frozen=True, slots=True)
class CalibratedFusion:
    """How a device whose senses are calibrated fuses them into one alarm (docs/learning.md).

    Sense s scores n_s samples a day (N in all, K senses). A sample whose exceedance ε_s is
    at most target / (K · n_s) alarms, so healthy senses together cross about `target` times a
    day. The fused score 1 − min_s(ε_s · K · n_s / N) is a probability too, and it reaches
    `threshold` = 1 − target / N exactly when one sense does.
    """

    threshold: float
    shares: dict[str, float]  # K · n_s / N per sense; a sense not listed counts 1

    @staticmethod
    def for_target(
        target_false_alarms_per_day: float, rates_hz: dict[str, float]
    ) -> CalibratedFusion:
        """From the operator's target and each sense's samples per second (learned)."""
        rates = {sense: rate for sense, rate in rates_hz.items() if rate > 0}
        if not rates:
            raise ValueError("no sense with a positive sample rate")
        total = sum(rates.values())
        shares = {sense: len(rates) * rate / total for sense, rate in rates.items()}
        return CalibratedFusion(
            threshold_for(target_false_alarms_per_day, total * SECONDS_PER_DAY), shares
        )

    def sense_threshold(self, sense: str) -> float:
        """The calibrated score at which this sense alone crosses the device's threshold."""
        return 1.0 - (1.0 - self.threshold) / self.shares.get(sense, 1.0)

    @property
    def rule(self) -> str:
        """The decision rule an alarm it raises names."""
        return "calibrated"

    def contributions(self, values: dict[str, float]) -> dict[str, float]:
        """Each sense's fused score were it alone: the largest one is the fused score."""
        return {s: 1.0 - min(1.0, w) for s, w in self._weighted(values).items()}

    def combine(self, contributions: dict[str, float]) -> tuple[float, str | None]:
        """The largest contribution and its sense (None when there is none)."""
        if not contributions:
            return 0.0, None
        top = max(contributions, key=contributions.__getitem__)
        return contributions[top], top

    def fused(self, values: dict[str, float]) -> tuple[float, str | None]:
        """The fused calibrated score of each sense's calibrated value, and the sense that
        drives it (None when there is none)."""
        return self.combine(self.contributions(values))

    def _weighted(self, values: dict[str, float]) -> dict[str, float]:
        """Each sense's exceedance times its share: the device's exceedance were it alone."""
        return {s: (1.0 - v) * self.shares.get(s, 1.0) for s, v in values.items()}

    def degraded_threshold(self, alone_factor: float) -> float:
        """The threshold `alone_factor` times rarer than the device's."""
        return 1.0 - (1.0 - self.threshold) / alone_factor
