"""Camera frame preprocessing: denoise, resize, and the YOLO letterbox with its inverse map."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # Ultralytics' grey, so padding looks like what the detector was trained on
Size = tuple[int, int]  # (width, height), OpenCV's order


def denoise(frame: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur against sensor noise before the detector sees it; sigma 0 is a no-op."""
    if sigma < 0:
        raise ValueError(f"denoise sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return frame
    return cv2.GaussianBlur(frame, (0, 0), sigmaX=sigma)


def resize(frame: np.ndarray, size: Size) -> np.ndarray:
    """Scale to `size` (w, h); area averaging when shrinking, so fine defects do not alias."""
    height, width = frame.shape[:2]
    if (width, height) == tuple(size):
        return frame
    shrinking = size[0] <= width and size[1] <= height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(frame, tuple(size), interpolation=interpolation)


def _clip(boxes: np.ndarray, size: Size) -> np.ndarray:
    """Clip xyxy boxes to a frame of `size` (w, h)."""
    width, height = size
    upper = np.array([width, height, width, height], dtype=np.float32)
    return np.clip(boxes, 0.0, upper).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was fitted into the model input, kept to map detections back onto it."""

    scale: float
    pad_x: int
    pad_y: int
    source_size: Size  # (w, h) of the frame that was letterboxed

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes in model-input pixels -> source-frame pixels, clipped to the frame."""
        pad = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], dtype=np.float32)
        mapped = (np.asarray(boxes, dtype=np.float32).reshape(-1, 4) - pad) / self.scale
        return _clip(mapped, self.source_size)


def letterbox(frame: np.ndarray, size: Size) -> tuple[np.ndarray, Letterbox]:
    """Fit a BGR uint8 frame into `size` (w, h) as YOLOv8 expects it.

    Aspect ratio kept, centred on grey padding exactly like Ultralytics' LetterBox(auto=False),
    returned as a float32 NCHW RGB tensor in [0, 1].
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR frame, got shape {frame.shape}")
    height, width = frame.shape[:2]
    out_width, out_height = size
    scale = min(out_width / width, out_height / height)
    new_width, new_height = round(width * scale), round(height * scale)
    if (new_width, new_height) != (width, height):
        frame = cv2.resize(frame, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    half_dw, half_dh = (out_width - new_width) / 2, (out_height - new_height) / 2
    top, bottom = round(half_dh - 0.1), round(half_dh + 0.1)
    left, right = round(half_dw - 0.1), round(half_dw + 0.1)
    padded = cv2.copyMakeBorder(
        frame, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )
    tensor = np.ascontiguousarray(padded[:, :, ::-1].transpose(2, 0, 1)[np.newaxis], np.float32)
    tensor /= 255.0
    return tensor, Letterbox(scale, left, top, (width, height))


@dataclass(frozen=True, slots=True)
class FrameGeometry:
    """Model input -> captured frame: undo the letterbox, then the resize to `frame_size`."""

    letterbox: Letterbox
    original_size: Size  # (w, h) of the frame as captured

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes in model-input pixels -> captured-frame pixels, clipped to the frame."""
        resized_width, resized_height = self.letterbox.source_size
        width, height = self.original_size
        fx, fy = width / resized_width, height / resized_height
        factors = np.array([fx, fy, fx, fy], dtype=np.float32)
        return _clip(self.letterbox.to_source(boxes) * factors, self.original_size)


def prepare_frame(
    frame: np.ndarray, sigma: float, frame_size: Size | None, input_size: Size
) -> tuple[np.ndarray, FrameGeometry]:
    """The agent's camera path: denoise, resize to `frame_size` (None: keep), letterbox."""
    height, width = frame.shape[:2]
    cleaned = denoise(frame, sigma)
    resized = cleaned if frame_size is None else resize(cleaned, frame_size)
    tensor, box = letterbox(resized, input_size)
    return tensor, FrameGeometry(box, (width, height))
