"""The toy vibration sense learns this machine's RMS: a HealthyTail of healthy RMS values,
with `alarm_rms` kept as a hard limit (exercises the learning runtime without real models)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from agent.core.calibration import HealthyTail
from agent.core.samples import HARD_LIMIT, Sample, Score
from agent.senses.learning import EXCEEDANCE, RAW, Learned, LearningRefused
from tests.toy_sense.config import SENSE, AccelerometerConfig

NEEDED = 30  # healthy windows


def rms_of(sample: Sample) -> float:
    """The window's RMS."""
    assert isinstance(sample.data, np.ndarray)
    return float(np.sqrt(np.mean(np.square(sample.data))))


def verdict(sample: Sample, value: float, rms: float, extra: dict[str, object]) -> Score:
    """A Score of the toy sense."""
    label = "imbalance" if value >= 0.5 else "none"
    return Score(sample.device, SENSE, value, label, {"rms": rms, **extra},
                 sample.captured_at, time.time(), "learned")  # fmt: skip


def over_limit(sample: Sample, rms: float, config: AccelerometerConfig) -> Score | None:
    """Value 1 when the RMS reaches the hard limit."""
    if rms < config.alarm_rms:
        return None
    return verdict(sample, 1.0, rms, {HARD_LIMIT: ["alarm_rms"], RAW: rms, EXCEEDANCE: 0.0})


class RmsLearner:
    """Keeps healthy RMS values; a window at the hard limit is a problem, not data."""

    modality = SENSE

    def __init__(self, device: str, config: AccelerometerConfig) -> None:
        self.config = config
        self.values: list[float] = []
        self.limit_hits = 0

    def observe(self, sample: Sample) -> Score | None:
        """Keep the RMS, or report the hard limit."""
        rms = rms_of(sample)
        if (hit := over_limit(sample, rms, self.config)) is not None:
            self.limit_hits += 1
            return hit
        self.values.append(rms)
        return None

    def progress(self) -> float:
        """Windows kept / NEEDED."""
        return len(self.values) / NEEDED

    def problems(self) -> list[str]:
        """The hard limit was reached."""
        return [f"alarm_rms reached {self.limit_hits} times"] if self.limit_hits else []

    def finish(self) -> Learned:
        """The tail of the healthy RMS."""
        reasons = self.problems()
        if len(self.values) < NEEDED:
            reasons.append(f"{len(self.values)} windows, {NEEDED} needed")
        if reasons:
            raise LearningRefused(SENSE, reasons)
        tail = HealthyTail.fit(np.asarray(self.values))
        summary = {"rms_p50": float(np.median(self.values)), "rms_max": max(self.values)}
        return Learned(SENSE, len(self.values), {"tail": tail.to_json()}, summary)


class LearnedRmsScorer:
    """Calibrated: P(a healthy window of this machine has a lower RMS)."""

    modality = SENSE

    def __init__(
        self, device: str, config: AccelerometerConfig, learned: Learned, folder: Path
    ) -> None:
        self.config = config
        self.tail = HealthyTail.from_json(learned.params["tail"])
        self.models = ["learned"]

    def score(self, sample: Sample) -> Score:
        """Hard limit first, else the calibrated RMS."""
        rms = rms_of(sample)
        if (hit := over_limit(sample, rms, self.config)) is not None:
            return hit
        exceedance = self.tail.exceedance(rms)
        return verdict(sample, 1.0 - exceedance, rms, {RAW: rms, EXCEEDANCE: exceedance})
