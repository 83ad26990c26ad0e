"""A radiometric frame as a person reads it: false colour, hot regions boxed, a °C scale bar."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from agent.senses.temperature.preprocess import calibrate

MIN_HEIGHT_PX = 240  # small sensors (160x120) are enlarged so labels stay legible
MAX_WIDTH_PX = 1_280  # ...but not past this: a one-row line sensor would be enlarged 240 times
BAR_WIDTH_PX = 18
LABEL_WIDTH_PX = 64
TICKS = 5
INVALID_BGR = (128, 128, 128)
REGION_BGR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def false_colour_png(
    raw: np.ndarray, a: float, b: float, regions: Sequence[dict[str, Any]]
) -> bytes:
    """PNG of the calibrated frame: inferno colours from its coldest to hottest valid pixel.

    `regions` are the scorer's evidence (`bbox` x, y, w, h in frame pixels, `max_c`), so the
    picture shows exactly what the alarm names. Pixels outside the valid range are grey.
    """
    temps = calibrate(raw, a, b)
    valid = np.isfinite(temps)
    low, high = _range(temps, valid)
    levels = np.clip((np.nan_to_num(temps, nan=low) - low) / (high - low) * 255.0, 0, 255)
    image = cv2.applyColorMap(levels.astype(np.uint8), cv2.COLORMAP_INFERNO)
    image[~valid] = INVALID_BGR
    height, width = image.shape[:2]
    zoom = max(1, min(math.ceil(MIN_HEIGHT_PX / height), MAX_WIDTH_PX // width))
    image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    for region in regions:
        x, y, w, h = (int(v) * zoom for v in region["bbox"])
        cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), REGION_BGR, 1)
        _celsius(image, float(region["max_c"]), (x, max(12, y - 4)), REGION_BGR)
    image = np.hstack([image, _scale_bar(image.shape[0], low, high)])
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("PNG encoding failed")
    return png.tobytes()


def _range(temps: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    if not valid.any():
        return 0.0, 1.0
    low, high = float(temps[valid].min()), float(temps[valid].max())
    return low, max(high, low + 1.0)  # a flat frame still gets a 1 °C wide scale


def _scale_bar(height: int, low: float, high: float) -> np.ndarray:
    """Hottest at the top: the colour ramp and TICKS labelled temperatures."""
    panel = np.zeros((height, BAR_WIDTH_PX + LABEL_WIDTH_PX, 3), dtype=np.uint8)
    ramp = np.linspace(255, 0, height).astype(np.uint8)[:, None]
    panel[:, 4:BAR_WIDTH_PX] = cv2.applyColorMap(ramp, cv2.COLORMAP_INFERNO)
    for i in range(TICKS):
        y = round(i * (height - 1) / (TICKS - 1))
        value = high - (high - low) * i / (TICKS - 1)
        cv2.line(panel, (BAR_WIDTH_PX, y), (BAR_WIDTH_PX + 3, y), REGION_BGR, 1)
        _celsius(panel, value, (BAR_WIDTH_PX + 6, min(height - 3, max(10, y + 4))), REGION_BGR)
    return panel


def _celsius(
    image: np.ndarray, value: float, origin: tuple[int, int], bgr: tuple[int, ...]
) -> None:
    """`value °C`, drawing the degree sign (Hershey fonts have none) as a small circle."""
    text = f"{value:.1f}"
    cv2.putText(image, text, origin, FONT, 0.35, bgr, 1, cv2.LINE_AA)
    (width, height), _ = cv2.getTextSize(text, FONT, 0.35, 1)
    x, y = origin[0] + width + 3, origin[1] - height + 1
    cv2.circle(image, (x, y), 1, bgr, 1, cv2.LINE_AA)
    cv2.putText(image, "C", (x + 3, origin[1]), FONT, 0.35, bgr, 1, cv2.LINE_AA)
