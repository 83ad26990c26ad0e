"""Real encoded video files for tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_flat_video(
    path: Path, grey: int, frames: int = 10, fps: float = 10.0, size: tuple[int, int] = (96, 72)
) -> Path:
    """An MJPG AVI whose frames are a uniform grey with a little texture (JPEG-friendly)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise OSError("this OpenCV build cannot encode MJPG")
    rng = np.random.default_rng(grey)
    for _ in range(frames):
        noise = rng.integers(-8, 9, size=(size[1], size[0], 3))
        writer.write(np.clip(grey + noise, 0, 255).astype(np.uint8))
    writer.release()
    return path
