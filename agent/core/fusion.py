"""Weighted fusion of per-modality scores into one decision per device (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agent.config.decision import FusionConfig
from agent.core.calibration import CalibratedRule
from agent.core.samples import HARD_LIMIT, Modality, Score

ALARM_RULES = ("weighted", "calibrated", "learned")  # the fused score's own rules


@dataclass(frozen=True, slots=True)
class ModalityView:
    """One modality's part in a decision: its score, configured and effective weight."""

    score: float | None
    weight: float
    effective_weight: float
    stale: bool
    label: str | None = None
    reason: str | None = None
    # its part in the fused score: effective weight × score, or the calibrated rule's term
    contribution: float | None = None
    # once learned: the sense's own calibrated threshold (CalibratedRule.sense_threshold)
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    """The sample whose score prompted a decision: its sense and capture time.

    Alarm latency runs from here. The oldest sample behind a decision (`captured_at`) may be
    a second old on a 1 fps sense whatever the agent does, so it cannot time the agent.
    """

    modality: Modality
    captured_at: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The fused verdict for a device at one instant, and why."""

    device: str
    score: float
    threshold: float  # degraded and calibrated: `alone_factor` times rarer than the device's
    alarm: bool
    # "weighted", "calibrated", "learned", "critical:<modality>", "degraded" (the fused score
    # reached the device's threshold, but too few senses were present to alarm on it), "none"
    # or "no_data"
    rule: str
    type: str  # what drives the score: defect class, sound class, sensor, hot_spot
    top: Modality | None  # the sense that drives it (its critical one, else most weight)
    modalities: dict[Modality, ModalityView]
    scores: dict[Modality, Score] = field(repr=False)
    decided_at: float
    captured_at: float | None  # the earliest capture among the fresh scores: the evidence's age
    trigger: Trigger | None  # None without a fresh score
    present: tuple[Modality, ...]  # the fresh senses fusion weighed (weight above 0)
    calibrated: bool = False  # scores are calibrated probabilities (fused by a CalibratedRule)

    @property
    def stale(self) -> list[Modality]:
        """Configured modalities left out of this decision."""
        return [m for m, view in self.modalities.items() if view.stale]


def fuse(
    device: str,
    scores: Mapping[Modality, Score],
    config: FusionConfig,
    configured: Iterable[Modality],
    now: float,
    failed: Mapping[Modality, str] | None = None,
    calibrated: CalibratedRule | None = None,
    trigger: Modality | None = None,
) -> Decision:
    """Fuse the latest fresh score of each configured modality.

    A modality is dropped when it has no score, its score is older than `stale_after_s`, or it
    failed; the remaining weights are renormalised so they still sum to one. A fresh modality
    at or above its critical level, or whose score broke a hard limit (evidence HARD_LIMIT: a
    register's low/high, the critical temperature), raises the alarm on its own. With
    `calibrated` (a device that learned its own normal) the scores are calibrated
    probabilities and are fused by that rule (`CalibratedFusion`, or `LearnedFusion`) against
    its threshold instead; a sense of weight 0 is left out.

    Degraded (fewer fresh weighed senses than `config.degraded.min_senses`, or than the device
    weighs when that is fewer), the weighted rule does not alarm and the calibrated one only
    at a threshold `alone_factor` times rarer: what is left is not taken for the whole device.

    `trigger` names the sense whose new score prompts this decision; a decision the clock or
    a health change prompts (None) is timed from the newest fresh score, the latest it knew.
    """
    failed = failed or {}
    fresh: dict[Modality, Score] = {}
    reasons: dict[Modality, str] = {}
    for modality in configured:
        score = scores.get(modality)
        if modality in failed:
            reasons[modality] = failed[modality]
        elif score is None:
            reasons[modality] = "no score yet"
        elif now - score.captured_at > config.stale_after_s:
            reasons[modality] = f"last score {now - score.captured_at:.1f}s old"
        else:
            fresh[modality] = score

    weights = {m: config.weights.get(m, 0.0) for m in [*fresh, *reasons]}
    total = sum(weights[m] for m in fresh)
    effective = {m: (weights[m] / total if total > 0 else 0.0) for m in fresh}
    fused = sum(effective[m] * fresh[m].value for m in fresh)
    threshold = config.threshold

    present = tuple(m for m in fresh if weights[m] > 0)
    weighed = sum(1 for w in weights.values() if w > 0)
    degraded = len(present) < min(config.degraded.min_senses, weighed)
    contributions = {m: effective[m] * fresh[m].value for m in fresh}
    critical = [
        m
        for m in fresh
        if fresh[m].evidence.get(HARD_LIMIT)
        or (m in config.critical and fresh[m].value >= config.critical[m])
    ]
    top: Modality | None = None
    if calibrated is not None:
        values = {m: fresh[m].value for m in present}
        contributions = calibrated.contributions(values)
        fused, top = calibrated.combine(contributions)
        threshold = calibrated.threshold
    elif fresh:
        top = max(contributions, key=contributions.__getitem__)
    usual = threshold
    if degraded and calibrated is not None:
        threshold = calibrated.degraded_threshold(config.degraded.alone_factor)
    if critical:
        top = max(critical, key=lambda m: fresh[m].value)
        rule = f"critical:{top}"
    elif top is None:
        rule = "none" if fresh else "no_data"
    elif fused >= threshold and not (degraded and calibrated is None):
        rule = calibrated.rule if calibrated is not None else "weighted"
    else:
        rule = "degraded" if fused >= usual else "none"

    views = {
        m: ModalityView(
            score=fresh[m].value if m in fresh else None,
            weight=weights[m],
            effective_weight=effective.get(m, 0.0),
            stale=m not in fresh,
            label=fresh[m].label if m in fresh else None,
            reason=reasons.get(m),
            contribution=contributions.get(m),
            threshold=calibrated.sense_threshold(m) if calibrated is not None else None,
        )
        for m in weights
    }
    return Decision(
        device=device,
        score=fused if calibrated is not None else round(fused, 6),  # 1 − 1e-9 must not round
        threshold=threshold,
        alarm=rule.startswith("critical:") or rule in ALARM_RULES,
        rule=rule,
        type=fresh[top].label if top is not None else "none",
        top=top,
        modalities=views,
        scores=fresh,
        decided_at=now,
        captured_at=min((s.captured_at for s in fresh.values()), default=None),
        trigger=trigger_of(fresh, trigger),
        present=present,
        calibrated=calibrated is not None,
    )


def trigger_of(fresh: Mapping[Modality, Score], prompted: Modality | None) -> Trigger | None:
    """The prompting sense's fresh score, else the newest fresh one (None without any)."""
    if prompted not in fresh:
        prompted = max(fresh, key=lambda m: fresh[m].captured_at, default=None)
    if prompted is None:
        return None
    return Trigger(prompted, fresh[prompted].captured_at)
