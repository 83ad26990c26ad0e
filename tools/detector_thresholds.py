"""Choose the defect detector's per-class thresholds on defect-free steel, and ship them.

NEU-DET has no defect-free images, so defect-free patches are cut from the box-free part of
each image (the largest rectangle overlapping no labelled box) and go through the agent's own
Detector (letterbox, ONNX Runtime) as camera frames would. Thresholds are chosen on the
train split only: its patches are the false-alarm budget, its whole images the detections
that budget buys. The val split is only measured, with the thresholds already chosen.

A model trained with defect-free patches as background (its metadata names how many,
`tools/detector_background.py`) has learnt those very patches; its thresholds are chosen on
the train images that kept their patch back, so the budget is spent on unseen clean steel.
A model trained with that fold held out altogether (`held_out_train_images`) has seen
neither its patches nor its images: the same fold, then wholly unseen.

    python -m tools.detector_thresholds --data ../shared/data/defects            # measure
    python -m tools.detector_thresholds --data ../shared/data/defects --write --version 1.2.0

--write stamps the thresholds into the model's metadata (`class_confidence`, read by the
scorer when a config sets none) and rewrites models/MANIFEST.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.inference.models import models_dir
from agent.senses.image.config import DEFAULT_CONFIDENCE, CameraConfig, DetectorConfig
from agent.senses.image.scorer import SHIPPED_THRESHOLDS, Detector, class_peaks
from tools.detector_background import HELD_OUT_KEY, gives_background
from tools.detector_background import METADATA_KEY as BACKGROUND_KEY
from tools.make_manifest import write_manifest
from tools.neu_patches import read_with_patch
from tools.stamp_model import stamp

DECIMALS = 4  # thresholds are shipped rounded up to this, and measured as shipped


@dataclass(frozen=True, slots=True)
class SplitPeaks:
    """Per-class peak confidences of one split: its whole images and its defect-free patches."""

    images: np.ndarray  # [I, nc] float32
    labelled: np.ndarray  # [I, nc] bool: the image has a box of that class
    name_class: np.ndarray  # [I] int: the class its file name carries
    patches: np.ndarray  # [P, nc] float32
    patch_long_sides: np.ndarray  # [P] int: px; 200 (the full image) keeps the images' scale


def split_peaks(
    detector: Detector, folder: Path, names: list[str], held_back_only: bool = False
) -> SplitPeaks:
    """Run every image of a split, and its box-free patch if it has one, through the detector.

    `held_back_only` keeps the images whose patch was not given to training as background.
    """
    images, labelled, name_class, patches, long_sides = [], [], [], [], []
    for path in sorted(folder.glob("*.jpg")):
        if held_back_only and gives_background(path):
            continue
        frame, _, classes, patch = read_with_patch(path)
        images.append(peaks_of(detector, frame, len(names)))
        labelled.append(np.isin(np.arange(len(names)), classes))
        name_class.append(names.index(path.stem.rsplit("_", 1)[0]))
        if patch is not None:
            x1, y1, x2, y2 = patch
            patches.append(peaks_of(detector, frame[y1:y2, x1:x2].copy(), len(names)))
            long_sides.append(max(x2 - x1, y2 - y1))
    return SplitPeaks(
        np.array(images), np.array(labelled), np.array(name_class),
        np.array(patches), np.array(long_sides),
    )  # fmt: skip


def peaks_of(detector: Detector, frame: np.ndarray, classes: int) -> np.ndarray:
    return class_peaks(detector.infer(frame)[0], classes)


def fired(peaks: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """[N] bool: the frame has at least one detection."""
    return np.asarray((peaks > thresholds).any(axis=1))


def top_class(peaks: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """[N] the class of each frame's strongest detection (the Score's label), -1 for none."""
    kept = np.where(peaks > thresholds, peaks, -1.0)
    return np.where(kept.max(axis=1) >= 0, kept.argmax(axis=1), -1)


def right_class(split: SplitPeaks, thresholds: np.ndarray) -> np.ndarray:
    """[I] bool: the strongest detection names a class the image has a box of."""
    top = top_class(split.images, thresholds)
    return (top >= 0) & np.take_along_axis(split.labelled, top.clip(0)[:, None], axis=1)[:, 0]


def choose_thresholds(dev: SplitPeaks, budget: float, floor: float) -> np.ndarray:
    """Per-class thresholds with at most `budget` of the dev patches firing, greedily spent.

    Start each class just above its strongest dev patch (no patch fires), then repeatedly
    lower the one class whose move buys the most right-class image detections per newly
    firing patch, until no move fits the budget. Never below `floor`.
    """
    classes = dev.patches.shape[1]
    allowed = math.floor(budget * len(dev.patches))
    thresholds = np.maximum(floor, dev.patches.max(axis=0))
    while True:
        now_fired = int(fired(dev.patches, thresholds).sum())
        now_right = int(right_class(dev, thresholds).sum())
        best: tuple[float, int, float] | None = None  # (gain per patch, class, threshold)
        for c in range(classes):
            for candidate in np.unique(dev.patches[:, c][dev.patches[:, c] < thresholds[c]]):
                trial = thresholds.copy()
                trial[c] = max(floor, float(candidate))
                cost = int(fired(dev.patches, trial).sum()) - now_fired
                gain = int(right_class(dev, trial).sum()) - now_right
                if now_fired + cost > allowed or gain <= 0:
                    continue
                rate = gain / max(cost, 0.5)  # a free move beats any paid one
                if best is None or rate > best[0]:
                    best = (rate, c, trial[c])
        if best is None:
            return thresholds
        thresholds[best[1]] = best[2]


def shipped(thresholds: np.ndarray) -> np.ndarray:
    """Rounded up, so shipping never lowers a threshold below the one chosen."""
    scale = 10**DECIMALS
    return np.ceil(thresholds.astype(np.float64) * scale) / scale


def rates(split: SplitPeaks, thresholds: np.ndarray) -> dict[str, Any]:
    """The two numbers the card reports, and where the false alarms come from."""
    patch_fired = fired(split.patches, thresholds)
    top = top_class(split.patches, thresholds)
    named = top_class(split.images, thresholds) == split.name_class
    return {
        "defect_free_patches": len(split.patches),
        "patches_with_a_detection": round(float(patch_fired.mean()), 4),
        "false_alarms_by_class": np.bincount(top[top >= 0], minlength=len(thresholds)).tolist(),
        "defect_images": len(split.images),
        "detected_with_a_labelled_class": round(float(right_class(split, thresholds).mean()), 4),
        "detected_with_the_file_name_class": round(float(named.mean()), 4),
    }


def development_split(metadata: dict[str, str]) -> str:
    """Which train images the thresholds are chosen on, by what the model trained on."""
    if HELD_OUT_KEY in metadata:
        return "train, fold kept out of training"
    if BACKGROUND_KEY in metadata:
        return "train, patches kept back"
    return "train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="NEU-DET in YOLO layout")
    parser.add_argument("--model", type=Path, default=models_dir() / "defects-yolov8n.onnx")
    parser.add_argument("--budget", type=float, default=0.05, help="dev patches allowed to fire")
    parser.add_argument("--write", action="store_true", help="stamp the model, rewrite MANIFEST")
    parser.add_argument("--version", help="model version to stamp with --write")
    args = parser.parse_args()
    if args.write and not args.version:
        parser.error("--write needs --version: new thresholds are a new model version")
    started = time.perf_counter()
    # explicit thresholds, so that thresholds stamped by an earlier run play no part
    config = DetectorConfig(model=args.model, confidence=DEFAULT_CONFIDENCE)
    detector = Detector("thresholds", CameraConfig(uri="0", frame_size=None, detector=config))
    names = detector.class_names
    chosen_on = development_split(detector.session.metadata)
    dev = split_peaks(detector, args.data / "images" / "train", names, chosen_on != "train")
    chosen = shipped(choose_thresholds(dev, args.budget, DEFAULT_CONFIDENCE))
    val = split_peaks(detector, args.data / "images" / "val", names)  # looked at only from here
    default = np.full(len(names), DEFAULT_CONFIDENCE)
    report = {
        "model": detector.models[0],
        "chosen_on": chosen_on,
        "classes": names,
        "thresholds": dict(zip(names, chosen.tolist(), strict=True)),
        "train": {"default": rates(dev, default), "chosen": rates(dev, chosen)},
        "val": {"default": rates(val, default), "chosen": rates(val, chosen)},
        "val_patch_long_side_px": np.percentile(val.patch_long_sides, [0, 50, 100]).tolist(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))
    if args.write:
        stamp(
            args.model,
            version=args.version,
            **{SHIPPED_THRESHOLDS: json.dumps(report["thresholds"])},
        )
        write_manifest(args.model.parent)


if __name__ == "__main__":
    main()
