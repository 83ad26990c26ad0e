"""Temperature scorer: a rule on calibrated thermal frames, no model needed."""

from __future__ import annotations

import time

import numpy as np

from agent.core.samples import Sample, Score
from agent.senses.temperature.config import SENSE, InfraredConfig
from agent.senses.temperature.reading import read_frame


class TemperatureScorer:
    """Score rises linearly from 0 at warn_c to 1 at limit_c of the hottest region."""

    modality = SENSE

    def __init__(self, device: str, config: InfraredConfig) -> None:
        self.device = device
        self.config = config
        self.models: list[str] = []

    def score(self, sample: Sample) -> Score:
        """Calibrate, find hot regions, and rate the peak temperature."""
        reading = read_frame(sample, self.config)
        rule = self.config.scorer
        value = (reading.peak_c - rule.warn_c) / (rule.limit_c - rule.warn_c)
        return Score(
            device=self.device,
            modality=self.modality,
            value=float(np.clip(value, 0.0, 1.0)),
            label="hot_spot" if reading.regions else "none",
            evidence={**reading.evidence(self.config), "warn_c": rule.warn_c},
            captured_at=sample.captured_at,
            scored_at=time.time(),
        )
