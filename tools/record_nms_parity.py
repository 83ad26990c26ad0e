"""Record the shipped detector's raw outputs and Ultralytics' own NMS of them, for parity tests.

Needs the `train` extra (torch, torchvision, Ultralytics). Writes tests/fixtures/nms_parity.npz:
for each fixture image the raw [1, 4 + nc, N] output of models/defects-yolov8n.onnx and, for
each setting, the detections of `ultralytics.utils.nms.non_max_suppression` on it (xyxy, conf,
class). tests/inference/test_nms_parity.py checks agent.senses.image.scorer.decode_yolov8
against them without Ultralytics installed.

    .venv-train/bin/python tools/record_nms_parity.py
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np

from agent.inference.loading import load_session
from agent.senses.image.preprocess import FramePreparer
from agent.senses.image.scorer import input_size

os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach for the hub or fonts

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # name: (conf_thres, iou_thres, max_det)
    "default": (0.25, 0.45, 100),  # the agent's DetectorConfig defaults
    "crowded": (0.01, 0.7, 300),  # Ultralytics' predictor iou; hundreds of boxes reach NMS
    "dense": (0.001, 0.3, 300),  # nearly every anchor reaches NMS
}


def ultralytics_nms() -> Callable[..., list[Any]]:
    """`non_max_suppression` from wherever this Ultralytics version keeps it."""
    try:
        from ultralytics.utils.nms import non_max_suppression
    except ImportError:  # Ultralytics before 8.3.130
        from ultralytics.utils.ops import non_max_suppression
    return non_max_suppression


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/defects-yolov8n.onnx")
    parser.add_argument("--images", type=Path, default=ROOT / "tests/fixtures/defects/images")
    parser.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/nms_parity.npz")
    args = parser.parse_args()

    import torch
    import torchvision  # noqa: F401  Ultralytics' predictor path: NMS through torchvision

    nms = ultralytics_nms()
    session = load_session(args.model, "onnxruntime")
    preparer = FramePreparer(input_size(session))
    arrays: dict[str, np.ndarray] = {}
    images = sorted(args.images.rglob("*.jpg"))
    for index, path in enumerate(images):
        frame = cv2.imread(str(path))
        if frame is None:
            raise SystemExit(f"{path}: not a readable image")
        tensor, _ = preparer.prepare(frame)
        raw = session.run({session.input_names[0]: tensor})[0]
        arrays[f"raw_{index}"] = raw
        for name, (conf, iou, max_det) in SETTINGS.items():
            (kept,) = nms(torch.from_numpy(raw), conf, iou, max_det=max_det)
            arrays[f"{name}_{index}"] = kept.numpy().astype(np.float32)
            print(f"{path.name}: {name}: {len(kept)} detections")
    arrays["settings"] = np.array([[*SETTINGS[name]] for name in SETTINGS], dtype=np.float64)
    arrays["setting_names"] = np.array(list(SETTINGS))
    arrays["ultralytics_version"] = np.array(importlib.metadata.version("ultralytics"))
    np.savez_compressed(args.out, **cast("dict[str, Any]", arrays))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(images)} images)")


if __name__ == "__main__":
    main()
