"""The image sense learns this camera's healthy frames: thresholds raised, scores calibrated."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from agent.core.calibration import HealthyTail
from agent.core.samples import Sample
from agent.inference.session import ModelError
from agent.senses.image import IMAGE
from agent.senses.image.config import DEFAULT_CONFIDENCE, CameraConfig, DetectorConfig
from agent.senses.image.learn import MIN_FRAMES
from agent.senses.image.learned import FrameCalibration
from agent.senses.learning import EXCEEDANCE, RAW, Learned, LearningRefused, LearningSpec
from tests.support.onnx_models import brightness_detector

CLASSES = ["crazing", "inclusion", "scratches"]
IMGSZ = 64  # square frames of this size fill the input: the model sees their exact mean


def spec() -> LearningSpec:
    assert IMAGE.learning is not None
    return IMAGE.learning


@pytest.fixture
def config(tmp_path: Path) -> CameraConfig:
    """Crazing (class 0) scores sigmoid(20 * (brightness - 0.5)): grey frames fire it weakly."""
    model = brightness_detector(tmp_path / "detector.onnx", CLASSES, IMGSZ)
    return CameraConfig(uri="0", frame_size=None, detector=DetectorConfig(model=model))


def frame(grey: int) -> Sample:
    pixels = np.full((IMGSZ, IMGSZ, 3), grey, dtype=np.uint8)
    return Sample("press-7", "image", time.time(), pixels)


def healthy_greys(count: int = 300, seed: int = 2) -> list[int]:
    """Brightness 0.43-0.50: crazing at 0.20-0.49, above the default 0.25 on most frames."""
    return np.random.default_rng(seed).integers(110, 128, count).tolist()


def learn(config: CameraConfig, greys: list[int]) -> Learned:
    learner = spec().learner("press-7", config)
    for grey in greys:
        assert learner.observe(frame(grey)) is None
    return learner.finish()


def crazing_confidence(grey: int) -> float:
    return float(1.0 / (1.0 + np.exp(-20.0 * (grey / 255.0 - 0.5))))


def test_a_class_firing_weakly_on_healthy_frames_gets_its_threshold_raised(
    config: CameraConfig,
) -> None:
    greys = healthy_greys()
    learned = learn(config, greys)

    crazing, inclusion, scratches = learned.params["thresholds"]
    weak = [crazing_confidence(g) for g in greys]
    assert sum(c > DEFAULT_CONFIDENCE for c in weak) > len(weak) / 2  # it did fire on them
    assert crazing >= np.quantile(weak, 0.99) - 1e-6
    assert sum(c > crazing for c in weak) <= 0.01 * len(weak)
    assert inclusion == scratches == pytest.approx(DEFAULT_CONFIDENCE)  # never below shipped
    assert learned.samples == len(greys)
    assert any("crazing" in warning for warning in learned.warnings)


def test_a_strong_detection_scores_high_and_healthy_frames_do_not(
    config: CameraConfig, tmp_path: Path
) -> None:
    learned = learn(config, healthy_greys())
    scorer = spec().scorer("press-7", config, learned, tmp_path)

    strong = scorer.score(frame(200))
    assert strong is not None
    assert strong.label == "crazing"
    assert strong.value > 0.999
    assert strong.evidence[RAW] > 1.0
    assert strong.evidence[EXCEEDANCE] == pytest.approx(1.0 - strong.value)
    assert [d["class"] for d in strong.evidence["detections"]] == ["crazing"]

    values = []
    for grey in healthy_greys(100, seed=3):  # new healthy frames of the same machine
        score = scorer.score(frame(grey))
        assert score is not None
        values.append(score.value)
        assert score.label == "none" or score.evidence[RAW] > 1.0
    assert 0.3 < float(np.median(values)) < 0.7  # calibrated: a healthy frame is typical
    assert max(values) < strong.value


def test_params_survive_a_json_round_trip_and_build_the_same_scorer(
    config: CameraConfig, tmp_path: Path
) -> None:
    learned = learn(config, healthy_greys())
    stored = json.loads(json.dumps(learned.params))
    assert stored == learned.params  # lists, not tuples, so what is read back is equal
    assert json.loads(json.dumps(learned.summary)) == learned.summary
    read_back = Learned(learned.sense, learned.samples, stored, learned.summary)

    first = spec().scorer("press-7", config, learned, tmp_path).score(frame(140))
    again = spec().scorer("press-7", config, read_back, tmp_path).score(frame(140))
    assert first is not None and again is not None
    assert again.value == first.value
    assert again.evidence[RAW] == first.evidence[RAW]


def test_too_few_frames_are_refused(config: CameraConfig) -> None:
    learner = spec().learner("press-7", config)
    for grey in healthy_greys(MIN_FRAMES - 1):
        learner.observe(frame(grey))

    assert learner.progress() < 1.0
    assert any("frames" in problem for problem in learner.problems())
    with pytest.raises(LearningRefused, match="frames"):
        learner.finish()


def test_dark_healthy_frames_raise_no_warning(config: CameraConfig) -> None:
    learner = spec().learner("press-7", config)
    for grey in np.random.default_rng(4).integers(40, 90, MIN_FRAMES).tolist():
        learner.observe(frame(grey))

    assert learner.problems() == []
    assert learner.progress() == 1.0
    assert learner.finish().warnings == []


def test_many_frames_scoring_zero_still_calibrate() -> None:
    """Frames with nothing in them may share one raw score; that mass must not score high."""
    rng = np.random.default_rng(5)
    raw = np.concatenate([np.zeros(900), rng.uniform(0.2, 0.8, 100)])
    calibration = FrameCalibration.fit(raw)

    assert calibration.value(0.0) == 0.0
    assert HealthyTail.fit(raw).calibrated(0.0) > 0.8  # what the bare tail would have said
    assert 0.9 <= calibration.value(0.5) < 0.99  # above the 90 % at 0, within the other 10 %
    assert calibration.value(2.0) > 0.99999  # a detection, far beyond every healthy frame
    grid = np.linspace(0.0, 3.0, 61)
    values = [calibration.value(float(r)) for r in grid]
    assert values == sorted(values)


def test_without_a_mass_at_the_floor_the_calibration_is_the_healthy_tail() -> None:
    raw = np.random.default_rng(6).exponential(1.0, 500)
    calibration = FrameCalibration.fit(raw)
    tail = HealthyTail.fit(raw)
    for r in (0.1, 0.7, 2.0, 6.0):
        assert calibration.value(r) == pytest.approx(tail.calibrated(r), abs=0.01)


def test_params_of_another_model_or_broken_params_are_refused(
    config: CameraConfig, tmp_path: Path
) -> None:
    learned = learn(config, healthy_greys())
    other = learned.params | {"model": "defects-yolov8n@0.9.0"}
    with pytest.raises(ModelError, match="learn this device again"):
        spec().scorer("press-7", config, Learned("image", 300, other, {}), tmp_path)
    broken = learned.params | {"thresholds": [0.5]}
    with pytest.raises(ModelError, match="not valid"):
        spec().scorer("press-7", config, Learned("image", 300, broken, {}), tmp_path)
