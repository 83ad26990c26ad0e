"""Train YOLOv8n on NEU-DET (../shared/data/defects) and export it to ONNX.

Needs the `train` extra (torch, ultralytics). No pretrained weights are downloaded: the model
starts from the yolov8n.yaml architecture, or with `--init` from a detector ONNX file this
project exported (`tools/detector_warm_start.py`). `--background` adds box-free patches of
two thirds of the train images as defect-free images (`tools/detector_background.py`);
`--hold-out-fold` keeps the other third's whole images out of training, so the thresholds
can be chosen on steel and defects the network never saw, and evaluates on that fold
instead of val. Validation is off during training so the val split stays unseen until the
final evaluation (the last checkpoint is the one exported).

    python -m tools.train_detector --data ../shared/data/defects --hours 1.75 --imgsz 192
    python -m tools.train_detector --data ../shared/data/defects --hours 1.5 --imgsz 192 \
        --init models/defects-yolov8n.onnx --background --lr0 0.0005 --version 1.2.0
    python -m tools.train_detector --data ../shared/data/defects --hours 1.75 --imgsz 192 \
        --hold-out-fold --background --version 1.3.0
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from tools.detector_background import HELD_OUT_KEY, write_background, write_fold_lists
from tools.detector_background import METADATA_KEY as BACKGROUND_KEY
from tools.detector_warm_start import CALIBRATION_IMAGES, rebuild
from tools.neu_patches import read_image
from tools.stamp_model import stamp


def absolute_data_yaml(data_dir: Path, out_dir: Path, train: list[Path], val: Path | None) -> Path:
    """Ultralytics resolves `path: .` against the working directory; pin it to the dataset.

    `train` (folders or lists of images) replaces the dataset's train split, `val` (when
    given) its val split.
    """
    spec = yaml.safe_load((data_dir / "data.yaml").read_text())
    spec["path"] = str(data_dir.resolve())
    spec["train"] = [str(source.resolve()) for source in train]
    if val is not None:
        spec["val"] = str(val.resolve())
    target = out_dir / "data.yaml"
    target.write_text(yaml.safe_dump(spec, sort_keys=False))
    return target


def calibration_image(path: Path, size: int) -> np.ndarray:
    """A train image as the network takes it: RGB, [3, size, size], in [0, 1]."""
    import cv2

    rgb = cv2.resize(read_image(path), (size, size))[:, :, ::-1]
    return np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / 255.0


def warm_checkpoint(args: argparse.Namespace) -> Path:
    """An Ultralytics checkpoint rebuilt from `--init`, its batch norms calibrated on train."""
    import torch

    paths = sorted((args.data / "images" / "train").glob("*.jpg"))[:CALIBRATION_IMAGES]
    images = [calibration_image(path, args.imgsz) for path in paths]
    classes = len(yaml.safe_load((args.data / "data.yaml").read_text())["names"])
    model = rebuild(args.init, "yolov8n.yaml", classes, images)
    checkpoint = args.out / "init.pt"
    torch.save({"model": model, "train_args": {}}, checkpoint)
    return checkpoint


def keep_norm_statistics(trainer: object) -> None:
    """Batch norms normalise with their calibrated statistics while the weights train on.

    Mosaic batches are not the plain frames the statistics came from; normalising with batch
    statistics would move every activation of the warm-started model at once.
    """
    import torch

    for module in trainer.model.modules():  # type: ignore[attr-defined]
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/defects"))
    parser.add_argument("--out", type=Path, default=Path("runs/detector"))
    parser.add_argument("--imgsz", type=int, default=192)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--hours", type=float, default=None, help="time budget; overrides epochs")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of train images (smoke)")
    parser.add_argument("--model-out", type=Path, default=Path("models/defects-yolov8n.onnx"))
    parser.add_argument("--version", default="1.0.0", help="written into the ONNX metadata")
    parser.add_argument("--init", type=Path, help="detector ONNX file to continue training from")
    parser.add_argument("--background", action="store_true", help="add box-free train patches")
    parser.add_argument("--lr0", type=float, default=None, help="initial learning rate (AdamW)")
    parser.add_argument(
        "--hold-out-fold",
        action="store_true",
        help="keep the fold whose patches stay back out of training; evaluate on it, not val",
    )
    args = parser.parse_args()
    if args.hold_out_fold and args.init:
        parser.error("--hold-out-fold trains from scratch: a warm start has seen the fold")

    from ultralytics import YOLO  # the train extra only

    args.out.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, str] = {}
    train_images = args.data / "images" / "train"
    train = [train_images]
    held_out = None
    if args.hold_out_fold:
        trained, kept_out = write_fold_lists(train_images, args.out)
        train, held_out = [args.out / "train.txt"], args.out / "held_out.txt"
        metadata[HELD_OUT_KEY] = str(kept_out)
        print(f"{trained} train images trained on, {kept_out} kept out ({held_out})", flush=True)
    if args.background:
        background = args.out / "background"
        patches = write_background(train_images, background)
        train.append(background / "images")
        metadata[BACKGROUND_KEY] = str(patches)
        print(f"{patches} defect-free background patches in {background}", flush=True)
    data_yaml = absolute_data_yaml(args.data, args.out, train, held_out)
    started = time.time()
    model = YOLO(str(warm_checkpoint(args)) if args.init else "yolov8n.yaml")
    if args.init:
        model.add_callback("on_train_batch_start", keep_norm_statistics)
    schedule: dict[str, object] = {"optimizer": "AdamW", "lr0": args.lr0} if args.lr0 else {}
    if args.init:
        schedule["warmup_epochs"] = 0  # the warm-up's bias rate (0.1) would undo the start
    model.train(
        **schedule,
        data=str(data_yaml),
        imgsz=args.imgsz,
        epochs=args.epochs,
        time=args.hours,
        batch=args.batch,
        workers=args.workers,
        device=args.device,
        pretrained=bool(args.init),  # False would drop the warm start's weights
        amp=False,
        plots=False,
        val=False,
        cache="ram",
        fraction=args.fraction,
        seed=20261123,
        deterministic=False,
        project=str(args.out.resolve()),
        name="train",
        exist_ok=True,
    )
    trained_s = time.time() - started
    weights = args.out / "train" / "weights" / "last.pt"
    final = YOLO(str(weights))
    metrics = final.val(data=str(data_yaml), imgsz=args.imgsz, split="val", plots=False)
    onnx_path = Path(
        final.export(format="onnx", imgsz=args.imgsz, opset=17, dynamic=True, simplify=True)
    )
    args.model_out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, args.model_out)
    stamp(args.model_out, name=args.model_out.stem, version=args.version, **metadata)
    report = {
        "command": " ".join(["python", "-m", "tools.train_detector", *sys.argv[1:]]),
        "train_wall_s": round(trained_s, 1),
        "epochs_done": len((args.out / "train" / "results.csv").read_text().splitlines()) - 1,
        "imgsz": args.imgsz,
        "evaluated_on": "held-out train fold" if held_out else "val",
        "map50": float(metrics.box.map50),
        "map50_95": float(metrics.box.map),
        "precision": float(metrics.box.mp),
        "recall": float(metrics.box.mr),
        "per_class_map50": {
            metrics.names[i]: float(metrics.box.ap50[j])
            for j, i in enumerate(metrics.box.ap_class_index)
        },
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
