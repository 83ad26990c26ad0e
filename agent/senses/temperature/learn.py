"""What is hot for this machine: its peak temperature above the scene around it, learned.

A frame's raw score is its peak (the hottest region's maximum, else its hottest spot of a few
pixels) minus its ambient (the median valid pixel, `reading.py`), in °C: a warmer day or a
heated hall lifts both, so only the machine's own heating moves it. A `HealthyTail` fitted to
healthy frames' raw scores calibrates it, its tail no steeper than `MIN_TAIL_SCALE_C` per e-fold.
The configured critical temperature (`scorer.limit_c`, absolute °C) stays a hard limit:
value 1.0 while learning and after.
"""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from agent.core.calibration import HealthyTail
from agent.core.samples import HARD_LIMIT, Sample, Score
from agent.senses.learning import EXCEEDANCE, RAW, Learned, LearningRefused
from agent.senses.temperature.config import SENSE, InfraredConfig
from agent.senses.temperature.reading import (
    NoValidPixelsError,
    ThermalReading,
    broken_limits,
    read_frame,
)

MIN_FRAMES = 300  # the tail's exponential is then fitted to at least the top 30 frames
MAX_KEPT = 20_000  # the newest frames kept (5.5 h at 1 Hz), two numbers each
MAX_INVALID_SHARE = 0.05  # more frames without a valid pixel: a camera or calibration fault
NARROW_SPAN_C = 1.0  # a relative peak that moved less while learning has likely seen one load
# A housing's peak over its surroundings follows the load by degrees, while ten minutes of one
# load show tenths: its learned tail is never steeper than this many °C per e-fold of rarity.
MIN_TAIL_SCALE_C = 1.0
HOT_SCORE = 0.999  # at or above, the label says hot_spot: one healthy frame in 1,000 is as hot
HOT_SPOT = "hot_spot"
NONE = "none"


def relative_c(reading: ThermalReading) -> float:
    """The raw score: how far the machine's peak stands above its scene, in °C."""
    return reading.peak_c - reading.ambient_c


class TemperatureLearner:
    """Keeps healthy frames' relative peaks; any frame at the critical temperature alarms."""

    modality = SENSE

    def __init__(self, device: str, config: InfraredConfig) -> None:
        self.device = device
        self.config = config
        self._relative: deque[float] = deque(maxlen=MAX_KEPT)
        self._ambient: deque[float] = deque(maxlen=MAX_KEPT)
        self._frames = 0
        self._invalid = 0
        self._critical = 0
        self._hottest_c = -math.inf

    def observe(self, sample: Sample) -> Score | None:
        """Keep the frame's relative peak; a Score of 1.0 at the critical temperature."""
        self._frames += 1
        try:
            reading = read_frame(sample, self.config)
        except NoValidPixelsError:
            self._invalid += 1
            return None
        if limits := broken_limits(reading, self.config):
            self._critical += 1
            self._hottest_c = max(self._hottest_c, reading.peak_c)
            evidence = {**reading.evidence(self.config), HARD_LIMIT: limits}
            return _score(self.device, sample, 1.0, evidence)
        self._relative.append(relative_c(reading))
        self._ambient.append(reading.ambient_c)
        return None

    def progress(self) -> float:
        """Share of MIN_FRAMES kept."""
        return min(1.0, len(self._relative) / MIN_FRAMES)

    def problems(self) -> list[str]:
        """A critical temperature, frames the camera could not measure, too few frames."""
        found = []
        if self._critical:
            found.append(
                f"the critical temperature ({self.config.scorer.limit_c:g} °C) was reached in "
                f"{self._critical} frames (hottest {self._hottest_c:.1f} °C): "
                "a machine this hot is not healthy"
            )
        if self._invalid > MAX_INVALID_SHARE * self._frames:
            found.append(
                f"{self._invalid} of {self._frames} frames had no pixel in the valid range: "
                "check the camera and its calibration"
            )
        if len(self._relative) < MIN_FRAMES:
            found.append(f"too few frames: {len(self._relative)} of {MIN_FRAMES}")
        return found

    def finish(self) -> Learned:
        """The calibration of the relative peak; LearningRefused while `problems` say why not."""
        if problems := self.problems():
            raise LearningRefused(SENSE, problems)
        relative = np.asarray(self._relative)
        ambient = np.asarray(self._ambient)
        span = float(np.quantile(relative, 0.99) - np.quantile(relative, 0.01))
        return Learned(
            sense=SENSE,
            samples=relative.size,
            params={"tail": HealthyTail.fit(relative, min_scale=MIN_TAIL_SCALE_C).to_json()},
            summary={
                "frames": relative.size,
                "ambient_c": _quantiles(ambient, (0.0, 0.5, 1.0)),
                "relative_c": _quantiles(relative, (0.5, 0.9, 0.99, 1.0)),
            },
            warnings=_narrow(span),
        )


class LearnedTemperatureScorer:
    """Calibrated relative peak; the critical temperature still scores 1.0."""

    modality = SENSE

    def __init__(self, device: str, config: InfraredConfig, tail: HealthyTail) -> None:
        self.device = device
        self.config = config
        self.tail = tail
        self.models: list[str] = []

    def score(self, sample: Sample) -> Score:
        """P(a healthy frame of this machine stands less far above its scene)."""
        reading = read_frame(sample, self.config)
        raw = relative_c(reading)
        limits = broken_limits(reading, self.config)
        value = 1.0 if limits else self.tail.calibrated(raw)
        evidence = {
            **reading.evidence(self.config),
            "ambient_c": round(reading.ambient_c, 2),
            RAW: raw,
            EXCEEDANCE: 1.0 - value,
        }
        if limits:
            evidence[HARD_LIMIT] = limits
        return _score(self.device, sample, value, evidence)


def learned_scorer(
    device: str, config: InfraredConfig, learned: Learned, folder: Path
) -> LearnedTemperatureScorer:
    """The scorer for what `TemperatureLearner.finish` returned (it writes no files)."""
    if learned.sense != SENSE:
        raise ValueError(f"learned for {learned.sense}, not {SENSE}")
    return LearnedTemperatureScorer(device, config, HealthyTail.from_json(learned.params["tail"]))


def _narrow(span_c: float) -> list[str]:
    """A warning when the learned relative peak barely moved: a new load would score high."""
    if span_c >= NARROW_SPAN_C:
        return []
    return [
        f"the machine's peak above its scene varied by {span_c:.2f} °C only (1st to 99th "
        "percentile) while learning: a change of load may score high; learn across its loads"
    ]


def _quantiles(values: np.ndarray, levels: tuple[float, ...]) -> dict[str, float]:
    """{"p50": …} of `values`, in °C to 0.01, for the card."""
    return {f"p{100 * q:g}": round(float(np.quantile(values, q)), 2) for q in levels}


def _score(device: str, sample: Sample, value: float, evidence: dict[str, Any]) -> Score:
    return Score(
        device=device,
        modality=SENSE,
        value=value,
        label=HOT_SPOT if value >= HOT_SCORE else NONE,
        evidence=evidence,
        captured_at=sample.captured_at,
        scored_at=time.time(),
    )
