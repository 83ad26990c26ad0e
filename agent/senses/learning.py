"""Learning a machine's own normal, one sense at a time: the protocol each sense implements.

A `Learner` sees the device's samples through the sense's real source and preprocessing while
the machine is healthy. It reports what it has (`progress`), what looks wrong with its data
(`problems`: a hard limit hit, a fault class confident, too few samples) and, when asked,
returns what it learned (`finish`): JSON-able parameters, files beside them (an ONNX model) and
a summary of the distributions for the card. The sense's learned scorer is then built from that
artefact, and its Score.value is calibrated: the probability that a healthy sample of this
machine scores lower (agent/core/calibration.py), so every learned sense means the same thing.
Hard limits (register low/high, critical temperature) give value 1.0 while learning and after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent.core.samples import HARD_LIMIT, Modality, Sample, Score
from agent.senses.scorer import Scorer

# Score.evidence keys every learned scorer sets, so fusion and the card read them alike
RAW = "raw"  # the sense's uncalibrated anomaly score (its scale is its own)
EXCEEDANCE = "exceedance"  # P(a healthy sample scores at least this): 1 - Score.value


def judged(score: Score) -> bool:
    """Whether a learned scorer's Score is a calibrated judgement: it has a raw score, or it
    broke a hard limit (a silent window or a median still filling has neither)."""
    return score.evidence.get(RAW) is not None or HARD_LIMIT in score.evidence


class LearningRefused(Exception):  # noqa: N818 - a verdict on data, not an error
    """The data offered to learn from does not look like a healthy machine; `reasons` say why."""

    def __init__(self, sense: Modality, reasons: list[str]) -> None:
        super().__init__(f"{sense}: " + "; ".join(reasons))
        self.sense = sense
        self.reasons = reasons


@dataclass(frozen=True, slots=True)
class Learned:
    """What one sense learned on one device."""

    sense: Modality
    samples: int  # samples the learner kept
    params: dict[str, Any]  # JSON-able: everything the learned scorer needs but `files`
    summary: dict[str, Any]  # JSON-able, for people: quantiles of the raw score, thresholds
    files: dict[str, bytes] = field(default_factory=dict)  # written beside the card (ONNX)
    warnings: list[str] = field(default_factory=list)  # learned all the same, but look at these


class Learner(Protocol):
    """Gathers one sense's healthy samples of one device (blocking CPU work, run in a thread)."""

    modality: Modality

    def observe(self, sample: Sample) -> Score | None:
        """Keep what the sample says of healthy running; a Score (value 1.0, evidence
        HARD_LIMIT) when it breaks a hard limit, which alarms while learning too."""
        ...

    def progress(self) -> float:
        """Share of the samples it needs that it has (0 to 1; 1 can finish)."""
        ...

    def problems(self) -> list[str]:
        """Why the data so far does not look healthy (empty when it does)."""
        ...

    def finish(self) -> Learned:
        """What was learned; LearningRefused when `problems` or too few samples forbid it."""
        ...


@dataclass(frozen=True, slots=True)
class LearningSpec:
    """How a sense learns on site and scores with what it learned."""

    learner: Callable[[str, Any], Learner]  # (device id, config section) -> Learner
    # (device id, config section, what was learned, the folder holding its files) -> a Scorer
    # whose Score.value is calibrated and whose evidence carries RAW and EXCEEDANCE
    scorer: Callable[[str, Any, Learned, Path], Scorer]
