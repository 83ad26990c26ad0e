"""One device learning its own normal: a learner per sense, fed the device's samples.

Learning lasts at least `learning.duration_s` and until every learner has what it needs. What
the learners return becomes one card (agent/learning/store.py): per sense the samples, the
rate they came at (which sets how many chances a day a healthy sense has to cross its
threshold) and the learned parameters, and for the device the calibrated fusion threshold
that `learning.target_false_alarms_per_day` asks for. A sense with no way to learn (no
LearningSpec) keeps its shipped scorer.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from agent.config.device import DeviceConfig
from agent.core.calibration import CalibratedFusion
from agent.core.samples import Modality, Sample, Score
from agent.learning.store import Card, LearnedStore, SenseCard, StoreError
from agent.senses.learning import Learned, Learner, LearningRefused
from agent.senses.registry import SENSES

GIVE_UP_AFTER = 3  # learning durations without enough healthy samples before a refusal


@dataclass(frozen=True, slots=True)
class LearningProgress:
    """Where a device's learning stands, for its state topic, the CLI and the dashboard."""

    started_at: float
    duration_s: float
    reason: str
    progress: float  # 0 to 1: the least of time elapsed and each sense's share of samples
    senses: dict[Modality, float]  # each learner's own share of the samples it needs
    samples: dict[Modality, int]
    problems: list[str]  # why the data so far does not look healthy ("<sense>: why")
    refused: list[str]  # why the previous attempt was refused, if one was

    def payload(self) -> dict[str, object]:
        """JSON for the state topic."""
        return {
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "reason": self.reason,
            "progress": round(self.progress, 4),
            "senses": {s: round(p, 4) for s, p in self.senses.items()},
            "samples": dict(self.samples),
            "problems": self.problems,
            "refused": self.refused,
        }


class DeviceLearning:
    """The learners of one device's senses, while it learns."""

    def __init__(
        self,
        device: DeviceConfig,
        reason: str,
        duration_s: float | None = None,
        now: float | None = None,
        refused: list[str] | None = None,
    ) -> None:
        self.device = device
        self.reason = reason
        self.duration_s = device.learning.duration_s if duration_s is None else duration_s
        self.started_at = time.time() if now is None else now
        self.refused = refused or []
        self.learners: dict[Modality, Learner] = {}
        for name, section in device.sources.configured().items():
            spec = SENSES[name].learning
            if spec is not None:
                self.learners[name] = spec.learner(device.id, section)
        self._samples: Counter[Modality] = Counter()
        self._first: dict[Modality, float] = {}
        self._last: dict[Modality, float] = {}

    def restarted(self, refused: list[str], now: float | None = None) -> DeviceLearning:
        """Learning anew for the same reason and duration, after a refusal it shows."""
        return DeviceLearning(self.device, self.reason, self.duration_s, now, refused)

    def observe(self, sense: Modality, sample: Sample) -> Score | None:
        """Hand the sample to its sense's learner; a Score when it broke a hard limit."""
        self._samples[sense] += 1
        self._first.setdefault(sense, sample.captured_at)
        self._last[sense] = sample.captured_at
        return self.learners[sense].observe(sample)

    def status(self, now: float | None = None) -> LearningProgress:
        """Progress so far."""
        now = time.time() if now is None else now
        senses = self._sense_progress()
        elapsed = self._elapsed(now)
        problems = [f"{s}: {p}" for s, learner in self.learners.items() for p in learner.problems()]
        if elapsed >= 1.0:  # a sense whose source gave nothing all along is missing
            problems += [f"{s}: no samples" for s in self.learners if not self._samples[s]]
        return LearningProgress(
            started_at=self.started_at,
            duration_s=self.duration_s,
            reason=self.reason,
            progress=min([elapsed, *senses.values()]),
            senses=senses,
            samples={s: self._samples[s] for s in self.learners},
            problems=problems,
            refused=self.refused,
        )

    def ready(self, now: float | None = None) -> bool:
        """Time to finish: long enough and every sense has what it needs, or GIVE_UP_AFTER
        times as long without (a sense stuck at a hard limit, a source that gives nothing):
        then `finish` refuses, naming why, and learning starts over."""
        now = time.time() if now is None else now
        elapsed = now - self.started_at
        if elapsed >= GIVE_UP_AFTER * self.duration_s:
            return True
        # progress only: the learners' problems (they scan what they kept) are not needed here
        return (
            elapsed >= self.duration_s and min(self._sense_progress().values(), default=1.0) >= 1.0
        )

    def _sense_progress(self) -> dict[Modality, float]:
        return {s: min(1.0, max(0.0, learner.progress())) for s, learner in self.learners.items()}

    def _elapsed(self, now: float) -> float:
        """Share of `duration_s` gone, 0 to 1."""
        return min(1.0, max(0.0, (now - self.started_at) / self.duration_s))

    def rate_hz(self, sense: Modality, now: float) -> float:
        """Samples per second the sense delivered while learning."""
        count = self._samples[sense]
        span = self._last.get(sense, now) - self._first.get(sense, now)
        if count > 1 and span > 0:
            return (count - 1) / span
        return count / max(now - self.started_at, 1e-9)

    def finish(self, now: float | None = None) -> tuple[Card, dict[Modality, Learned]]:
        """The card and what each sense learned; LearningRefused naming every sense's reasons."""
        now = time.time() if now is None else now
        learned: dict[Modality, Learned] = {}
        reasons: list[str] = []
        for sense, learner in self.learners.items():
            try:
                learned[sense] = learner.finish()
            except LearningRefused as exc:
                reasons += [f"{sense}: {r}" for r in exc.reasons]
        if not self.learners:
            reasons.append("no configured sense can learn")
        if reasons:
            raise LearningRefused(self.device.id, reasons)
        rates = {sense: self.rate_hz(sense, now) for sense in learned}
        target = self.device.learning.target_false_alarms_per_day
        fusion = CalibratedFusion.for_target(target, rates)
        card = Card(
            device=self.device.id,
            version=1,  # the store numbers it
            started_at=self.started_at,
            learned_at=now,
            reason=self.reason,
            target_false_alarms_per_day=target,
            threshold=fusion.threshold,
            senses={
                sense: SenseCard(
                    samples=part.samples,
                    rate_hz=rates[sense],
                    threshold=fusion.sense_threshold(sense),
                    params=part.params,
                    summary=part.summary,
                    files=sorted(part.files),
                    warnings=part.warnings,
                )
                for sense, part in learned.items()
            },
        )
        return card, learned


def finish_and_save(
    learning: DeviceLearning, store: LearnedStore, now: float | None = None
) -> tuple[Card | None, list[str]]:
    """Learn and save a new version: its card, or None and why it was refused or not saved."""
    try:
        card, learned = learning.finish(now)
        version = store.save(card, learned)
    except LearningRefused as exc:
        return None, exc.reasons
    except (StoreError, OSError) as exc:
        return None, [f"not saved: {exc}"]
    return store.card(learning.device.id, version), []
