"""What the device saw each second of a replayed episode, kept small enough to draw.

The replay decides once a second for hours; a picture has 900 pixels across. The
recorder folds the seconds into `BINS` (as many) equal spans of the episode and keeps, per span, the
highest score of each sense and of the fused decision (a short peak must stay visible: it is
what raises an alarm) and the highest threshold the decision had to reach (a degraded
decision's is higher). A span with no fresh score of a sense holds NaN: a dropout shows as a
gap. Scores are the decision's own: shipped scores before a device learns, calibrated ones
after, which `learned_at_s` tells apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agent.apps.evaluate.svg import PLOT_W as BINS
from agent.core.calibration import CalibratedFusion
from agent.core.fusion import Decision


@dataclass(frozen=True, slots=True)
class Timeline:
    """One episode's decisions, folded into equal spans of its duration."""

    duration_s: float
    senses: tuple[str, ...]
    values: np.ndarray  # [BINS, senses]: the highest fresh score per span (NaN: none)
    fused: np.ndarray  # [BINS]: the highest fused score per span (NaN: no decision)
    threshold: np.ndarray  # [BINS]: the highest threshold per span (NaN: no decision)
    sense_thresholds: dict[str, float]  # once learned: each sense's own calibrated threshold


class TimelineRecorder:
    """Told of the device's decision at each tick (the replay's `on_tick`), folds them."""

    def __init__(self, duration_s: float, senses: tuple[str, ...]) -> None:
        self.duration_s = duration_s
        self.senses = senses
        self._values = np.full((BINS, len(senses)), np.nan)
        self._fused = np.full(BINS, np.nan)
        self._threshold = np.full(BINS, np.nan)
        self._calibration: CalibratedFusion | None = None  # the latest, once learned

    def __call__(self, now: float, decision: Decision, calibrated: CalibratedFusion | None) -> None:
        span = min(BINS - 1, max(0, math.floor(now / self.duration_s * BINS)))
        for k, sense in enumerate(self.senses):
            if sense in decision.present and sense in decision.scores:
                self._values[span, k] = np.fmax(self._values[span, k], decision.scores[sense].value)
        if decision.present:
            self._fused[span] = np.fmax(self._fused[span], decision.score)
            self._threshold[span] = np.fmax(self._threshold[span], decision.threshold)
        if calibrated is not None:
            self._calibration = calibrated

    def timeline(self) -> Timeline:
        """What was recorded so far."""
        calibration = self._calibration
        levels = {s: calibration.sense_threshold(s) for s in self.senses} if calibration else {}
        return Timeline(
            self.duration_s,
            self.senses,
            self._values.copy(),
            self._fused.copy(),
            self._threshold.copy(),
            levels,
        )
