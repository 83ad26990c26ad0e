"""Synthetic radiometric frames written as real 16-bit PNG files, as thermal SDKs export them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

# A common radiometric encoding: centi-kelvin, temp_c = 0.01 * raw - 273.15
CENTI_KELVIN = {"a": 0.01, "b": -273.15}


def raw_from_celsius(temps_c: np.ndarray) -> np.ndarray:
    """Inverse of the centi-kelvin calibration."""
    return np.round((temps_c + 273.15) * 100.0).astype(np.uint16)


def frame_with_spot(
    ambient_c: float, spot_c: float | None, shape: tuple[int, int] = (48, 64)
) -> np.ndarray:
    """Ambient field with mild noise, and a round hot spot of peak `spot_c` when given."""
    rng = np.random.default_rng(7)
    temps = ambient_c + rng.normal(0.0, 0.3, size=shape)
    if spot_c is not None:
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        distance = np.hypot(yy - shape[0] * 0.5, xx - shape[1] * 0.7)
        temps = np.maximum(temps, spot_c - 2.0 * distance)
    return raw_from_celsius(temps)


def write_sequence(folder: Path, frames: list[np.ndarray]) -> str:
    """Write frames as frame_0000.png... and return the glob matching them."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        if not cv2.imwrite(str(folder / f"frame_{i:04d}.png"), frame):
            raise OSError(f"cannot write {folder}")
    return str(folder / "frame_*.png")


def infrared_source(
    folder: Path, frames: list[np.ndarray], fps: float = 4, **settings: Any
) -> dict[str, Any]:
    """An `infrared` source config that replays `frames` (written to `folder`) in a loop."""
    uri = write_sequence(folder, frames)
    return {"uri": uri, "fps": fps, "loop": True, "calibration": CENTI_KELVIN, **settings}
