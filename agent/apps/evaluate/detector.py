"""`edge-agent evaluate detector`: mAP of the ONNX detector on a YOLO-layout dataset.

Each image goes through the agent's own Detector (denoise, letterbox, ONNX Runtime,
decode, NMS) at the evaluation thresholds Ultralytics uses (confidence 0.001, 300 boxes), and
the boxes it reports in image pixels are matched against the labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agent.apps.evaluate.datasets import DatasetError, read_colour
from agent.apps.evaluate.detection_metrics import detection_metrics, match_predictions
from agent.config.loader import ConfigError, parse_yaml, read_config_file
from agent.senses.image.config import CameraConfig, DetectorConfig
from agent.senses.image.scorer import Detector

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def split_images(data_yaml: Path) -> tuple[list[Path], list[str]]:
    """The `test` split's images (else `val`) and the class names of a YOLO data.yaml."""
    if not data_yaml.is_file():
        raise DatasetError(f"{data_yaml}: no such data.yaml")
    try:  # the config's reader: bounded, strict UTF-8, nesting and aliases bounded
        spec = parse_yaml(read_config_file(data_yaml), str(data_yaml))
    except ConfigError as exc:
        raise DatasetError(str(exc)) from None
    if not isinstance(spec, dict) or "names" not in spec:
        raise DatasetError(f"{data_yaml}: not a YOLO data.yaml (no `names`)")
    split = "test" if spec.get("test") else "val"
    if not spec.get(split):
        raise DatasetError(f"{data_yaml}: has neither a `test` nor a `val` split")
    root = data_yaml.parent / str(spec.get("path") or ".")
    folder = root / str(spec[split])
    images = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"{folder}: no images in the {split} split")
    names = spec["names"]
    ordered = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    return images, ordered


def read_labels(image: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """YOLO labels (class cx cy w h, normalised) beside images/ as labels/ -> xyxy pixels."""
    label = Path(str(image.parent).replace("/images", "/labels")) / f"{image.stem}.txt"
    if not label.is_file():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    try:
        rows = np.loadtxt(label, ndmin=2, dtype=np.float64)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{label}: expected 'class cx cy w h' per line ({exc})") from None
    if rows.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    if rows.shape[1] != 5 or not np.isfinite(rows).all():
        raise DatasetError(f"{label}: expected 'class cx cy w h' per line")
    cx, cy, w, h = (rows[:, i] for i in range(1, 5))
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return (boxes * [width, height, width, height]).astype(np.float32), rows[:, 0].astype(int)


def evaluate(data: Path, model: Path) -> dict[str, Any]:
    """mAP50, mAP50-95, precision, recall and per-class AP50 on the held-out split."""
    data_yaml = data / "data.yaml" if data.is_dir() else data
    images, names = split_images(data_yaml)
    config = DetectorConfig(model=model, confidence=0.001, max_detections=300)
    detector = Detector("evaluate", CameraConfig(uri=str(data), frame_size=None, detector=config))
    if detector.class_names != names:
        raise DatasetError(f"model classes {detector.class_names} differ from dataset's {names}")
    tps, confidences, predicted, truth = [], [], [], []
    for image in images:
        frame = read_colour(image)
        gt_boxes, gt_classes = read_labels(image, frame.shape[1], frame.shape[0])
        if gt_classes.size and not (gt_classes.min() >= 0 and gt_classes.max() < len(names)):
            raise DatasetError(f"{image.stem}: a label's class is not one of 0..{len(names) - 1}")
        found = detector.detections(*detector.infer(frame))
        boxes = np.array([d["box"] for d in found], np.float32).reshape(-1, 4)
        classes = np.array([names.index(d["class"]) for d in found], np.int64)
        tps.append(match_predictions(boxes, classes, gt_boxes, gt_classes))
        confidences.append(np.array([d["confidence"] for d in found], np.float64))
        predicted.append(classes)
        truth.append(gt_classes)
    metrics = detection_metrics(
        np.concatenate(tps), np.concatenate(confidences), np.concatenate(predicted),
        np.concatenate(truth),
    )  # fmt: skip
    return {
        "map50": round(metrics.map50, 4),
        "map50_95": round(metrics.map50_95, 4),
        "precision": round(metrics.precision, 4),
        "recall": round(metrics.recall, 4),
        "images": len(images),
        "per_class": {names[c]: round(ap, 4) for c, ap in metrics.ap50_per_class.items()},
    }
