"""One radiometric frame as the temperature sense reads it: °C, hot regions, peak, ambient.

The rule scorer, the learner and the learned scorer all read frames here, so they judge the
same peak and name the same evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.core.samples import Sample
from agent.observe.stages import Stage, timed
from agent.senses.temperature.config import InfraredConfig
from agent.senses.temperature.preprocess import HotRegion, calibrate, find_hot_regions, spot_peak


class NoValidPixelsError(ValueError):
    """A frame none of whose pixels lies in the sensor's valid range."""


@dataclass(frozen=True, slots=True)
class ThermalReading:
    """A calibrated frame, its hot regions (hottest first) and the temperatures judged."""

    temps: np.ndarray  # °C, NaN where the pixel is outside the valid range
    valid: np.ndarray
    regions: list[HotRegion]
    peak_c: float  # the hottest region's maximum, else the hottest spot (`spot_peak`)

    @property
    def ambient_c(self) -> float:
        """The median valid pixel: the scene around the machine, as long as the machine and
        other hot objects fill less than half of the frame; single hot or cold pixels do not
        move it, unlike a low percentile, which a cold object in view (a window) would."""
        return float(np.median(self.temps[self.valid]))

    def evidence(self, config: InfraredConfig) -> dict[str, Any]:
        """What every temperature score carries: °C readings and the regions to draw."""
        return {
            "max_c": round(self.peak_c, 2),
            "mean_c": round(float(self.temps[self.valid].mean()), 2),
            "hot_threshold_c": config.hot_threshold_c,
            "limit_c": config.scorer.limit_c,
            "regions": [r.as_evidence() for r in self.regions[:10]],
            "invalid_px": int((~self.valid).sum()),
        }


def read_frame(sample: Sample, config: InfraredConfig) -> ThermalReading:
    """Calibrate and find hot regions; NoValidPixelsError when no pixel is in the valid range."""
    if not isinstance(sample.data, np.ndarray):
        raise TypeError("infrared samples carry a raw uint16 frame")
    cal = config.calibration
    with timed(Stage.PREPROCESS):
        temps = calibrate(sample.data, cal.a, cal.b)
        valid = np.isfinite(temps)
        if not valid.any():
            raise NoValidPixelsError("thermal frame has no pixel in the valid range")
        regions = find_hot_regions(temps, config.hot_threshold_c, config.min_region_px)
    peak = regions[0].max_c if regions else spot_peak(temps, valid)
    return ThermalReading(temps, valid, regions, peak)


CRITICAL = "limit_c"  # the hard limit's name in HARD_LIMIT: its key in the scorer's config


def broken_limits(reading: ThermalReading, config: InfraredConfig) -> list[str]:
    """The hard limits this frame breaks: the critical temperature, absolute."""
    return [CRITICAL] if reading.peak_c >= config.scorer.limit_c else []
