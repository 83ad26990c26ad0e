"""The thermal evidence picture: small sensors enlarged for legible labels, thin ones not
blown up with them."""

from __future__ import annotations

import cv2
import numpy as np

from agent.senses.temperature.thermal_image import (
    BAR_WIDTH_PX,
    LABEL_WIDTH_PX,
    MAX_WIDTH_PX,
    MIN_HEIGHT_PX,
    false_colour_png,
)

CENTI_KELVIN = {"a": 0.01, "b": -273.15}


def picture(raw: np.ndarray) -> np.ndarray:
    png = false_colour_png(raw, **CENTI_KELVIN, regions=[])
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_a_small_sensor_is_enlarged_to_a_legible_height() -> None:
    raw = np.full((120, 160), 30_000, np.uint16)
    raw[50:60, 70:80] = 35_000
    assert picture(raw).shape[0] >= MIN_HEIGHT_PX


def test_a_one_row_sensor_is_not_enlarged_past_the_width_limit() -> None:
    """Enlarged 240 times, a 1 x 4,096 line would be a gigabyte picture."""
    raw = (30_000 + np.arange(4_096) % 500).astype(np.uint16)[np.newaxis, :]
    image = picture(raw)
    assert image.shape[1] <= max(MAX_WIDTH_PX, raw.shape[1]) + BAR_WIDTH_PX + LABEL_WIDTH_PX
