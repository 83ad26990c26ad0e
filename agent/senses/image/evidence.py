"""Evidence of the image sense: the frame with each detection boxed and labelled."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import cv2

from agent.core.samples import Sample, Score
from agent.senses.source import array_of

JPEG_QUALITY = 90
BOX_COLOURS_BGR = [(0, 0, 255), (0, 200, 255), (255, 128, 0), (0, 220, 0), (255, 0, 255)]


def annotated_jpeg(samples: Sequence[Sample], score: Score, source: object) -> bytes:
    """The camera frame with each detection's box and `class confidence` label."""
    frame = array_of(samples[-1]).copy()
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
