"""The image sense learns where this machine's healthy frames make the detector fire.

The detector stays the shipped, supervised one. While the device learns, `ImageLearner`
keeps each healthy frame's per-class peak confidence (`class_peaks`, the confidence that
class's top detection would have). `finish` raises a class's threshold above the
HEALTHY_QUANTILE of its healthy peaks, never below the threshold the config or the model
ships, and calibrates the raw score (`relative_peak` at those thresholds) of single frames
and, from how alike consecutive frames are, the median of DECISION_MEDIAN of them, which is
what the learned scorer (agent/senses/image/learned.py) judges. Thresholds and calibration
come from the same frames: the thresholds only set each class's scale.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from agent.core.samples import Sample, Score
from agent.senses.image.config import SENSE, CameraConfig
from agent.senses.image.learned import (
    MIN_THRESHOLD,
    FrameCalibration,
    LearnedThresholds,
    MedianCalibration,
    frame_dependence,
    independent_frames,
    relative_peak,
)
from agent.senses.image.scorer import DECISION_MEDIAN, Detector, class_peaks
from agent.senses.learning import Learned, LearningRefused

MIN_FRAMES = 200  # at 2 fps under two minutes; the tail of 6 classes needs a few hundred
MAX_KEPT = 100_000  # newest frames kept: 6 floats each, bounds memory on a long learning run
HEALTHY_QUANTILE = 0.995  # a learned threshold sits above this share of the class's peaks
CONFIDENT_SHARE = 0.05  # a class detected on more healthy frames than this: warn
QUANTILES_REPORTED = (0.5, 0.9, 0.99)


class ImageLearner:
    """Gathers one camera's healthy frames' class peaks and learns thresholds from them."""

    modality = SENSE

    def __init__(self, device: str, config: CameraConfig) -> None:
        self.detector = Detector(device, config)
        self._peaks: deque[np.ndarray] = deque(maxlen=MAX_KEPT)

    def observe(self, sample: Sample) -> Score | None:
        """Keep the frame's class peaks; a camera has no hard limit, so never a Score."""
        output, _ = self.detector.infer(sample.data)
        self._peaks.append(class_peaks(output, len(self.detector.class_names)))
        return None

    def progress(self) -> float:
        return min(1.0, len(self._peaks) / MIN_FRAMES)

    def problems(self) -> list[str]:
        """Too few frames (refuses), and classes the detector finds on many healthy frames
        (learned all the same, their thresholds raised: a warning to check the line)."""
        return self._too_few() + self._confident_classes()

    def finish(self) -> Learned:
        """Thresholds and calibration; LearningRefused only while there are too few frames."""
        too_few = self._too_few()
        if too_few:
            raise LearningRefused(SENSE, too_few)
        peaks = np.array(self._peaks, dtype=np.float32)
        before = self.detector.thresholds  # the config's, else the ones the model ships
        learned = np.maximum(
            np.maximum(before, np.quantile(peaks, HEALTHY_QUANTILE, axis=0)), MIN_THRESHOLD
        ).astype(np.float32)
        raw = np.array([relative_peak(frame, learned) for frame in peaks])
        dependence = frame_dependence(raw)
        worth = independent_frames(DECISION_MEDIAN, dependence)
        names = self.detector.class_names
        params = LearnedThresholds.of(
            self.detector.models[0],
            names,
            learned,
            DECISION_MEDIAN,
            MedianCalibration(FrameCalibration.fit(raw), worth),
        )
        return Learned(
            sense=SENSE,
            samples=len(peaks),
            params=params.params(),
            summary={
                "thresholds_before": readable(names, before),
                "learned_thresholds": readable(names, learned),
                "healthy_detection_share": readable(names, (peaks > before).mean(axis=0)),
                "raw_quantiles": {str(q): float(np.quantile(raw, q)) for q in QUANTILES_REPORTED},
                "frame_dependence": round(dependence, 4),
                "independent_frames": round(worth, 2),
            },
            warnings=self._confident_classes(),
        )

    def _too_few(self) -> list[str]:
        if len(self._peaks) >= MIN_FRAMES:
            return []
        return [f"{len(self._peaks)} frames, {MIN_FRAMES} needed"]

    def _confident_classes(self) -> list[str]:
        if not self._peaks:
            return []
        shares = (np.array(self._peaks) > self.detector.thresholds).mean(axis=0)
        return [
            f"the detector finds {name} on {share:.0%} of the frames learned from: check that "
            "the line really is defect-free (its threshold is raised above those frames)"
            for name, share in zip(self.detector.class_names, shares, strict=True)
            if share > CONFIDENT_SHARE
        ]


def readable(names: list[str], values: np.ndarray) -> dict[str, float]:
    """Per class, rounded for the card (float32 thresholds print as 0.30640000104904175)."""
    return {name: round(float(v), 4) for name, v in zip(names, values, strict=True)}
