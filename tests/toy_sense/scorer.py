"""The toy vibration scorer: RMS over the alarm level, capped at 1 (a rule, no model)."""

from __future__ import annotations

import time

import numpy as np

from agent.core.samples import Sample, Score
from tests.toy_sense.config import SENSE, AccelerometerConfig


class VibrationScorer:
    """Scores a window by its RMS."""

    modality = SENSE

    def __init__(self, device: str, config: AccelerometerConfig) -> None:
        self.device = device
        self.config = config
        self.models: list[str] = []

    def score(self, sample: Sample) -> Score:
        """0 when still, 1 at or above `alarm_rms`."""
        assert isinstance(sample.data, np.ndarray)
        rms = float(np.sqrt(np.mean(np.square(sample.data))))
        value = min(1.0, rms / self.config.alarm_rms)
        label = "imbalance" if value >= 0.5 else "none"
        return Score(
            self.device,
            SENSE,
            value,
            label,
            {"rms": round(rms, 4)},
            sample.captured_at,
            time.time(),
        )
