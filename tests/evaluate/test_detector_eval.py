"""`evaluate detector` on tiny YOLO-layout datasets with hand-computed metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from agent.apps.evaluate import evaluate
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.detection_metrics import (
    average_precision,
    box_iou,
    detection_metrics,
    match_predictions,
)
from agent.cli import main
from tests.support.onnx_models import constant_model

SIZE = 64
NAMES = ["scratch", "pit"]


def raw_output(boxes_xyxy: list[list[float]], classes: list[int], conf: float) -> np.ndarray:
    """The raw [1, 4 + nc, N] tensor a YOLOv8 export would emit for these boxes."""
    out = np.zeros((1, 4 + len(NAMES), len(boxes_xyxy)), np.float32)
    for i, ((x1, y1, x2, y2), cls) in enumerate(zip(boxes_xyxy, classes, strict=True)):
        out[0, :4, i] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        out[0, 4 + cls, i] = conf
    return out


def detector(tmp_path: Path, output: np.ndarray) -> Path:
    metadata = {"names": repr(dict(enumerate(NAMES))), "imgsz": f"[{SIZE}, {SIZE}]"}
    return constant_model(tmp_path / "det.onnx", output, [1, 3, SIZE, SIZE], metadata=metadata)


def dataset(tmp_path: Path, labels: list[list[tuple[int, list[float]]]]) -> Path:
    """One grey image per entry, with its (class, xyxy pixel box) labels, in the val split."""
    root = tmp_path / "data"
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    for i, boxes in enumerate(labels):
        cv2.imwrite(
            str(root / "images" / "val" / f"img{i}.png"), np.full((SIZE, SIZE, 3), 90, np.uint8)
        )
        lines = []
        for cls, (x1, y1, x2, y2) in boxes:
            cx, cy, w, h = (
                (x1 + x2) / 2 / SIZE,
                (y1 + y2) / 2 / SIZE,
                (x2 - x1) / SIZE,
                (y2 - y1) / SIZE,
            )
            lines.append(f"{cls} {cx} {cy} {w} {h}")
        (root / "labels" / "val" / f"img{i}.txt").write_text("\n".join(lines))
    spec = {
        "path": ".",
        "train": "images/val",
        "val": "images/val",
        "names": dict(enumerate(NAMES)),
    }
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root / "data.yaml"


BOX = [10.0, 10.0, 30.0, 30.0]
ELSEWHERE = [40.0, 40.0, 60.0, 60.0]


# A perfect detector scores 0.995, not 1: Ultralytics' AP ends the curve at (recall 1,
# precision 0), so the last 1/100 of the recall axis averages 1 and 0. We keep that
# convention so our numbers compare with published YOLOv8 results.
PERFECT_AP = 0.995


def test_all_right(tmp_path: Path) -> None:
    model = detector(tmp_path, raw_output([BOX], [0], 0.9))
    result = evaluate("detector", dataset(tmp_path, [[(0, BOX)], [(0, BOX)]]), model)
    assert result == {
        "map50": PERFECT_AP,
        "map50_95": PERFECT_AP,
        "precision": 1.0,
        "recall": 1.0,
        "images": 2,
        "per_class": {"scratch": PERFECT_AP},
    }


def test_all_wrong_class(tmp_path: Path) -> None:
    model = detector(tmp_path, raw_output([BOX], [1], 0.9))
    result = evaluate("detector", dataset(tmp_path, [[(0, BOX)], [(0, BOX)]]), model)
    assert (result["map50"], result["map50_95"], result["recall"]) == (0.0, 0.0, 0.0)
    assert result["per_class"] == {"scratch": 0.0}


def test_one_hit_one_miss(tmp_path: Path) -> None:
    # image 0: the box is found; image 1: the detector fires at BOX, the defect is ELSEWHERE.
    # tp = [1, 0] -> recall [0.5, 0.5], precision [1, 0.5]; the interpolated envelope is 1 up
    # to recall 0.5, then falls linearly to 0 at recall 1: AP50 = 0.5 + 0.5 * 0.5 / 2 = 0.625
    model = detector(tmp_path, raw_output([BOX], [0], 0.9))
    result = evaluate("detector", dataset(tmp_path, [[(0, BOX)], [(0, ELSEWHERE)]]), model)
    assert result["map50"] == pytest.approx(0.625, abs=0.005)
    assert result["precision"] == pytest.approx(0.5, abs=0.01)
    assert result["recall"] == pytest.approx(0.5, abs=0.01)


def test_cli_json_and_bad_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = detector(tmp_path, raw_output([BOX], [0], 0.9))
    data = dataset(tmp_path, [[(0, BOX)]])
    assert main(["evaluate", "detector", "--data", str(data), "--model", str(model), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) >= {"map50", "map50_95", "precision", "recall", "images", "per_class"}
    missing = str(tmp_path / "nowhere")
    assert main(["evaluate", "detector", "--data", missing, "--model", str(model)]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="neither"):
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump({"names": ["a"]}))
        evaluate("detector", bad, model)


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda data: (data / "data.yaml").write_text("names: [a"), "not valid YAML"),
        (lambda data: (data / "data.yaml").write_bytes(b"names: \xff\n"), "UTF-8"),
        (lambda data: (data / "labels" / "val" / "img0.txt").write_text("scratch 0.5 0.5 .1 .1"),
         "expected 'class cx cy w h'"),
        (lambda data: (data / "labels" / "val" / "img0.txt").write_text("9 0.5 0.5 0.1 0.1"),
         "a label's class is not one of 0..1"),
    ],
)  # fmt: skip
def test_a_dataset_that_is_not_one_is_named(
    tmp_path: Path, damage: Callable[[Path], object], named: str
) -> None:
    model = detector(tmp_path, raw_output([BOX], [0], 0.9))
    data_yaml = dataset(tmp_path, [[(0, BOX)]])
    damage(data_yaml.parent)
    with pytest.raises(DatasetError, match=named):
        evaluate("detector", data_yaml, model)


def test_matching_is_one_to_one_and_class_aware() -> None:
    gt = np.array([[0, 0, 10, 10]], np.float32)
    preds = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    correct = match_predictions(preds, np.array([0, 0, 1]), gt, np.array([0]))
    assert correct[:, 0].tolist() == [True, False, False]  # one GT, one match
    assert box_iou(gt, np.array([[5, 0, 15, 10]], np.float32))[0, 0] == pytest.approx(1 / 3)


def test_ap_of_a_perfect_and_an_empty_curve() -> None:
    perfect = average_precision(np.array([0.5, 1.0]), np.array([1.0, 1.0]))
    assert perfect == pytest.approx(PERFECT_AP)
    empty = detection_metrics(np.zeros((0, 10), bool), np.zeros(0), np.zeros(0), np.array([0]))
    assert (empty.map50, empty.ap50_per_class) == (0.0, {0: 0.0})
