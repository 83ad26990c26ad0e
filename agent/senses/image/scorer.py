"""YOLOv8 detection: decode the raw ONNX output and score camera frames by their worst defect."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.core.medians import RecentMedian
from agent.core.samples import Sample, Score
from agent.inference.batching import BatchingSession, batching_session
from agent.inference.metadata import ModelMetadata
from agent.inference.session import InferenceSession, ModelError
from agent.observe.stages import Stage, timed
from agent.senses.image.config import DEFAULT_CONFIDENCE, SENSE, CameraConfig, DetectorConfig
from agent.senses.image.preprocess import FrameGeometry, FramePreparer, Size

SHIPPED_THRESHOLDS = "class_confidence"  # model metadata: JSON {class name: threshold}
DECISION_MEDIAN = 7  # frames: a frame's score is the median of the last seven (learned too)


@dataclass(frozen=True, slots=True)
class Detections:
    """Detections after NMS, most confident first; boxes are xyxy in model-input pixels."""

    boxes: np.ndarray  # [K, 4] float32
    scores: np.ndarray  # [K] float32
    class_ids: np.ndarray  # [K] int64


def best_classes(output: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Each anchor's best class and its score, from Ultralytics' raw [1, 4 + nc, N] export
    (cx, cy, w, h, class scores); ModelError when the output does not have that shape."""
    expected = 4 + classes
    if output.ndim != 3 or output.shape[0] != 1 or output.shape[1] != expected:
        raise ModelError(
            f"YOLOv8 output should be [1, {expected}, N] for {classes} classes, "
            f"got {list(output.shape)}"
        )
    class_scores = output[0, 4:]  # [nc, N]: reduced along contiguous rows, never transposed
    class_ids = class_scores.argmax(axis=0)
    scores = np.take_along_axis(class_scores, class_ids[np.newaxis], axis=0)[0]
    return class_ids, scores


def decode_yolov8(
    output: np.ndarray, conf_thresholds: np.ndarray, iou: float, max_det: int
) -> Detections:
    """Turn the raw export into detections: each anchor keeps its best class and must beat
    that class's threshold; NMS is per class."""
    thresholds = np.asarray(conf_thresholds, dtype=np.float32).reshape(-1)
    class_ids, scores = best_classes(output, thresholds.size)
    confident = np.flatnonzero(scores > thresholds[class_ids])
    boxes = xywh_to_xyxy(output[0, :4][:, confident].T)
    scores, class_ids = scores[confident], class_ids[confident]
    kept = nms(boxes, scores, class_ids, iou, max_det)
    return Detections(
        boxes[kept].astype(np.float32),
        scores[kept].astype(np.float32),
        class_ids[kept].astype(np.int64),
    )


def class_peaks(output: np.ndarray, classes: int) -> np.ndarray:
    """Per class, the highest score among the anchors whose best class it is (0 where none):
    the confidence a class's top detection would have at threshold 0, so a class fires on a
    frame exactly when its peak beats its threshold. What thresholds are learned from."""
    class_ids, scores = best_classes(output, classes)
    peaks = np.zeros(classes, dtype=np.float32)
    np.maximum.at(peaks, class_ids, scores)
    return peaks


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


def shipped_thresholds(metadata: ModelMetadata, names: list[str]) -> dict[str, float]:
    """The per-class thresholds stamped into the model (tools/detector_thresholds.py), if any."""
    value = metadata.json(SHIPPED_THRESHOLDS)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        name in names and _probability(threshold) for name, threshold in value.items()
    ):
        raise metadata.error(SHIPPED_THRESHOLDS, f"must map class names {names} to [0, 1]")
    return {name: float(threshold) for name, threshold in value.items()}


def _probability(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def class_thresholds(
    detector: DetectorConfig, names: list[str], shipped: dict[str, float]
) -> np.ndarray:
    """One confidence threshold per class: the config's `class_confidence`, else its
    `confidence`, else the model's shipped threshold, else DEFAULT_CONFIDENCE."""
    unknown = sorted(set(detector.class_confidence) - set(names))
    if unknown:
        raise ModelError(f"class_confidence names unknown classes {unknown}; known: {names}")

    def threshold(name: str) -> float:
        if name in detector.class_confidence:
            return detector.class_confidence[name]
        if detector.confidence is not None:
            return detector.confidence
        return shipped.get(name, DEFAULT_CONFIDENCE)

    return np.array([threshold(name) for name in names], dtype=np.float32)


class Detector:
    """The detector on one camera's frames: its session, classes and thresholds, frames in,
    raw output and detections out. Scorers and the learner judge what it finds."""

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
        metadata = ModelMetadata.of(self.session)
        self.class_names = class_names(config.detector, metadata)
        self.thresholds = class_thresholds(
            config.detector, self.class_names, shipped_thresholds(metadata, self.class_names)
        )
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

    def infer(self, frame: object) -> tuple[np.ndarray, FrameGeometry]:
        """The raw model output for a BGR frame and how to map its boxes back onto the frame."""
        if not isinstance(frame, np.ndarray):
            raise TypeError(f"camera sample data must be a BGR frame, got {type(frame).__name__}")
        with self._buffers:
            with timed(Stage.PREPROCESS):
                tensor, geometry = self._prepare.prepare(frame)
            return self._run(tensor), geometry

    def detections(self, output: np.ndarray, geometry: FrameGeometry) -> list[dict[str, Any]]:
        """The detections above the thresholds, most confident first, boxes in frame pixels."""
        detector = self.config.detector
        with timed(Stage.POSTPROCESS):
            found = decode_yolov8(output, self.thresholds, detector.iou, detector.max_detections)
            boxes = geometry.to_original(found.boxes)
            return [
                {
                    "class": self.class_names[class_id],
                    "confidence": round(float(score), 4),
                    "box": [round(float(v), 1) for v in box],
                }
                for box, score, class_id in zip(boxes, found.scores, found.class_ids, strict=True)
            ]


class DetectorScorer(Detector):
    """Scores a camera frame by its most confident detection; all boxes go into the evidence."""

    modality = SENSE

    def __init__(
        self, device: str, config: CameraConfig, session: InferenceSession | None = None
    ) -> None:
        super().__init__(device, config, session)
        self._recent = RecentMedian(DECISION_MEDIAN)

    def score(self, sample: Sample) -> Score:
        """Detect on one frame; boxes in the evidence are in the captured frame's pixels. The
        value is the median top confidence of the last DECISION_MEDIAN frames (0 until there
        are): a defect stays in view, a detector's odd guess on one frame does not."""
        output, geometry = self.infer(sample.data)
        detections = self.detections(output, geometry)
        top = detections[0] if detections else None
        median = self._recent.add(top["confidence"] if top else 0.0)
        return Score(
            device=self.device,
            modality=self.modality,
            value=0.0 if median is None else median,
            label=top["class"] if top else "none",
            evidence={"detections": detections, "frame_size": list(geometry.original_size)},
            captured_at=sample.captured_at,
            scored_at=time.time(),
            model=self.models[0],
        )
