"""Evidence files from the samples behind a score, one renderer per modality (explicit registry).

Pure functions of (samples, score, source config) -> bytes; they run in a worker thread, never
on the event loop, because JPEG/PNG encoding of a full frame takes tens of milliseconds.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import soundfile

from agent.config import InfraredConfig
from agent.core.payload import iso
from agent.core.samples import Modality, Sample, Score
from agent.senses.temperature.thermal_image import false_colour_png

JPEG_QUALITY = 90
BOX_COLOURS_BGR = [(0, 0, 255), (0, 200, 255), (255, 128, 0), (0, 220, 0), (255, 0, 255)]


def annotated_jpeg(samples: Sequence[Sample], score: Score, source: object) -> bytes:
    """The camera frame with each detection's box and `class confidence` label."""
    frame = _array(samples[-1]).copy()
    for detection in score.evidence.get("detections", []):
        x1, y1, x2, y2 = (round(float(v)) for v in detection["box"])
        colour = BOX_COLOURS_BGR[zlib.crc32(detection["class"].encode()) % len(BOX_COLOURS_BGR)]
        label = f"{detection['class']} {detection['confidence']:.2f}"
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, 2)
        (width, height), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        top = max(0, y1 - height - 6)
        cv2.rectangle(frame, (x1, top), (x1 + width + 4, top + height + 6), colour, -1)
        cv2.putText(frame, label, (x1 + 2, top + height + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return jpeg.tobytes()


def thermal_png(samples: Sequence[Sample], score: Score, source: object) -> bytes:
    """The radiometric frame in false colour, hot regions marked, with a °C scale."""
    if not isinstance(source, InfraredConfig):
        raise TypeError("thermal evidence needs the infrared source's calibration")
    cal = source.calibration
    return false_colour_png(_array(samples[-1]), cal.a, cal.b, score.evidence.get("regions", []))


def audio_wav(samples: Sequence[Sample], score: Score, source: object) -> bytes:
    """The sound window that was scored, as 16-bit PCM WAV at its own sample rate."""
    sample = samples[-1]
    buffer = io.BytesIO()
    data = np.clip(_array(sample), -1.0, 1.0)
    soundfile.write(buffer, data, int(sample.meta["sample_rate"]), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


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


def _array(sample: Sample) -> np.ndarray:
    if not isinstance(sample.data, np.ndarray):
        raise TypeError(f"{sample.modality} evidence needs an array sample")
    return sample.data


Renderer = Callable[[Sequence[Sample], Score, object], bytes]


@dataclass(frozen=True, slots=True)
class EvidenceKind:
    """How one modality's evidence is named, typed and drawn (contract C1)."""

    kind: str
    media_type: str
    extension: str
    render: Renderer


KINDS: dict[Modality, EvidenceKind] = {
    Modality.IMAGE: EvidenceKind("image", "image/jpeg", ".jpg", annotated_jpeg),
    Modality.TEMPERATURE: EvidenceKind("thermal", "image/png", ".png", thermal_png),
    Modality.AUDIO: EvidenceKind("audio", "audio/wav", ".wav", audio_wav),
    Modality.SENSOR: EvidenceKind("sensor", "application/json", ".json", sensor_json),
}
