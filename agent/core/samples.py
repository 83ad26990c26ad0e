"""The values that travel between pipeline stages: one Sample in, one Score out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A sense's name, a key of the sense registry (agent/senses/registry.py): "image", "temperature",
# "audio", "sensor". One name per sense in config, payloads, topics, metrics and the dashboard.
Modality = str


# Score.evidence key: the names of the hard limits this sample broke (a list; absent when none).
# A hard limit (a register's low/high, the critical temperature) alarms on its own, whatever
# the fusion, learning or not (agent/core/fusion.py).
HARD_LIMIT = "hard_limit"


@dataclass(frozen=True, slots=True)
class Sample:
    """One capture from one source, stamped at capture time (wall clock, seconds).

    `data` is a BGR uint8 frame (camera), a raw uint16 radiometric frame (infrared),
    a mono float32 window in [-1, 1] (microphone) or a {register name: value} dict (Modbus).
    """

    device: str
    modality: Modality
    captured_at: float
    data: np.ndarray | dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Score:
    """A modality's verdict on one sample: 0 = normal, 1 = certainly abnormal.

    `label` names what drives the score (defect class, sound class, sensor, hot spot);
    `evidence` is JSON-serialisable and goes into the alarm as is.
    """

    device: str
    modality: Modality
    value: float
    label: str
    evidence: dict[str, Any]
    captured_at: float
    scored_at: float
    model: str | None = None
