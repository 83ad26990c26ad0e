"""Defect-free patches of NEU-DET images: the largest rectangle no labelled box touches.

NEU-DET has no defect-free images; these patches stand in for clean steel when the detector's
thresholds are chosen (`tools/detector_thresholds.py`), when it trains on background
(`tools/detector_background.py`) and in the episodes' healthy frames (`tools/episode_sources.py`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from agent.apps.evaluate.detector import read_labels

MIN_PATCH_SIDE = 32  # px: the model's coarsest stride; thinner slivers say little about steel

Rectangle = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, end-exclusive


def box_free_patch(boxes: np.ndarray, width: int, height: int, min_side: int) -> Rectangle | None:
    """The largest rectangle of the image that overlaps none of `boxes` (xyxy pixels, grown
    outward to whole pixels), both sides at least `min_side`; None when there is none.

    A largest free rectangle has each edge on a box edge or the image border, so only those
    coordinates are tried, each candidate checked with a prefix sum of the occupied cells.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    grown = np.concatenate([np.floor(boxes[:, :2]), np.ceil(boxes[:, 2:])], axis=1)
    grown = np.clip(grown, 0, [width, height, width, height]).astype(int)
    xs = np.unique(np.concatenate([[0, width], grown[:, 0], grown[:, 2]]))
    ys = np.unique(np.concatenate([[0, height], grown[:, 1], grown[:, 3]]))
    occupied = np.zeros((ys.size - 1, xs.size - 1), dtype=int)
    for x1, y1, x2, y2 in grown:
        rows = (ys[:-1] >= y1) & (ys[1:] <= y2)
        columns = (xs[:-1] >= x1) & (xs[1:] <= x2)
        occupied[np.ix_(rows, columns)] = 1
    prefix = np.pad(occupied.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    top, bottom, left, right = np.ix_(*(np.arange(n) for n in (ys.size, ys.size, xs.size, xs.size)))
    blocked = prefix[bottom, right] - prefix[top, right] - prefix[bottom, left] + prefix[top, left]
    rect_w, rect_h = xs[right] - xs[left], ys[bottom] - ys[top]
    free = (blocked == 0) & (rect_w >= min_side) & (rect_h >= min_side)
    if not free.any():
        return None
    best = np.unravel_index(np.argmax(np.where(free, rect_w * rect_h, -1)), free.shape)
    y1, y2, x1, x2 = ys[best[0]], ys[best[1]], xs[best[2]], xs[best[3]]
    return int(x1), int(y1), int(x2), int(y2)


def read_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """A NEU-DET image as OpenCV reads it; a ValueError naming the file when it cannot."""
    frame = cv2.imread(str(path), flags)
    if frame is None:
        raise ValueError(f"{path}: cannot decode image")
    return frame


def read_with_patch(
    path: Path, flags: int = cv2.IMREAD_COLOR
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Rectangle | None]:
    """An image, its labelled boxes (xyxy pixels) and classes, and its box-free patch."""
    frame = read_image(path, flags)
    height, width = frame.shape[:2]
    boxes, classes = read_labels(path, width, height)
    return frame, boxes, classes, box_free_patch(boxes, width, height, MIN_PATCH_SIDE)
