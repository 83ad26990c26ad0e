"""What this machine sounds like when healthy, learned on site; the classifier still names faults.

The learner keeps every window the classifier's silence gate lets through, as the microphone
delivered it: at its own rate, neither denoised nor peak-normalised, since the baseline
(`baseline.py`) compares level and spectrum, which normalisation would erase and spectral
subtraction, learning a steady machine as background, would hollow out. The baseline holds
at the rate it learned at only (resampling attenuates the bands near the new Nyquist, a
departure of its own), so a window at another rate is refused: learn again after changing it.

The learned scorer's value is the baseline's calibrated score of the median raw score of the
last DECISION_MEDIAN windows (`Departure`): one loud window does not alarm. The shipped
classifier still runs on every window: its class probabilities go into the evidence, and its
top class becomes the label when the calibrated score is high (`departure` if that class is
the normal one).
A silent window is not judged, as before: value 0, label `silence`, RAW null; nor are the
first windows after a start, until there are DECISION_MEDIAN of them (value 0, RAW null).
Sound has no hard limit.

Memory: the learner keeps each window's features (a dozen numbers), not the window.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, deque
from pathlib import Path

import numpy as np

from agent.core.samples import Sample, Score
from agent.senses.audio.baseline import Departure, VibrationBaseline, vibration_features
from agent.senses.audio.config import SENSE, MicrophoneConfig
from agent.senses.audio.scorer import SILENCE, SoundScorer
from agent.senses.learning import EXCEEDANCE, RAW, Learned, LearningRefused

MIN_WINDOWS = 300  # the tail's exponential is then fitted to at least the top 30 windows
MAX_KEPT = 20_000  # the newest windows kept (5.5 h at 1 Hz), a dozen numbers each
CONFIDENT = 0.9  # a fault class this probable is the classifier's confident call
MAX_FAULT_SHARE = 0.2  # a class called confidently in more of the windows: not a healthy run
NAMED_FAULT_SCORE = 0.999  # from here the label names the classifier's class (1 in 1,000)
DEPARTURE = "departure"  # a high score the classifier explains by no fault class
DECISION_MEDIAN = 5  # windows: the score is the median departure of the last five


class SoundLearner:
    """Keeps healthy windows and counts silence and the classifier's confident fault calls."""

    modality = SENSE

    def __init__(self, device: str, config: MicrophoneConfig) -> None:
        self.device = device
        self.config = config
        self.classifier = SoundScorer(device, config)
        self._features: deque[np.ndarray] = deque(maxlen=MAX_KEPT)  # vibration_features
        self._rate: int | None = None
        self._heard = 0
        self._silent = 0
        self._confident: Counter[str] = Counter()

    def observe(self, sample: Sample) -> Score | None:
        """Classify the window and keep it when it is sound; never alarms (no hard limits)."""
        verdict = self.classifier.score(sample)
        self._heard += 1
        if verdict.label == SILENCE:
            self._silent += 1
            return None
        probabilities = verdict.evidence["probabilities"]
        normal = self.config.classifier.normal_class
        if verdict.label != normal and probabilities[verdict.label] >= CONFIDENT:
            self._confident[verdict.label] += 1
        self._rate = self._rate or rate_of(sample, self.config)
        window = window_at(sample, self.config, self._rate)
        self._features.append(vibration_features(window, self._rate))
        return None

    def progress(self) -> float:
        """Share of MIN_WINDOWS kept."""
        return min(1.0, len(self._features) / MIN_WINDOWS)

    def problems(self) -> list[str]:
        """Confident fault calls, too few windows (and why: silence)."""
        found = []
        voiced = self._heard - self._silent
        for name, count in self._confident.most_common():
            if count > MAX_FAULT_SHARE * voiced:
                found.append(
                    f"the classifier calls {name} (p ≥ {CONFIDENT:g}) in {count / voiced:.0%} "
                    f"of the learning windows ({count} of {voiced}): a faulty machine would "
                    "be learned as normal"
                )
        if len(self._features) < MIN_WINDOWS:
            found.append(f"too few windows: {len(self._features)} of {MIN_WINDOWS}")
            if self._silent > voiced:
                found.append(
                    f"{self._silent} of {self._heard} windows were silence (below "
                    f"{self.classifier.silence_db:g} dBFS): is the machine running? "
                    "If it is, lower silence_db"
                )
        return found

    def finish(self) -> Learned:
        """The baseline of the kept windows; LearningRefused while `problems` say why not."""
        if (problems := self.problems()) or self._rate is None:
            raise LearningRefused(SENSE, problems)
        features = np.stack(self._features)
        baseline = VibrationBaseline.from_features(features, self._rate, DECISION_MEDIAN)
        grid = baseline.tail.quantiles  # the learned raw scores at probabilities 0 … 1
        raw = {f"p{100 * q:g}": round(grid[round(q * (len(grid) - 1))], 3) for q in (0.5, 0.9, 1)}
        return Learned(
            sense=SENSE,
            samples=len(self._features),
            params={"baseline": baseline.to_json()},
            summary={
                "windows": len(self._features),
                "sample_rate": self._rate,
                "silent_windows": self._silent,
                "confident_fault_calls": dict(self._confident),
                "raw": raw,
            },
        )


