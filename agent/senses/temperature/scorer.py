"""Temperature scorer: a rule on calibrated thermal frames, no model needed."""

from __future__ import annotations

import time

import numpy as np

from agent.core.samples import Sample, Score
from agent.observe.stages import Stage, timed
from agent.senses.temperature.config import SENSE, InfraredConfig
from agent.senses.temperature.preprocess import calibrate, find_hot_regions


class TemperatureScorer:
    """Score rises linearly from 0 at warn_c to 1 at limit_c of the hottest region."""

    modality = SENSE

    def __init__(self, device: str, config: InfraredConfig) -> None:
        self.device = device
        self.config = config
        self.models: list[str] = []

    def score(self, sample: Sample) -> Score:
        """Calibrate, find hot regions, and rate the peak temperature."""
        if not isinstance(sample.data, np.ndarray):
            raise TypeError("infrared samples carry a raw uint16 frame")
        cal = self.config.calibration
        with timed(Stage.PREPROCESS):
            temps = calibrate(sample.data, cal.a, cal.b)
            valid = np.isfinite(temps)
            if not valid.any():
                raise ValueError("thermal frame has no pixel in the valid range")
            regions = find_hot_regions(
                temps, self.config.hot_threshold_c, self.config.min_region_px
            )
        # Without a hot region, a high percentile ignores single noisy pixels.
        peak = regions[0].max_c if regions else float(np.percentile(temps[valid], 99.5))
        rule = self.config.scorer
        value = float(np.clip((peak - rule.warn_c) / (rule.limit_c - rule.warn_c), 0.0, 1.0))
        evidence = {
            "max_c": round(peak, 2),
            "mean_c": round(float(temps[valid].mean()), 2),
            "hot_threshold_c": self.config.hot_threshold_c,
            "warn_c": rule.warn_c,
            "limit_c": rule.limit_c,
            "regions": [r.as_evidence() for r in regions[:10]],
            "invalid_px": int((~valid).sum()),
        }
        return Score(
            device=self.device,
            modality=self.modality,
            value=value,
            label="hot_spot" if regions else "none",
            evidence=evidence,
            captured_at=sample.captured_at,
            scored_at=time.time(),
        )
