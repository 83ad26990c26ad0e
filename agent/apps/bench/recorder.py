"""Collects what the pipeline reports during the measured window, for percentiles."""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np

from agent.observe import stages as observe
from agent.observe.stages import Stage

Percentiles = dict[str, float]


def percentiles(seconds: list[float]) -> Percentiles:
    """p50/p90/p99/mean in milliseconds and the count; an empty list gives count 0 alone."""
    if not seconds:
        return {"count": 0}
    ms = np.asarray(seconds) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "p50": round(float(p50), 2),
        "p90": round(float(p90), 2),
        "p99": round(float(p99), 2),
        "mean": round(float(ms.mean()), 2),
        "count": int(ms.size),
    }


class BenchRecorder(observe.Observer):
    """Keeps raw timings while `recording` is set (warm-up and shutdown are left out)."""

    def __init__(self) -> None:
        self.recording = False
        self._lock = threading.Lock()  # scorers report from worker threads
        self.stages: defaultdict[tuple[Stage, str], list[float]] = defaultdict(list)
        self.inference: defaultdict[str, list[float]] = defaultdict(list)
        self.backends: set[str] = set()
        self.decisions: defaultdict[str, list[float]] = defaultdict(list)  # by modality
        self.published: defaultdict[str, list[float]] = defaultdict(list)  # by alarm event
        self.received: defaultdict[str, int] = defaultdict(int)
        self.dropped: defaultdict[str, int] = defaultdict(int)

    def on_stage(self, timing: observe.StageTiming) -> None:
        """Stage timings by (stage, modality); inference also by model."""
        if not self.recording:
            return
        with self._lock:
            self.stages[(timing.stage, timing.scope.modality)].append(timing.seconds)
            if timing.stage is Stage.INFERENCE:
                self.inference[timing.model].append(timing.seconds)
                self.backends.add(timing.backend)

    def on_sample(self, scope: observe.Scope, dropped: int) -> None:
        """Samples and skipped frames by modality."""
        if not self.recording:
            return
        with self._lock:
            self.received[scope.modality] += 1
            self.dropped[scope.modality] += dropped

    def on_decision(self, device: str, latency_s: float) -> None:
        """Capture to decision, by the modality whose sample caused it."""
        if not self.recording:
            return
        with self._lock:
            self.decisions[observe.current_scope().modality].append(latency_s)

    def on_delivered(self, delivery: observe.Delivery) -> None:
        """Trigger to published, by alarm event (raised, updated, cleared)."""
        if not self.recording or delivery.trigger_to_published_s is None:
            return
        with self._lock:
            self.published[delivery.event].append(delivery.trigger_to_published_s)

    def stage(self, stage: Stage, modality: str) -> list[float]:
        """Raw timings of one stage for one modality ('' for device-wide stages)."""
        return self.stages.get((stage, modality), [])

    def all_modalities(self, stage: Stage) -> list[float]:
        """Raw timings of one stage, whatever reported it."""
        return [t for (s, _), times in self.stages.items() if s is stage for t in times]

    def modalities(self, stage: Stage) -> list[str]:
        """Modalities that reported this stage."""
        return sorted({m for s, m in self.stages if s is stage and m})
