"""The bench's input: a real MPEG-4 file (1080p unless asked) made of the demo's camera frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE = (1920, 1080)  # what a production line's cameras deliver
FPS = 30.0
SECONDS = 6.0  # looped; a loop restart costs the camera one tick, so not too short
SOURCE = Path(__file__).resolve().parents[1] / "demo" / "samples" / "pump-01" / "camera.avi"


class VideoError(Exception):
    """The bench video cannot be made (no MPEG-4 encoder in this OpenCV, unreadable sample)."""


def read_frames(video: Path, count: int) -> list[np.ndarray]:
    """The first `count` frames of `video` (fewer if it is shorter); VideoError if none."""
    capture = cv2.VideoCapture(str(video))
    frames: list[np.ndarray] = []
    try:
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        capture.release()
    if not frames:
        raise VideoError(f"cannot read a frame of {video}")
    return frames


def write_bench_video(path: Path, size: tuple[int, int] = SIZE, seconds: float = SECONDS) -> Path:
    """A 30 fps MPEG-4 file of `size`: demo frames scaled up, panning so every frame differs."""
    count = int(seconds * FPS)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, size)
    if not writer.isOpened():
        raise VideoError("this OpenCV build cannot encode MPEG-4 (mp4v)")
    width, height = size
    try:
        for index, frame in enumerate(read_frames(SOURCE, count)):
            scaled = cv2.resize(frame, (width + count * 4, height), interpolation=cv2.INTER_LINEAR)
            writer.write(np.ascontiguousarray(scaled[:, index * 4 : index * 4 + width]))
    finally:
        writer.release()
    return path
