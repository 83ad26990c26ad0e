"""Train YOLOv8n from scratch on NEU-DET (../shared/data/defects) and export it to ONNX.

Needs the `train` extra (torch, ultralytics). No pretrained weights are downloaded: the model
starts from the yolov8n.yaml architecture. Validation is off during training so the val
split stays unseen until the final evaluation (the last checkpoint is the one exported).

    python -m tools.train_detector --data ../shared/data/defects --hours 1.75 --imgsz 192
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import yaml

from tools.stamp_model import stamp


def absolute_data_yaml(data_dir: Path, out_dir: Path) -> Path:
    """Ultralytics resolves `path: .` against the working directory; pin it to the dataset."""
    spec = yaml.safe_load((data_dir / "data.yaml").read_text())
    spec["path"] = str(data_dir.resolve())
    target = out_dir / "data.yaml"
    target.write_text(yaml.safe_dump(spec, sort_keys=False))
    return target


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
    args = parser.parse_args()

    from ultralytics import YOLO  # the train extra only

    args.out.mkdir(parents=True, exist_ok=True)
    data_yaml = absolute_data_yaml(args.data, args.out)
    started = time.time()
    model = YOLO("yolov8n.yaml")
    model.train(
        data=str(data_yaml),
        imgsz=args.imgsz,
        epochs=args.epochs,
        time=args.hours,
        batch=args.batch,
        workers=args.workers,
        device=args.device,
        pretrained=False,
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
    stamp(args.model_out, name=args.model_out.stem, version=args.version)
    report = {
        "command": " ".join(["python", "-m", "tools.train_detector", *sys.argv[1:]]),
        "train_wall_s": round(trained_s, 1),
        "epochs_done": len((args.out / "train" / "results.csv").read_text().splitlines()) - 1,
        "imgsz": args.imgsz,
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
