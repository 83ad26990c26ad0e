"""YOLOv8 detection: decode the raw ONNX output and score camera frames by their worst defect."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.core.samples import Sample, Score
from agent.inference.batching import BatchingSession, batching_session
from agent.inference.metadata import ModelMetadata
from agent.inference.session import InferenceSession, ModelError
from agent.observe.stages import Stage, timed
from agent.senses.image.config import SENSE, CameraConfig, DetectorConfig
from agent.senses.image.preprocess import FramePreparer, Size


@dataclass(frozen=True, slots=True)
class Detections:
    """Detections after NMS, most confident first; boxes are xyxy in model-input pixels."""

    boxes: np.ndarray  # [K, 4] float32
    scores: np.ndarray  # [K] float32
    class_ids: np.ndarray  # [K] int64


def decode_yolov8(
    output: np.ndarray, conf_thresholds: np.ndarray, iou: float, max_det: int
) -> Detections:
    """Turn Ultralytics' raw [1, 4 + nc, N] export (cx, cy, w, h, class scores) into detections.

    Each anchor keeps its best class and must beat that class's threshold; NMS is per class.
    """
    thresholds = np.asarray(conf_thresholds, dtype=np.float32).reshape(-1)
    expected = 4 + thresholds.size
    if output.ndim != 3 or output.shape[0] != 1 or output.shape[1] != expected:
        raise ModelError(
            f"YOLOv8 output should be [1, {expected}, N] for {thresholds.size} classes, "
            f"got {list(output.shape)}"
        )
    class_scores = output[0, 4:]  # [nc, N]: reduced along contiguous rows, never transposed
    class_ids = class_scores.argmax(axis=0)
    scores = np.take_along_axis(class_scores, class_ids[np.newaxis], axis=0)[0]
    confident = np.flatnonzero(scores > thresholds[class_ids])
    boxes = xywh_to_xyxy(output[0, :4][:, confident].T)
    scores, class_ids = scores[confident], class_ids[confident]
    kept = nms(boxes, scores, class_ids, iou, max_det)
    return Detections(
        boxes[kept].astype(np.float32),
        scores[kept].astype(np.float32),
        class_ids[kept].astype(np.int64),
    )


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Centre/size boxes to corner boxes."""
    centre, half = boxes[:, :2], boxes[:, 2:4] / 2
    return np.concatenate([centre - half, centre + half], axis=1)


def nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float, max_det: int
) -> np.ndarray:
    """Greedy class-aware NMS; indices of the kept boxes, most confident first, at most max_det.

    Each class is shifted into its own region (Ultralytics' offset trick) so boxes of different
    classes never overlap and one IoU pass per step handles all classes.
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=np.intp)
    span = float(boxes.max() - boxes.min()) + 1.0
    shifted = boxes.astype(np.float64) + (class_ids.astype(np.float64) * span)[:, np.newaxis]
    areas = _areas(shifted)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        top_left = np.maximum(shifted[best, :2], shifted[rest, :2])
        bottom_right = np.minimum(shifted[best, 2:], shifted[rest, 2:])
        overlap = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=1)
        union = areas[best] + areas[rest] - overlap
        order = rest[overlap <= iou * union]  # IoU <= iou, without dividing by 0
    return np.asarray(keep, dtype=np.intp)


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None), axis=1)


def class_names(detector: DetectorConfig, metadata: ModelMetadata) -> list[str]:
    """Config names win; else Ultralytics' `names` dict literal; else a JSON `class_names`."""
    if detector.class_names:
        return list(detector.class_names)
    if "names" in metadata:
        return _ultralytics_names(metadata)
    names = metadata.str_list("class_names")
    if names:
        return names
    raise ModelError(
        f"{detector.model}: no class names; set detector.class_names or store 'names' "
        "or 'class_names' in the model metadata"
    )


def _ultralytics_names(metadata: ModelMetadata) -> list[str]:
    """Parse "{0: 'crazing', 1: 'inclusion'}" (or a list literal) into names by class index."""
    value = metadata.literal("names")
    if isinstance(value, dict) and sorted(value) == list(range(len(value))):
        value = [value[index] for index in range(len(value))]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise metadata.error("names", "must map 0..n-1 to class names")
    return value


def input_size(session: InferenceSession) -> Size:
    """Model input (w, h) from Ultralytics' `imgsz` metadata ([h, w]) or a static input shape."""
    metadata = ModelMetadata.of(session)
    if "imgsz" in metadata:
        value = metadata.literal("imgsz")
        dims = [value, value] if isinstance(value, int) else value
        if isinstance(dims, list | tuple) and len(dims) == 2 and all(_positive(d) for d in dims):
            return int(dims[1]), int(dims[0])
        raise metadata.error("imgsz", "must be [h, w] or an int > 0")
    fixed = static_size(session)
    if fixed is not None:
        return fixed
    raise ModelError(
        f"cannot tell the detector's input size: no 'imgsz' metadata, shape {session.input_shapes}"
    )


