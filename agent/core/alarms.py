"""Alarm lifecycle per device: raised, updated, cleared, with hysteresis and a minimum hold."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from agent.config.decision import AlarmConfig
from agent.core.fusion import Decision


class AlarmEvent(StrEnum):
    """What happened to an alarm; subscribers key on it."""

    RAISED = "raised"
    UPDATED = "updated"
    CLEARED = "cleared"


class ClearReason(StrEnum):
    """Why an alarm was cleared other than by its condition ending while watched."""

    RESTART = "restart"  # restored at start, and the first judged decision is below clear level
    DEVICE_REMOVED = "device_removed"  # its device is no longer in the config


SEVERITY_RANK = {"warning": 0, "major": 1, "critical": 2}


CALIBRATED_STEP = 10.0  # calibrated: major at 10 times rarer than the threshold, critical 100


def severity(decision: Decision, config: AlarmConfig) -> str:
    """A critical rule or a very high fused score is critical; then major; else warning.

    A calibrated score is a probability near 1, so there the levels are how much rarer than
    the threshold a healthy machine would be: 10 times for major, 100 times for critical.
    """
    if decision.rule.startswith("critical:"):
        return "critical"
    if decision.calibrated:
        rarer = (1.0 - decision.threshold) / max(1.0 - decision.score, 1e-300)
        return (
            "critical"
            if rarer >= CALIBRATED_STEP**2
            else "major"
            if rarer >= CALIBRATED_STEP
            else "warning"
        )
    if decision.score >= config.critical_at:
        return "critical"
    if decision.score >= config.major_at:
        return "major"
    return "warning"


@dataclass
class Alarm:
    """An alarm while it is open: identity, when it started, and what was last told."""

    id: str
    device: str
    raised_at: float
    type: str
    severity: str
    score: float
    last_event_at: float
    restored: bool = False  # open when the agent started, not yet judged by this run


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    """One event to publish: the alarm, its sequence number and the decision behind it."""

    event: AlarmEvent
    seq: int
    alarm: Alarm
    decision: Decision
    reason: ClearReason | None = None  # on a cleared event that no decision of its own ended


@dataclass
class AlarmTracker:
    """Turns a device's stream of decisions into few, meaningful alarm events.

    Raise when the decision alarms (for `on_delay_s` without a break, unless by a critical
    rule). While open, publish an update only when severity rises
    (at once), or the type changes or the score moves by `update_delta` (at most every
    `update_interval_s`). Clear only when no critical rule holds, the score has fallen below
    threshold − hysteresis, and the alarm has been open for `min_hold_s`.

    An alarm restored at start (`restored`, left open by a previous run) is judged by the
    first decision that reaches the tracker: one that alarms continues it with an `updated`
    at once; one below threshold − hysteresis (no critical rule) clears it with reason
    `restart`, whatever `min_hold_s`; one in between leaves it open and waiting.
    """

    device: str
    config: AlarmConfig
    sequence: Iterator[int]
    active: Alarm | None = field(default=None)
    alarming_since: float | None = field(default=None)  # no alarm open: the on-delay's start

    def update(self, decision: Decision, now: float) -> AlarmTransition | None:
        """Feed one decision; return the event it causes, if any."""
        level = severity(decision, self.config)
        alarm = self.active
        if alarm is None:
            if not self._due(decision, now):
                return None
            alarm = Alarm(
                id=str(uuid.uuid4()),
                device=self.device,
                raised_at=now,
                type=decision.type,
                severity=level,
                score=decision.score,
                last_event_at=now,
            )
            self.active = alarm
            return self._emit(AlarmEvent.RAISED, alarm, decision)

        if alarm.restored:
            return self._judge_restored(decision, alarm, level, now)

        if self._may_clear(decision, alarm, now):
            self.active = None
            return self._emit(AlarmEvent.CLEARED, alarm, decision, now)

        if decision.alarm and self._worth_update(decision, alarm, level, now):
            alarm.type, alarm.severity, alarm.score = decision.type, level, decision.score
            return self._emit(AlarmEvent.UPDATED, alarm, decision, now)
        return None

    def _due(self, decision: Decision, now: float) -> bool:
        """With no alarm open: whether this decision raises one (its on-delay has run)."""
        if not decision.alarm:
            self.alarming_since = None
            return False
        if decision.rule.startswith("critical:") or self.config.on_delay_s <= 0:
            self.alarming_since = None
            return True
        if self.alarming_since is None:
            self.alarming_since = now
        if now - self.alarming_since < self.config.on_delay_s:
            return False
        self.alarming_since = None
        return True

    def close(self, decision: Decision, now: float, reason: ClearReason) -> AlarmTransition | None:
        """Clear the open alarm, if any, for `reason` (its device is going away)."""
        alarm, self.active = self.active, None
        if alarm is None:
            return None
        return self._emit(AlarmEvent.CLEARED, alarm, decision, now, reason)

    def _judge_restored(
        self, decision: Decision, alarm: Alarm, level: str, now: float
    ) -> AlarmTransition | None:
        if decision.alarm:
            alarm.restored = False
            alarm.type, alarm.severity, alarm.score = decision.type, level, decision.score
            return self._emit(AlarmEvent.UPDATED, alarm, decision, now)
        if self._below_clear_level(decision):
            self.active = None
            return self._emit(AlarmEvent.CLEARED, alarm, decision, now, ClearReason.RESTART)
        return None

    def _below_clear_level(self, decision: Decision) -> bool:
        below = decision.score < decision.threshold - self.config.hysteresis
        return below and not decision.rule.startswith("critical:")

    def _may_clear(self, decision: Decision, alarm: Alarm, now: float) -> bool:
        held = now - alarm.raised_at >= self.config.min_hold_s
        return self._below_clear_level(decision) and held

    def _worth_update(self, decision: Decision, alarm: Alarm, level: str, now: float) -> bool:
        if SEVERITY_RANK[level] > SEVERITY_RANK[alarm.severity]:
            return True
        changed = (
            decision.type != alarm.type
            or level != alarm.severity
            or abs(decision.score - alarm.score) >= self.config.update_delta
        )
        return changed and now - alarm.last_event_at >= self.config.update_interval_s

    def _emit(
        self,
        event: AlarmEvent,
        alarm: Alarm,
        decision: Decision,
        now: float | None = None,
        reason: ClearReason | None = None,
    ) -> AlarmTransition:
        if now is not None:
            alarm.last_event_at = now
        return AlarmTransition(event, next(self.sequence), alarm, decision, reason)


def sequence_from(start: int = 1) -> Iterator[int]:
    """The agent-wide, monotonically increasing event sequence shared by all trackers."""
    return itertools.count(start)
