"""The image sense's learned scorer: the shipped detector with this machine's own thresholds.

The detector stays supervised; what a device learns (agent/senses/image/learn.py) is, per
class, a threshold above the confidences that class reaches on this machine's healthy frames,
and how the frames' raw score is distributed. The raw score is the frame's strongest class
evidence relative to its class's threshold, `relative_peak`: above 1 the frame has a
detection, and it is continuous below 1, so healthy frames with no detection do not pile up
on one value. Score.value is the calibration (`MedianCalibration`) of the median raw score of
the last `median` frames: the probability that the median of that many healthy frames of this
machine scores lower. A defect stays in view for
many frames, a detector's odd guess on a healthy frame does not, so a median of frames is
rarer on a healthy machine than one frame is: the median exceeds a level only when most of its
frames do. Learning fits the tail to single frames (a few hundred of them say more about it
than their overlapping medians do) and counts what the median is worth from how alike
consecutive frames are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, ValidationError, model_validator
from scipy.special import betainc
from scipy.stats import spearmanr

from agent.config.base import FiniteFloat, Probability, StrictModel
from agent.core.calibration import MIN_SAMPLES, HealthyTail, HealthyTailJson
from agent.core.medians import MAX_MEDIAN, RecentMedian
from agent.core.samples import Sample, Score
from agent.inference.session import ModelError
from agent.senses.image.config import SENSE, CameraConfig
from agent.senses.image.scorer import Detector, class_peaks
from agent.senses.learning import EXCEEDANCE, RAW, Learned

MIN_THRESHOLD = 0.001  # at 0 every anchor would be a detection (Ultralytics evaluates at 0.001)
# the tail's scale in raw units (class thresholds) when no healthy frame rose above the floor
UNSEEN_SCALE = 0.1


def relative_peak(peaks: np.ndarray, thresholds: np.ndarray) -> float:
    """The raw score: max over classes of (class peak / class threshold); > 1: a detection."""
    return float(np.max(np.asarray(peaks) / np.maximum(thresholds, MIN_THRESHOLD)))


@dataclass(frozen=True, slots=True)
class FrameCalibration:
    """P(a healthy frame scores lower), robust to many healthy frames sharing the lowest raw
    score (blank frames, a model that outputs exact zeros): HealthyTail alone would read such
    a mass as half of it lower, scoring each of those frames high, and would fit its tail to
    it. So the frames at the floor are counted apart and the tail fitted to those above."""

    floor: float  # the lowest healthy raw score
    floor_share: float  # share of healthy frames at it, 0 when the tail was fitted to all
    tail: HealthyTail

    @staticmethod
    def fit(raw: np.ndarray) -> FrameCalibration:
        floor = float(np.min(raw))
        above = raw[raw > floor]
        if above.size < MIN_SAMPLES:  # too few frames rise above it to fit a tail of their own
            # none at all (a clean line where the detector finds nothing, a frozen camera): the
            # scores have no spread to scale a tail by, so a tenth of a class threshold does,
            # else a faint peak would read as rarer than any detection
            scale = UNSEEN_SCALE if above.size == 0 else 0.0
            return FrameCalibration(floor, 0.0, HealthyTail.fit(raw, min_scale=scale))
        return FrameCalibration(floor, 1.0 - above.size / raw.size, HealthyTail.fit(above))

    def value(self, raw: float) -> float:
        if raw <= self.floor:
            return 0.0
        return self.floor_share + (1.0 - self.floor_share) * self.tail.calibrated(raw)


@dataclass(frozen=True, slots=True)
class MedianCalibration:
    """P(the median of n healthy frames scores lower than `raw`), from single frames'.

    The median of n frames exceeds a level when at least (n + 1) / 2 of them do. For
    independent frames that each exceed it with probability p, that is the binomial tail
    I_p(a, a), the regularised incomplete beta function with a = (n + 1) / 2 (exactly, for odd
    n). Frames alike from one to the next are worth fewer than n: `independent_frames`, learned
    from how alike they are, is 1 when they are one frame seen n times, whose median is no
    rarer than a single frame.
    """

    frame: FrameCalibration
    independent_frames: float

    def value(self, raw: float) -> float:
        half = (self.independent_frames + 1.0) / 2.0
        return 1.0 - float(betainc(half, half, 1.0 - self.frame.value(raw)))


def frame_dependence(raw: np.ndarray) -> float:
    """Rank correlation of each frame's raw score with the next one's, in [0, 1]; 1 when
    there is no telling (every frame scores the same): taken as fully alike, the cautious end."""
    if raw.size < 3 or np.ptp(raw) == 0:
        return 1.0
    rho = float(spearmanr(raw[:-1], raw[1:]).statistic)
    return 1.0 if not np.isfinite(rho) else min(1.0, max(0.0, rho))


def independent_frames(median: int, dependence: float) -> float:
    """What a median of `median` frames is worth in independent ones, for consecutive frames
    correlated by `dependence`: n (1 − ρ) / (1 + ρ), the effective count of a first-order
    autoregressive series, at least 1. Frames judged further apart than they were learned are
    less alike than measured, so this then errs towards fewer."""
    return max(1.0, median * (1.0 - dependence) / (1.0 + dependence))


class LearnedThresholds(StrictModel):
    """Learned.params of the image sense: per-class thresholds and the raw score's calibration."""

    model: str = Field(min_length=1)  # name@version the thresholds were learned with
    classes: list[str] = Field(min_length=1)
    thresholds: list[Probability]
    # frames whose median raw score is judged, and calibrated (cards before it: 1, each frame)
    median: int = Field(default=1, ge=1, le=MAX_MEDIAN)
    # the calibration: of single frames when `independent_frames` is set, what the median of
    # `median` frames is worth in independent ones; of the medians themselves on cards before it
    floor: FiniteFloat
    floor_share: float = Field(ge=0.0, lt=1.0)
    tail: HealthyTailJson
    independent_frames: float | None = Field(default=None, ge=1.0, le=MAX_MEDIAN)

    @model_validator(mode="after")
    def _consistent(self) -> LearnedThresholds:
        if len(self.thresholds) != len(self.classes):
            raise ValueError("thresholds must have one entry per class")
        if self.independent_frames is not None and self.independent_frames > self.median:
            raise ValueError("independent_frames must not exceed median")
        return self

    @classmethod
    def of(
        cls,
        model: str,
        classes: list[str],
        thresholds: np.ndarray,
        median: int,
        calibration: MedianCalibration,
    ) -> LearnedThresholds:
        frame = calibration.frame
        return cls(
            model=model,
            classes=classes,
            thresholds=[float(t) for t in thresholds],
            median=median,
            floor=frame.floor,
            floor_share=frame.floor_share,
            tail=frame.tail.to_json(),
            independent_frames=calibration.independent_frames,
        )

    def calibration(self) -> MedianCalibration | FrameCalibration:
        """What `value` turns a median raw score into its calibrated score with."""
        frame = FrameCalibration(self.floor, self.floor_share, HealthyTail.from_json(self.tail))
        if self.independent_frames is None:
            return frame
        return MedianCalibration(frame, self.independent_frames)

    def params(self) -> dict[str, Any]:
        """JSON-able, so that what is stored reads back equal."""
        return self.model_dump(mode="json")


