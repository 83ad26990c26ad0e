"""YOLOv8 decoding, NMS and the detector scorer on real ONNX models and a real JPEG."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.core.samples import Sample
from agent.inference.loading import load_session
from agent.inference.session import ModelError
from agent.senses.image.config import DEFAULT_CONFIDENCE, CameraConfig, DetectorConfig
from agent.senses.image.scorer import (
    DECISION_MEDIAN,
    SHIPPED_THRESHOLDS,
    DetectorScorer,
    class_peaks,
    decode_yolov8,
    nms,
)
from tests.support.onnx_models import brightness_detector, constant_model

NEU = "{0: 'crazing', 1: 'inclusion', 2: 'scratches'}"  # as Ultralytics writes `names`

Anchor = tuple[float, float, float, float, int, float]  # cx, cy, w, h, class id, score


def raw_output(anchors: Sequence[Anchor], nc: int, total: int = 16) -> np.ndarray:
    """A raw [1, 4 + nc, total] YOLOv8 output: the given anchors, then silent ones."""
    output = np.zeros((1, 4 + nc, total), dtype=np.float32)
    output[0, :4, :] = 5.0  # silent anchors still carry a box, as real exports do
    for index, (cx, cy, w, h, class_id, score) in enumerate(anchors):
        output[0, :4, index] = cx, cy, w, h
        if nc > 1:
            output[0, 4 + (class_id + 1) % nc, index] = score / 2  # a weaker runner-up class
        output[0, 4 + class_id, index] = score
    return output


def thresholds(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def test_decode_keeps_best_class_and_converts_to_xyxy() -> None:
    found = decode_yolov8(
        raw_output([(100, 50, 40, 20, 1, 0.7)], 3), thresholds(0.25, 0.25, 0.25), 0.45, 100
    )

    np.testing.assert_allclose(found.boxes, [[80, 40, 120, 60]])
    np.testing.assert_allclose(found.scores, [0.7])
    assert found.class_ids.tolist() == [1]
    assert found.boxes.dtype == np.float32


def test_nms_is_per_class() -> None:
    anchors = [
        (100, 100, 50, 50, 0, 0.9),
        (104, 102, 50, 50, 0, 0.8),  # same class, IoU ~0.8 with the first: suppressed
        (100, 100, 50, 50, 1, 0.7),  # same place, other class: kept
        (300, 300, 50, 50, 0, 0.6),  # same class, far away: kept
    ]
    found = decode_yolov8(raw_output(anchors, 2), thresholds(0.25, 0.25), 0.45, 100)

    np.testing.assert_allclose(found.scores, [0.9, 0.7, 0.6])
    assert found.class_ids.tolist() == [0, 1, 0]
    np.testing.assert_allclose(found.boxes[2], [275, 275, 325, 325])


def test_iou_threshold_decides_suppression() -> None:
    # Two 20x10 boxes overlapping by half their width: IoU = 100 / 300 = 1/3.
    anchors = [(10, 5, 20, 10, 0, 0.9), (20, 5, 20, 10, 0, 0.8)]
    output = raw_output(anchors, 1)

    assert len(decode_yolov8(output, thresholds(0.25), 0.34, 100).scores) == 2
    assert len(decode_yolov8(output, thresholds(0.25), 0.33, 100).scores) == 1


def test_per_class_confidence_thresholds() -> None:
    anchors = [
        (20, 20, 10, 10, 0, 0.6),  # class 0 needs 0.5: kept
        (60, 20, 10, 10, 0, 0.4),  # dropped
        (100, 20, 10, 10, 1, 0.8),  # class 1 needs 0.9: dropped
        (140, 20, 10, 10, 1, 0.95),  # kept
    ]
    found = decode_yolov8(raw_output(anchors, 2), thresholds(0.5, 0.9), 0.45, 100)

    np.testing.assert_allclose(found.scores, [0.95, 0.6])
    assert found.class_ids.tolist() == [1, 0]


def test_max_det_keeps_the_most_confident() -> None:
    anchors = [(40.0 * i + 20, 20, 10, 10, 0, s) for i, s in enumerate([0.3, 0.9, 0.5, 0.8, 0.7])]
    found = decode_yolov8(raw_output(anchors, 1), thresholds(0.25), 0.45, 3)

    np.testing.assert_allclose(found.scores, [0.9, 0.8, 0.7])
    np.testing.assert_allclose(found.boxes[:, 0], [55, 135, 175])


def test_nothing_above_threshold_gives_empty_detections() -> None:
    found = decode_yolov8(raw_output([], 2), thresholds(0.25, 0.25), 0.45, 100)

    assert found.boxes.shape == (0, 4)
    assert found.scores.shape == found.class_ids.shape == (0,)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a, area_b = (np.prod(x[:, 2:] - x[:, :2], axis=1) for x in (a, b))
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def test_nms_invariants_on_random_boxes() -> None:
    rng = np.random.default_rng(7)
    corners = rng.uniform(0, 200, size=(300, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(5, 60, size=(300, 2))], axis=1)
    scores = rng.uniform(0, 1, size=300)
    classes = rng.integers(0, 3, size=300)
    iou = 0.5

    kept = nms(boxes, scores, classes, iou, max_det=1000)

    assert np.all(np.diff(scores[kept]) <= 0)
    overlaps = pairwise_iou(boxes, boxes[kept])
    same_class = classes[:, None] == classes[kept][None, :]
    kept_mask = np.zeros(300, dtype=bool)
    kept_mask[kept] = True
    # No two kept boxes of one class overlap beyond iou ...
    clash = overlaps[kept] * same_class[kept] > iou
    np.fill_diagonal(clash, False)
    assert not clash.any()
    # ... and each dropped box overlaps a more confident kept box of its class.
    stronger = scores[kept][None, :] >= scores[:, None]
    assert np.all(((overlaps > iou) & same_class & stronger)[~kept_mask].any(axis=1))


def test_decode_rejects_an_output_that_does_not_fit_the_classes() -> None:
    with pytest.raises(ModelError, match=r"\[1, 6, N\] for 2 classes"):
        decode_yolov8(np.zeros((1, 7, 16), np.float32), thresholds(0.25, 0.25), 0.45, 100)
    with pytest.raises(ModelError, match="got \\[6, 16\\]"):
        decode_yolov8(np.zeros((6, 16), np.float32), thresholds(0.25, 0.25), 0.45, 100)


def detector_model(
    tmp_path: Path,
    anchors: Sequence[Anchor],
    *,
    nc: int = 3,
    metadata: dict[str, str] | None = None,
    input_shape: tuple[int | str, ...] = (1, 3, 320, 320),
) -> Path:
    default = {"names": NEU, "imgsz": "[320, 320]", "name": "neu-det", "version": "1.2"}
    return constant_model(
        tmp_path / "detector.onnx",
        raw_output(anchors, nc),
        input_shape,
        metadata=default if metadata is None else metadata,
    )


def camera(model: Path, **detector: Any) -> CameraConfig:
    return CameraConfig(
        uri="0",
        frame_size=(640, 480),
        denoise_sigma=1.0,
        detector=DetectorConfig(model=model, **detector),
    )


def jpeg_sample(tmp_path: Path, width: int, height: int) -> Sample:
    """A real JPEG on disk, read back the way a frame grabber would hand it over."""
    path = tmp_path / "frame.jpg"
    rng = np.random.default_rng(1)
    assert cv2.imwrite(str(path), rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    frame = cv2.imread(str(path))
    assert frame is not None
    return Sample("press-7", "image", time.time(), frame, {"frame_index": 0})


def test_scorer_end_to_end_maps_boxes_to_the_captured_frame(tmp_path: Path) -> None:
    # 1000x500 frame -> 640x480 (x 0.64, y 0.96) -> 320x320 letterbox (scale 0.5, 40 px above).
    anchors = [(160, 160, 100, 40, 2, 0.88), (40, 40, 20, 20, 0, 0.5)]
    config = camera(detector_model(tmp_path, anchors))
    scorer = DetectorScorer("press-7", config, load_session(config.detector.model))
    sample = jpeg_sample(tmp_path, 1000, 500)

    scores = [scorer.score(sample) for _ in range(DECISION_MEDIAN)]

    assert [s.value for s in scores[:-1]] == [0.0] * (DECISION_MEDIAN - 1)  # too few frames yet
    score = scores[-1]
    assert (score.device, score.modality, score.model) == ("press-7", "image", "neu-det@1.2")
    assert scorer.models == ["neu-det@1.2"]
    assert score.value == pytest.approx(0.88, abs=1e-4)
    assert score.label == "scratches"
    assert score.captured_at == sample.captured_at
    assert score.scored_at >= sample.captured_at
    top, second = score.evidence["detections"]
    assert top["class"] == "scratches"
    assert top["confidence"] == pytest.approx(0.88, abs=1e-4)
    # Box (110, 140, 210, 180) in the input: -pad (0, 40), /0.5, then /0.64 in x, /0.96 in y.
    expected = [220 / 0.64, 200 / 0.96, 420 / 0.64, 280 / 0.96]
    assert top["box"] == pytest.approx(expected, abs=0.06)
    # (30, 30, 50, 50) lies partly in the top padding: clipped to the frame's top edge.
    assert second["class"] == "crazing"
    assert second["box"] == pytest.approx([60 / 0.64, 0.0, 100 / 0.64, 20 / 0.96], abs=0.06)
    assert score.evidence["frame_size"] == [1000, 500]
    assert json.loads(json.dumps(score.evidence)) == score.evidence


def test_scorer_without_detections_scores_zero(tmp_path: Path) -> None:
    config = camera(detector_model(tmp_path, [(160, 160, 100, 40, 1, 0.2)]))
    scorer = DetectorScorer("press-7", config)  # loads config.detector.model itself

    score = scorer.score(jpeg_sample(tmp_path, 64, 48))

    assert score is not None
    assert (score.value, score.label) == (0.0, "none")
    assert score.evidence == {"detections": [], "frame_size": [64, 48]}


def test_class_confidence_overrides_the_default(tmp_path: Path) -> None:
    anchors = [(100, 100, 20, 20, 0, 0.5), (200, 200, 20, 20, 2, 0.6)]
    config = camera(
        detector_model(tmp_path, anchors), confidence=0.3, class_confidence={"scratches": 0.7}
    )
    scorer = DetectorScorer("press-7", config)

    np.testing.assert_allclose(scorer.thresholds, [0.3, 0.3, 0.7])
    score = scorer.score(jpeg_sample(tmp_path, 320, 320))
    assert score is not None
    assert [d["class"] for d in score.evidence["detections"]] == ["crazing"]


def test_unknown_class_in_class_confidence_is_a_model_error(tmp_path: Path) -> None:
    config = camera(detector_model(tmp_path, []), class_confidence={"rust": 0.5})
    with pytest.raises(ModelError, match="rust"):
        DetectorScorer("press-7", config)


def test_class_names_from_config_then_ultralytics_then_json(tmp_path: Path) -> None:
    model = detector_model(tmp_path, [])
    assert DetectorScorer("d", camera(model)).class_names == ["crazing", "inclusion", "scratches"]
    named = camera(model, class_names=["a", "b", "c"])
    assert DetectorScorer("d", named).class_names == ["a", "b", "c"]

    as_json = {"class_names": json.dumps(["x", "y", "z"]), "imgsz": "[320, 320]"}
    model = detector_model(tmp_path, [], metadata=as_json)
    assert DetectorScorer("d", camera(model)).class_names == ["x", "y", "z"]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (None, "no class names"),
        ("{0: 'a', 2: 'c'}", "map 0..n-1"),
        ("{0: 'a'", "not a Python literal"),
    ],
)
def test_bad_or_missing_class_names_are_model_errors(
    tmp_path: Path, names: str | None, message: str
) -> None:
    metadata = {"imgsz": "[320, 320]"} | ({} if names is None else {"names": names})
    model = detector_model(tmp_path, [], nc=2, metadata=metadata)
    with pytest.raises(ModelError, match=message):
        DetectorScorer("d", camera(model))


def test_output_that_does_not_fit_the_class_names_fails_at_startup(tmp_path: Path) -> None:
    model = detector_model(tmp_path, [], nc=4)  # 4 class rows, 3 names
    with pytest.raises(ModelError, match=r"\[1, 7, N\] for 3 classes, got \[1, 8, 16\]"):
        DetectorScorer("d", camera(model))


def test_input_size_from_metadata_or_static_shape(tmp_path: Path) -> None:
    model = detector_model(
        tmp_path, [], metadata={"names": NEU, "imgsz": "[224, 288]"}, input_shape=(1, 3, 224, 288)
    )
    assert DetectorScorer("d", camera(model)).input_size == (288, 224)

    model = detector_model(tmp_path, [], metadata={"names": NEU}, input_shape=(1, 3, 256, 192))
    scorer = DetectorScorer("d", camera(model))
    assert scorer.input_size == (192, 256)
    assert scorer.score(jpeg_sample(tmp_path, 100, 100)) is not None


def test_unknown_input_size_is_a_model_error(tmp_path: Path) -> None:
    model = detector_model(tmp_path, [], metadata={"names": NEU}, input_shape=(1, 3, "h", "w"))
    with pytest.raises(ModelError, match="input size"):
        DetectorScorer("d", camera(model))


def shipping(tmp_path: Path, thresholds: dict[str, float]) -> Path:
    """The test detector with per-class thresholds stamped in, as tools/detector_thresholds.py
    ships them."""
    metadata = {"names": NEU, "imgsz": "[320, 320]", SHIPPED_THRESHOLDS: json.dumps(thresholds)}
    return detector_model(tmp_path, [(100, 100, 20, 20, 0, 0.5)], metadata=metadata)


def test_a_config_without_thresholds_uses_the_ones_shipped_in_the_model(tmp_path: Path) -> None:
    model = shipping(tmp_path, {"crazing": 0.6, "scratches": 0.4})
    scorer = DetectorScorer("press-7", camera(model))

    np.testing.assert_allclose(scorer.thresholds, [0.6, DEFAULT_CONFIDENCE, 0.4])
    score = scorer.score(jpeg_sample(tmp_path, 320, 320))
    assert (score.value, score.label) == (0.0, "none")  # crazing at 0.5 is below its 0.6


def test_thresholds_a_config_sets_win_over_the_shipped_ones(tmp_path: Path) -> None:
    model = shipping(tmp_path, {"crazing": 0.6, "scratches": 0.4})

    everywhere = DetectorScorer("press-7", camera(model, confidence=0.3))
    np.testing.assert_allclose(everywhere.thresholds, [0.3, 0.3, 0.3])
    assert everywhere.score(jpeg_sample(tmp_path, 320, 320)).label == "crazing"
    one_class = DetectorScorer("press-7", camera(model, class_confidence={"scratches": 0.7}))
    np.testing.assert_allclose(one_class.thresholds, [0.6, DEFAULT_CONFIDENCE, 0.7])


@pytest.mark.parametrize(
    "shipped", ['{"rust": 0.5}', '{"crazing": 1.5}', "[0.5, 0.5, 0.5]", '{"crazing": true}']
)
def test_shipped_thresholds_that_do_not_fit_the_classes_are_model_errors(
    tmp_path: Path, shipped: str
) -> None:
    metadata = {"names": NEU, "imgsz": "[320, 320]", SHIPPED_THRESHOLDS: shipped}
    with pytest.raises(ModelError, match=SHIPPED_THRESHOLDS):
        DetectorScorer("press-7", camera(detector_model(tmp_path, [], metadata=metadata)))


def test_class_peaks_count_each_anchor_for_its_best_class_only() -> None:
    anchors = [
        (20, 20, 10, 10, 0, 0.6),
        (60, 20, 10, 10, 0, 0.3),
        (100, 20, 10, 10, 2, 0.8),  # its runner-up, class 0 at 0.4, is not class 0's peak
    ]
    peaks = class_peaks(raw_output(anchors, 3), 3)

    np.testing.assert_allclose(peaks, [0.6, 0.0, 0.8])
    found = decode_yolov8(raw_output(anchors, 3), peaks - 1e-6, 0.45, 100)
    assert sorted(found.class_ids.tolist()) == [0, 2]  # each class's peak is its top detection


def test_one_frame_with_a_detection_decides_nothing_until_most_of_the_last_seven_have_one(
    tmp_path: Path,
) -> None:
    """A detector's odd guess on one healthy frame does not last; a defect in view does."""
    model = brightness_detector(tmp_path / "detector.onnx", ["crazing", "scratches"])
    config = CameraConfig(uri="0", frame_size=None, detector=DetectorConfig(model=model))
    scorer = DetectorScorer("press-7", config, load_session(model))

    def frame(grey: int) -> Sample:
        return Sample("press-7", "image", time.time(), np.full((64, 64, 3), grey, np.uint8))

    for _ in range(DECISION_MEDIAN):
        dark = scorer.score(frame(40))
    assert dark.value == 0.0 and dark.evidence["detections"] == []
    glint = scorer.score(frame(220))
    assert glint.evidence["detections"][0]["class"] == "crazing"  # the frame has a detection
    assert glint.label == "crazing"
    assert glint.value == 0.0  # one frame of seven
    for _ in range(DECISION_MEDIAN // 2):
        defect = scorer.score(frame(220))
    assert defect.value == pytest.approx(defect.evidence["detections"][0]["confidence"])
    assert defect.value > 0.9  # four of the last seven
