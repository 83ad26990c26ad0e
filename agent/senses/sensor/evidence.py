"""Evidence of the sensor sense: the recent register readings and the verdict, as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agent.core.payload import iso
from agent.core.samples import Sample, Score


def sensor_json(samples: Sequence[Sample], score: Score, source: object) -> bytes:
    """The recent register readings (oldest first) and the scorer's verdict on them."""
    window = [
        {"captured_at": iso(s.captured_at), "values": s.data}
        for s in samples
        if isinstance(s.data, dict)
    ]
    document: dict[str, Any] = {
        "device": score.device,
        "units": score.evidence.get("units", {}),
        "window": window,
        "score": score.value,
        "label": score.label,
        "evidence": score.evidence,
    }
    return json.dumps(document, indent=1, allow_nan=False).encode()
