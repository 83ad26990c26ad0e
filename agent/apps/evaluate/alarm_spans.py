"""Alarms as spans of time, from an alarm tracker's transitions: what the evaluations score."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from agent.core.alarms import AlarmEvent, AlarmTransition


@dataclass(frozen=True, slots=True)
class AlarmSpan:
    """One alarm: when it was raised and cleared (None: still open at the end)."""

    raised_s: float
    cleared_s: float | None
    by: str | None = None  # the sense that drove the decision raising it (None: not known)

    def end(self, run_end: float) -> float:
        """When it stopped being open: cleared, or the end of the run."""
        return self.cleared_s if self.cleared_s is not None else run_end


def spans_of(transitions: list[tuple[AlarmTransition, float]]) -> Iterator[AlarmSpan]:
    """Raised…cleared pairs from a tracker's events, each with the sense that drove the
    decision raising it (updates change nothing here)."""
    raised: tuple[float, str | None] | None = None
    for transition, at in transitions:
        if transition.event is AlarmEvent.RAISED:
            raised = (at, transition.decision.top)
        elif transition.event is AlarmEvent.CLEARED and raised is not None:
            yield AlarmSpan(raised[0], at, raised[1])
            raised = None
    if raised is not None:
        yield AlarmSpan(raised[0], None, raised[1])
