"""Episode figures from alarms and ground truth (definitions in the package docstring)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.apps.evaluate.alarm_spans import AlarmSpan
from agent.apps.evaluate.episodes.format import EpisodeSpec
from agent.apps.evaluate.intervals import proportion_interval, rate_interval, rounded
from agent.core.calibration_check import CalibrationCheck

SECONDS_PER_HOUR = 3_600.0
Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class EpisodeFigures:
    """One episode's figures under one way of deciding."""

    name: str
    faults: int
    detected: int
    false_alarms: int
    false_alarms_by: dict[str, int]  # per sense that drove the raising decision
    time_to_detect_s: list[float | None]  # per fault, None when missed
    healthy_s: float
    open_healthy_s: float  # healthy time with an alarm open
    learned_at_s: float | None

    def row(self) -> dict[str, Any]:
        """Its `per_episode` entry."""
        return {
            "name": self.name,
            "faults": self.faults,
            "detected": self.detected,
            "false_alarms": self.false_alarms,
            "false_alarms_by": self.false_alarms_by,
            "time_to_detect_s": self.time_to_detect_s,
            "learned_at_s": self.learned_at_s,
        }


def figures(
    name: str,
    spec: EpisodeSpec,
    alarms: list[AlarmSpan],
    grace_s: float,
    learned_at_s: float | None,
) -> EpisodeFigures:
    """Detections, time to detect, false alarms and open healthy time of one episode."""
    end = spec.duration_s
    windows = [(f.start_s, f.end_s + grace_s) for f in spec.faults]
    detections = [time_to_detect(start, until, alarms, end) for start, until in windows]
    false_alarms = [a for a in alarms if is_false_alarm(a, spec, grace_s)]
    healthy = healthy_spans(spec.learn_s, end, windows)
    open_s = sum(overlap((a.raised_s, a.end(end)), span) for a in alarms for span in healthy)
    return EpisodeFigures(
        name=name,
        faults=len(windows),
        detected=sum(d is not None for d in detections),
        false_alarms=len(false_alarms),
        false_alarms_by=by_sense(false_alarms),
        time_to_detect_s=detections,
        healthy_s=sum(b - a for a, b in healthy),
        open_healthy_s=open_s,
        learned_at_s=learned_at_s,
    )


def healthy_check(
    spec: EpisodeSpec, calibrated: dict[str, list[tuple[float, float]]], grace_s: float
) -> CalibrationCheck:
    """The calibration check of one episode: its learned senses' calibrated scores in healthy
    time (after learning, outside every fault window plus grace)."""
    windows = [(f.start_s, f.end_s + grace_s) for f in spec.faults]
    healthy = healthy_spans(spec.learn_s, spec.duration_s, windows)
    check = CalibrationCheck()
    for sense, scores in calibrated.items():
        for at, value in scores:
            if any(start <= at < end for start, end in healthy):
                check.add(sense, value)
    return check


def is_false_alarm(alarm: AlarmSpan, spec: EpisodeSpec, grace_s: float) -> bool:
    """Raised after learning and outside every fault window (start to end + grace)."""
    return alarm.raised_s >= spec.learn_s and not any(
        f.start_s <= alarm.raised_s <= f.end_s + grace_s for f in spec.faults
    )


def by_sense(alarms: list[AlarmSpan]) -> dict[str, int]:
    """How many of these alarms each sense drove (those of no known sense left out), by name."""
    return dict(sorted(Counter(a.by for a in alarms if a.by is not None).items()))


def time_to_detect(start: float, until: float, alarms: list[AlarmSpan], end: float) -> float | None:
    """Seconds from a fault's start to the first moment in [start, until] with an alarm open
    (0 when one was already open); None when no alarm was open then."""
    moments = [max(a.raised_s, start) for a in alarms if a.raised_s <= until and a.end(end) > start]
    return round(min(moments) - start, 3) if moments else None


def healthy_spans(learn_s: float, end: float, windows: list[Span]) -> list[Span]:
    """[learn_s, end] less every fault window (start to end + grace)."""
    spans, at = [], learn_s
    for start, until in sorted(windows):
        if start > at:
            spans.append((at, start))
        at = max(at, until)
    if at < end:
        spans.append((at, end))
    return spans


def overlap(a: Span, b: Span) -> float:
    """Seconds two spans share."""
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def summary(per_episode: list[EpisodeFigures]) -> dict[str, Any]:
    """The figures over all episodes (the JSON contract)."""
    faults = sum(e.faults for e in per_episode)
    detected = sum(e.detected for e in per_episode)
    delays = [d for e in per_episode for d in e.time_to_detect_s if d is not None]
    false_alarms = sum(e.false_alarms for e in per_episode)
    healthy_s = sum(e.healthy_s for e in per_episode)
    hours = healthy_s / SECONDS_PER_HOUR
    return {
        "episodes": len(per_episode),
        "faults": faults,
        "detected": detected,
        "miss_rate": round(1.0 - detected / faults, 4) if faults else None,
        "time_to_detect_s": {"p50": percentile(delays, 50), "p90": percentile(delays, 90)},
        "false_alarms": false_alarms,
        "false_alarms_by": dict(
            sorted(sum((Counter(e.false_alarms_by) for e in per_episode), Counter()).items())
        ),
        "healthy_hours": round(hours, 4),
        "false_alarms_per_hour": round(false_alarms / hours, 4) if hours > 0 else None,
        "alarm_open_healthy_fraction": (
            round(sum(e.open_healthy_s for e in per_episode) / healthy_s, 5)
            if healthy_s > 0
            else None
        ),
        "interval_95": {
            "miss_rate": rounded(proportion_interval(faults - detected, faults), 4),
            "false_alarms_per_hour": rounded(rate_interval(false_alarms, hours), 4),
        },
        "per_episode": [e.row() for e in per_episode],
    }


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (linear between ranks), None of nothing."""
    return round(float(np.percentile(values, q)), 3) if values else None
