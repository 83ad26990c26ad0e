"""Errors and readers shared by the dataset readers of `edge-agent evaluate`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class DatasetError(Exception):
    """A dataset path that is missing, empty or not in the expected layout."""


def read_colour(path: Path) -> np.ndarray:
    """A JPEG/PNG frame as the camera delivers it: BGR uint8; a DatasetError naming the file
    when OpenCV cannot read it (or it has more pixels than OPENCV_IO_MAX_IMAGE_PIXELS allows,
    agent/__init__.py)."""
    try:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise DatasetError(f"{path}: not an image OpenCV can read ({exc.err})") from None
    if frame is None:
        raise DatasetError(f"{path}: not an image OpenCV can read")
    return frame
