"""The image sense learns this camera's healthy frames: thresholds raised, scores calibrated."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from agent.core.calibration import HealthyTail
from agent.core.medians import full_medians
from agent.core.samples import Sample, Score
from agent.inference.session import ModelError
from agent.senses.image import IMAGE
from agent.senses.image.config import DEFAULT_CONFIDENCE, CameraConfig, DetectorConfig
from agent.senses.image.learn import DECISION_MEDIAN, MIN_FRAMES
from agent.senses.image.learned import (
    FrameCalibration,
    LearnedThresholds,
    MedianCalibration,
    frame_dependence,
    independent_frames,
)
from agent.senses.learning import EXCEEDANCE, RAW, Learned, LearningRefused, LearningSpec
from agent.senses.scorer import Scorer
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


def scores(scorer: Scorer, greys: list[int]) -> list[Score]:
    found = [scorer.score(frame(grey)) for grey in greys]
    assert all(score is not None for score in found)
    return [score for score in found if score is not None]


def test_a_defect_in_view_for_most_of_the_last_frames_scores_high_and_healthy_frames_do_not(
    config: CameraConfig, tmp_path: Path
) -> None:
    learned = learn(config, healthy_greys())
    assert learned.params["median"] == DECISION_MEDIAN
    scorer = spec().scorer("press-7", config, learned, tmp_path)

    healthy = scores(scorer, healthy_greys(100, seed=3))  # new healthy frames of this machine
    first, judged = healthy[: DECISION_MEDIAN - 1], healthy[DECISION_MEDIAN - 1 :]
    assert all(s.value == 0.0 and s.evidence[RAW] is None for s in first)  # too few yet
    values = [s.value for s in judged]
    assert all(s.label == "none" or s.evidence["detections"] for s in judged)
    assert 0.3 < float(np.median(values)) < 0.7  # calibrated: healthy frames are typical

    defect = scores(scorer, [200] * (DECISION_MEDIAN // 2 + 1))  # most of the last seven
    assert [s.label for s in defect] == ["crazing"] * len(defect)  # every frame shows it
    assert all(s.value < 0.999 for s in defect[:-1])  # while most frames are healthy
    strong = defect[-1]
    assert strong.value > 0.999
    assert strong.evidence[RAW] > 1.0
    assert strong.evidence[EXCEEDANCE] == pytest.approx(1.0 - strong.value)
    assert [d["class"] for d in strong.evidence["detections"]] == ["crazing"]
    assert max(values) < strong.value


def test_a_card_learned_before_the_median_judges_each_frame(
    config: CameraConfig, tmp_path: Path
) -> None:
    learned = learn(config, healthy_greys())
    before = ("median", "independent_frames")
    params = {key: value for key, value in learned.params.items() if key not in before}
    scorer = spec().scorer("press-7", config, Learned("image", 300, params, {}), tmp_path)

    (strong,) = scores(scorer, [200])
    assert strong.value > 0.999
    assert strong.evidence[RAW] > 1.0


def test_a_card_whose_tail_is_the_medians_own_calibrates_the_median_with_it(
    config: CameraConfig, tmp_path: Path
) -> None:
    greys = healthy_greys()
    learned = learn(config, greys)
    medians = full_medians(np.array([relative(g, learned) for g in greys]), DECISION_MEDIAN)
    older = FrameCalibration.fit(medians)
    params = {k: v for k, v in learned.params.items() if k != "independent_frames"} | {
        "floor": older.floor,
        "floor_share": older.floor_share,
        "tail": older.tail.to_json(),
    }
    scorer = spec().scorer("press-7", config, Learned("image", 300, params, {}), tmp_path)

    last = scores(scorer, [140] * DECISION_MEDIAN)[-1]
    # as exceedances (about 5e-12 here): as scores, the frames' own calibration (1.3e-9) and
    # the median's (0) would pass too; rel 1e-3 leaves room for a double's last digit near 1
    assert 1.0 - last.value == pytest.approx(1.0 - older.value(last.evidence[RAW]), rel=1e-3)


def test_a_median_is_calibrated_as_rarer_than_one_frame(config: CameraConfig) -> None:
    """A healthy frame's odd peak is rarer in a median of seven: the median's calibration,
    from the single frames' tail, lies above theirs; frames drawn independently are worth
    nearly seven."""
    greys = healthy_greys()
    learned = learn(config, greys)
    raw = np.array([relative(g, learned) for g in greys])
    calibration = learned_calibration(learned)

    assert isinstance(calibration, MedianCalibration)
    assert calibration.frame.tail.samples + round(
        calibration.frame.floor_share * len(greys)
    ) == len(greys)  # every frame learned from, not their medians
    assert 5.0 < calibration.independent_frames <= DECISION_MEDIAN
    assert learned.summary["independent_frames"] == round(calibration.independent_frames, 2)
    high = float(np.quantile(raw, 0.95))
    assert calibration.value(high) > calibration.frame.value(high)


def relative(grey: int, learned: Learned) -> float:
    return crazing_confidence(grey) / learned.params["thresholds"][0]


def learned_calibration(learned: Learned) -> MedianCalibration | FrameCalibration:
    return LearnedThresholds.model_validate(learned.params).calibration()


def exceeded(calibration: MedianCalibration, level: float) -> float:
    """The raw score the median's calibration puts at exceedance `level` (by bisection)."""
    low, high = 0.0, 100.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if 1.0 - calibration.value(middle) > level else (low, middle)
    return high