def static_size(session: InferenceSession) -> Size | None:
    """The (w, h) of a model whose image input has fixed height and width, else None."""
    shape = session.input_shapes[0] if session.input_shapes else []
    if len(shape) == 4 and _positive(shape[2]) and _positive(shape[3]):
        return int(shape[3]), int(shape[2])
    return None


def rect_stride(session: InferenceSession) -> int | None:
    """For a dynamic-shape model, pad frames only to a multiple of its stride, as Ultralytics'
    predictor does (a 16:9 frame runs at 192x128, not 192x192); None for fixed shapes."""
    if static_size(session) is not None:
        return None
    return ModelMetadata.of(session).integer("stride", 32)


def _positive(dim: object) -> bool:
    """A positive int dimension (not bool, not symbolic)."""
    return isinstance(dim, int) and not isinstance(dim, bool) and dim > 0


def class_thresholds(detector: DetectorConfig, names: list[str]) -> np.ndarray:
    """One confidence threshold per class: `class_confidence` overrides, else `confidence`."""
    unknown = sorted(set(detector.class_confidence) - set(names))
    if unknown:
        raise ModelError(f"class_confidence names unknown classes {unknown}; known: {names}")
    return np.array(
        [detector.class_confidence.get(name, detector.confidence) for name in names],
        dtype=np.float32,
    )


class DetectorScorer:
    """Scores a camera frame by its most confident detection; all boxes go into the evidence."""

    modality = SENSE

    def __init__(
        self, device: str, config: CameraConfig, session: InferenceSession | None = None
    ) -> None:
        self.device = device
        self.config = config
        # cameras on the same model share one session and batch their frames (batching.py)
        self.batches = (
            BatchingSession(session, 1)
            if session is not None
            else batching_session(
                config.detector.model,
                config.detector.backend,
                f"{device}: sources.camera.detector.backend",
                config.detector.max_batch,
            )
        )
        self.session = self.batches.session
        self.class_names = class_names(config.detector, ModelMetadata.of(self.session))
        self.thresholds = class_thresholds(config.detector, self.class_names)
        self.input_size = input_size(self.session)
        self.models = [self.session.version]
        self._prepare = FramePreparer(
            self.input_size, config.frame_size, config.denoise_sigma, rect_stride(self.session)
        )
        self._buffers = threading.Lock()  # one prepared tensor at a time: the buffers are shared
        self._check_output()

    def _check_output(self) -> None:
        """Run once on a blank input, so a model that does not fit fails at startup."""
        width, height = self.input_size
        blank = np.zeros((1, 3, height, width), dtype=np.float32)
        try:
            output = self._run(blank)
        except Exception as exc:  # backends raise their own untyped errors
            raise ModelError(f"{self.models[0]}: test inference failed: {exc}") from exc
        decode_yolov8(output, self.thresholds, self.config.detector.iou, 1)

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        return self.batches.run(tensor)[0]

    def model_input(self, frame: np.ndarray) -> np.ndarray:
        """The tensor `score` feeds the model for `frame` (a copy: the buffers are reused)."""
        with self._buffers:
            return self._prepare.prepare(frame)[0].copy()

    def score(self, sample: Sample) -> Score:
        """Detect on one frame; boxes in the evidence are in the captured frame's pixels."""
        frame = sample.data
        if not isinstance(frame, np.ndarray):
            raise TypeError(f"camera sample data must be a BGR frame, got {type(frame).__name__}")
        detector = self.config.detector
        with self._buffers:
            with timed(Stage.PREPROCESS):
                tensor, geometry = self._prepare.prepare(frame)
            output = self._run(tensor)
        with timed(Stage.POSTPROCESS):
            found = decode_yolov8(output, self.thresholds, detector.iou, detector.max_detections)
            boxes = geometry.to_original(found.boxes)
            detections: list[dict[str, Any]] = [
                {
                    "class": self.class_names[class_id],
                    "confidence": round(float(score), 4),
                    "box": [round(float(v), 1) for v in box],
                }
                for box, score, class_id in zip(boxes, found.scores, found.class_ids, strict=True)
            ]
        top = detections[0] if detections else None
        return Score(
            device=self.device,
            modality=self.modality,
            value=top["confidence"] if top else 0.0,
            label=top["class"] if top else "none",
            evidence={"detections": detections, "frame_size": list(geometry.original_size)},
            captured_at=sample.captured_at,
            scored_at=time.time(),
            model=self.models[0],
        )