class LearnedDetectorScorer:
    """Scores camera frames against the thresholds and calibration this device learned."""

    modality = SENSE

    def __init__(self, device: str, config: CameraConfig, learned: Learned, folder: Path) -> None:
        del folder  # the image sense learns no files: its thresholds are in `learned.params`
        try:
            self.params = LearnedThresholds.model_validate(learned.params)
        except ValidationError as exc:
            raise ModelError(f"learned image params are not valid: {exc}") from None
        self.device = device
        learned_confidence = dict(zip(self.params.classes, self.params.thresholds, strict=True))
        detector = config.detector.model_copy(update={"class_confidence": learned_confidence})
        self.detector = Detector(device, config.model_copy(update={"detector": detector}))
        self.models = self.detector.models
        if (self.models[0], self.detector.class_names) != (self.params.model, self.params.classes):
            raise ModelError(
                f"{device}: learned with {self.params.model} {self.params.classes}, the config "
                f"now runs {self.models[0]} {self.detector.class_names}: learn this device again"
            )
        self.calibration = self.params.calibration()
        self._recent = RecentMedian(self.params.median)

    def score(self, sample: Sample) -> Score:
        """The frame's detections at the learned thresholds; the value is the calibrated
        median raw score of the last `median` frames (0, and RAW null, until there are)."""
        output, geometry = self.detector.infer(sample.data)
        detections = self.detector.detections(output, geometry)
        peaks = class_peaks(output, len(self.detector.class_names))
        raw = self._recent.add(relative_peak(peaks, self.detector.thresholds))
        value = 0.0 if raw is None else self.calibration.value(raw)
        return Score(
            device=self.device,
            modality=self.modality,
            value=value,
            label=detections[0]["class"] if detections else "none",
            evidence={
                "detections": detections,
                "frame_size": list(geometry.original_size),
                RAW: raw,
                EXCEEDANCE: 1.0 - value,
            },
            captured_at=sample.captured_at,
            scored_at=time.time(),
            model=self.models[0],
        )