def median_calibration(raw: np.ndarray) -> MedianCalibration:
    worth = independent_frames(DECISION_MEDIAN, frame_dependence(raw))
    return MedianCalibration(FrameCalibration.fit(raw), worth)


@pytest.mark.parametrize("level", [1e-2, 1e-3, 1e-4])
def test_independent_frames_medians_exceed_their_calibrated_level_as_often_as_it_says(
    level: float,
) -> None:
    rng = np.random.default_rng(7)
    calibration = median_calibration(rng.exponential(1.0, 500))
    fresh = full_medians(rng.exponential(1.0, 2_000_000), DECISION_MEDIAN)

    share = float(np.mean(fresh >= exceeded(calibration, level)))
    assert level / 2 < share < level * 2
    single = FrameCalibration.fit(rng.exponential(1.0, 500))
    assert float(np.mean(fresh >= exceeded(MedianCalibration(single, 1.0), level))) < level / 20


def test_frames_alike_from_one_to_the_next_are_worth_fewer_and_not_overstated() -> None:
    """A fixed camera's frames: each scene held for several frames. Counted as seven
    independent frames, its medians would exceed a level far more often than said."""
    rng = np.random.default_rng(8)

    def held(count: int) -> np.ndarray:
        return np.repeat(rng.exponential(1.0, count // 5), 5)

    learned_from = held(1000)
    calibration = median_calibration(learned_from)
    assert frame_dependence(learned_from) > 0.6
    assert calibration.independent_frames < 2.0
    fresh = full_medians(held(2_000_000), DECISION_MEDIAN)
    share = float(np.mean(fresh >= exceeded(calibration, 1e-3)))
    assert share < 2e-3
    as_independent = MedianCalibration(calibration.frame, float(DECISION_MEDIAN))
    assert float(np.mean(fresh >= exceeded(as_independent, 1e-3))) > 1e-2


def test_frames_that_all_score_the_same_count_as_one() -> None:
    assert frame_dependence(np.full(300, 0.2)) == 1.0
    assert independent_frames(DECISION_MEDIAN, 1.0) == 1.0
    assert independent_frames(DECISION_MEDIAN, 0.0) == DECISION_MEDIAN


def test_params_survive_a_json_round_trip_and_build_the_same_scorer(
    config: CameraConfig, tmp_path: Path
) -> None:
    learned = learn(config, healthy_greys())
    stored = json.loads(json.dumps(learned.params))
    assert stored == learned.params  # lists, not tuples, so what is read back is equal
    assert json.loads(json.dumps(learned.summary)) == learned.summary
    read_back = Learned(learned.sense, learned.samples, stored, learned.summary)

    greys = [140] * DECISION_MEDIAN
    first = scores(spec().scorer("press-7", config, learned, tmp_path), greys)[-1]
    again = scores(spec().scorer("press-7", config, read_back, tmp_path), greys)[-1]
    assert again.value == first.value > 0.0
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
    overstated = learned.params | {"independent_frames": DECISION_MEDIAN + 1.0}
    with pytest.raises(ModelError, match="independent_frames"):
        spec().scorer("press-7", config, Learned("image", 300, overstated, {}), tmp_path)


def test_a_learning_period_without_a_peak_scales_its_tail_by_class_thresholds() -> None:
    """Every healthy frame at the floor (the detector found nothing, a frozen camera): a faint
    peak later is not rarer than a detection; one at a class threshold is far in the tail."""
    calibration = FrameCalibration.fit(np.zeros(300))
    faint, detection = calibration.value(0.05), calibration.value(1.0)
    assert 1.0 - faint > 1e-2  # about 2 decades at most: not an alarm on its own
    assert 1.0 - detection < 1e-4
    assert faint < detection
