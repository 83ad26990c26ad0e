"""Evidence of the toy vibration sense: the window's RMS as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agent.core.samples import Sample, Score


def rms_json(samples: Sequence[Sample], score: Score, source: Any) -> bytes:
    """The scored window's RMS and the verdict."""
    return json.dumps({"rms": score.evidence["rms"], "score": score.value}).encode()


def rms_reading(score: Score | None) -> dict[str, Any]:
    """The latest RMS, for a chart."""
    return {"vibration_rms": score.evidence["rms"] if score else None}