class LearnedSoundScorer:
    """The calibrated departure from this machine's healthy sound, named by the classifier."""

    modality = SENSE

    def __init__(self, device: str, config: MicrophoneConfig, baseline: VibrationBaseline) -> None:
        self.device = device
        self.config = config
        self.baseline = baseline
        self.departure = Departure(baseline)
        self.classifier = SoundScorer(device, config)
        self.models = self.classifier.models

    def score(self, sample: Sample) -> Score:
        """Classify, then measure the departure; the label names a fault only when it is high."""
        verdict = self.classifier.score(sample)
        if verdict.label == SILENCE:
            return unjudged(verdict, SILENCE)
        raw = self.departure.raw(window_at(sample, self.config, self.baseline.rate))
        if raw is None:  # too few windows yet for their median: no fault is named either
            return unjudged(verdict, self.config.classifier.normal_class)
        value = self.baseline.tail.calibrated(raw)
        return dataclasses.replace(
            verdict,
            value=value,
            label=self._label(verdict.label, value),
            evidence={**verdict.evidence, RAW: raw, EXCEEDANCE: 1.0 - value},
            scored_at=time.time(),
        )

    def _label(self, top_class: str, value: float) -> str:
        normal = self.config.classifier.normal_class
        if value < NAMED_FAULT_SCORE:
            return normal
        return DEPARTURE if top_class == normal else top_class


def unjudged(verdict: Score, label: str) -> Score:
    """The classifier's verdict on a window the baseline does not judge, named `label`:
    value 0, no raw score (a silent window's verdict already has value 0)."""
    return dataclasses.replace(
        verdict,
        value=0.0,
        label=label,
        evidence={**verdict.evidence, RAW: None, EXCEEDANCE: 1.0},
    )


def learned_scorer(
    device: str, config: MicrophoneConfig, learned: Learned, folder: Path
) -> LearnedSoundScorer:
    """The scorer for what `SoundLearner.finish` returned (it writes no files)."""
    if learned.sense != SENSE:
        raise ValueError(f"learned for {learned.sense}, not {SENSE}")
    return LearnedSoundScorer(
        device, config, VibrationBaseline.from_json(learned.params["baseline"])
    )


def rate_of(sample: Sample, config: MicrophoneConfig) -> int:
    """The window's sample rate: its own, else the configured one (as the classifier reads)."""
    return int(sample.meta.get("sample_rate", config.sample_rate))


def window_at(sample: Sample, config: MicrophoneConfig, rate: int) -> np.ndarray:
    """The window as float32; a ValueError unless it was sampled at `rate`."""
    own = rate_of(sample, config)
    if own != rate:
        raise ValueError(
            f"audio sampled at {own} Hz, but this machine was learned at {rate} Hz: "
            "learn again at the new rate"
        )
    return np.array(sample.data, dtype=np.float32)
