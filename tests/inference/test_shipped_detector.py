"""The shipped detector on bundled images: held-out defects found, defect-free steel left alone."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.apps.evaluate import evaluate
from agent.core.samples import Sample
from agent.inference.loading import load_session
from agent.inference.models import models_dir
from agent.inference.session import InferenceSession
from agent.senses.image.config import DEFAULT_CONFIDENCE, CameraConfig, DetectorConfig
from agent.senses.image.scorer import SHIPPED_THRESHOLDS, DetectorScorer, rect_stride

FIXTURES = Path(__file__).parents[1] / "fixtures" / "defects"
MODEL = models_dir() / "defects-yolov8n.onnx"
CLEAN_VIDEO = (
    Path(__file__).parents[2] / "agent" / "apps" / "demo" / "samples" / "motor-02" / "camera.avi"
)


@pytest.fixture(scope="module")
def scorer() -> DetectorScorer:
    """As a config that sets no thresholds runs it: with the thresholds the model ships."""
    detector = DetectorConfig(model=MODEL)
    return DetectorScorer("test", CameraConfig(uri="fixtures", frame_size=None, detector=detector))


@pytest.fixture(scope="module")
def default_scorer() -> DetectorScorer:
    """At Ultralytics' default 0.25 for every class: what the network itself finds. The
    shipped thresholds give some of these up for fewer detections on defect-free steel
    (models/defects-yolov8n.md)."""
    detector = DetectorConfig(model=MODEL, confidence=DEFAULT_CONFIDENCE)
    return DetectorScorer("test", CameraConfig(uri="fixtures", frame_size=None, detector=detector))


def score(scorer: DetectorScorer, frame: np.ndarray) -> tuple[float, str]:
    """The frame's own top detection (the score's value is a median over frames)."""
    detections = scorer.score(Sample("test", "image", time.time(), frame)).evidence["detections"]
    return (detections[0]["confidence"], detections[0]["class"]) if detections else (0.0, "none")


def test_metadata_carries_classes_and_input_size(scorer: DetectorScorer) -> None:
    assert scorer.class_names == [
        "crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches",
    ]  # fmt: skip
    assert scorer.models == ["defects-yolov8n@1.2.0"]


@pytest.mark.parametrize(
    "image", sorted((FIXTURES / "images" / "val").glob("*.jpg")), ids=lambda p: p.stem
)
def test_held_out_defect_is_found_with_its_class(
    default_scorer: DetectorScorer, image: Path
) -> None:
    frame = cv2.imread(str(image))
    assert frame is not None
    value, label = score(default_scorer, frame)
    assert value >= DEFAULT_CONFIDENCE
    assert label == image.stem.rsplit("_", 1)[0]


def test_the_shipped_thresholds_are_raised_above_the_default(scorer: DetectorScorer) -> None:
    shipped = json.loads(load_session(MODEL).metadata[SHIPPED_THRESHOLDS])
    assert list(shipped) == scorer.class_names
    np.testing.assert_allclose(scorer.thresholds, list(shipped.values()))
    assert np.all(scorer.thresholds >= DEFAULT_CONFIDENCE)


def test_defect_free_frames_raise_nothing(scorer: DetectorScorer) -> None:
    capture = cv2.VideoCapture(str(CLEAN_VIDEO))
    values = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        values.append(score(scorer, frame)[0])
    capture.release()
    assert len(values) >= 10
    assert max(values) < 0.25


def test_evaluate_runs_the_shipped_model_on_the_fixture_dataset() -> None:
    result = evaluate("detector", FIXTURES / "data.yaml")
    assert result["images"] == 4
    assert 0.0 <= result["map50_95"] <= result["map50"] <= 1.0
    assert result["map50"] > 0.5  # 0.796 with 1.2.0; labels matched wrongly would give about 0


class RecordingSession:
    """The real session, noting the shape of every input it is given."""

    def __init__(self, inner: InferenceSession) -> None:
        self.inner = inner
        self.shapes: list[tuple[int, ...]] = []
        self.inputs: list[np.ndarray] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.shapes.extend(value.shape for value in inputs.values())
        self.inputs.extend(value.copy() for value in inputs.values())
        return self.inner.run(inputs)


def test_shipped_detector_runs_16_9_frames_at_rect_size() -> None:
    """Its input is dynamic, so a 1080p frame goes in at 192x128 as Ultralytics would send it."""
    session = RecordingSession(load_session(MODEL))
    config = CameraConfig(uri="0", frame_size=None, detector=DetectorConfig(model=MODEL))
    scorer = DetectorScorer("line-1", config, session)
    assert rect_stride(session) == 32

    scorer.score(Sample("line-1", "image", time.time(), np.full((1080, 1920, 3), 128, np.uint8)))

    assert session.shapes[-1] == (1, 3, 128, 192)


def test_model_input_is_what_score_feeds_the_model() -> None:
    """The bench times the bare model on this tensor, so it must be the pipeline's own."""
    session = RecordingSession(load_session(MODEL))
    config = CameraConfig(uri="0", frame_size=None, detector=DetectorConfig(model=MODEL))
    scorer = DetectorScorer("line-1", config, session)
    frame = np.random.default_rng(3).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)

    tensor = scorer.model_input(frame)
    scorer.score(Sample("line-1", "image", time.time(), frame))

    fed = session.inputs[-1]
    assert tensor.shape == fed.shape == (1, 3, 128, 192)
    np.testing.assert_array_equal(tensor, fed)
    scorer.score(Sample("line-1", "image", time.time(), frame[::-1].copy()))
    np.testing.assert_array_equal(tensor, fed)  # a copy: the buffers moved on, it did not
