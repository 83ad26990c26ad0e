"""Defect-free training images for the detector: box-free patches of NEU-DET train images.

NEU-DET has no defect-free images, and a detector that never saw clean steel gives it about
the confidence it gives real defects. The largest box-free rectangle of a train image
(`tools/neu_patches.py`, the cut `tools/detector_thresholds.py` measures false alarms on) is
written as an image with an empty label file, which Ultralytics trains as background.

Only two of three train images give their patch to training (a fixed split by file name);
the third fold's patches stay unseen, so the thresholds can still be chosen on defect-free
steel the network was not taught to ignore. `tools/train_detector.py --hold-out-fold` keeps
that fold's whole images out of training as well (`write_fold_lists`), so the thresholds are
chosen on steel the network never saw at all. The val split is never touched.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2

from tools.neu_patches import read_with_patch

FOLDS = 3  # one fold of train images keeps its patch back, for choosing thresholds
METADATA_KEY = "background_patches"  # stamped with how many patches trained as background
HELD_OUT_KEY = "held_out_train_images"  # stamped with how many train images never trained


def gives_background(image: Path) -> bool:
    """True when this train image's box-free patch goes to training (fixed by file name)."""
    return zlib.crc32(image.stem.encode()) % FOLDS != 0


def write_fold_lists(train_images: Path, out: Path) -> tuple[int, int]:
    """`out/train.txt` lists the train images that give their patch, `out/held_out.txt` the
    fold that keeps it back: one absolute path a line, as Ultralytics reads a split.

    Returns how many each lists.
    """
    images = sorted(train_images.resolve().glob("*.jpg"))
    trained = [path for path in images if gives_background(path)]
    held_out = [path for path in images if not gives_background(path)]
    (out / "train.txt").write_text("".join(f"{path}\n" for path in trained))
    (out / "held_out.txt").write_text("".join(f"{path}\n" for path in held_out))
    return len(trained), len(held_out)


def write_background(train_images: Path, out: Path) -> int:
    """Write the background patches as `out/images/*.png` with empty `out/labels/*.txt`."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(train_images.glob("*.jpg")):
        if not gives_background(path):
            continue
        frame, _, _, patch = read_with_patch(path)
        if patch is None:
            continue
        x1, y1, x2, y2 = patch
        name = f"clean_{path.stem}"
        cv2.imwrite(str(out / "images" / f"{name}.png"), frame[y1:y2, x1:x2])
        (out / "labels" / f"{name}.txt").write_text("")
        written += 1
    return written
