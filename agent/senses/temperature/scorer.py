"""Temperature scorer: a rule on calibrated thermal frames, no model needed."""

from __future__ import annotations

import time

import numpy as np

from agent.core.samples import HARD_LIMIT, Sample, Score
from agent.senses.temperature.config import SENSE, InfraredConfig
from agent.senses.temperature.reading import broken_limits, read_frame


class TemperatureScorer:
    """Score rises linearly from 0 at warn_c to 1 at limit_c of the hottest region; at limit_c,
    the critical temperature, the frame breaks a hard limit and alarms on its own."""

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
        evidence = {**reading.evidence(self.config), "warn_c": rule.warn_c}
        if limits := broken_limits(reading, self.config):  # alarms on its own (fusion)
            evidence[HARD_LIMIT] = limits
        return Score(
            device=self.device,
            modality=self.modality,
            value=float(np.clip(value, 0.0, 1.0)),
            label="hot_spot" if reading.regions else "none",
            evidence=evidence,
            captured_at=sample.captured_at,
            scored_at=time.time(),
        )
