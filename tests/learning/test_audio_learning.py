"""The audio sense learns this machine's healthy sound; the classifier names what departs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.core.samples import Sample, Score
from agent.senses.audio import AUDIO
from agent.senses.audio.baseline import MAX_MEDIAN, VibrationBaseline, vibration_features
from agent.senses.audio.config import MicrophoneConfig
from agent.senses.audio.learn import (
    DECISION_MEDIAN,
    MIN_WINDOWS,
    LearnedSoundScorer,
)
from agent.senses.learning import EXCEEDANCE, RAW, Learned, LearningRefused
from tests.support.audio_files import knock_model, knocking, microphone_config, noise, tone
from tests.support.onnx_models import constant_model

RATE = 16_000
WINDOW_S = 0.5
CLASSES = ["normal", "knocking"]
assert AUDIO.learning is not None
SPEC = AUDIO.learning


def machine(seed: int, rate: int = RATE, noise_level: float = 0.05) -> np.ndarray:
    """A healthy machine: a 120 Hz hum and its 1 kHz whine over broadband noise."""
    hum = tone(120.0, WINDOW_S, rate, 0.3) + tone(1000.0, WINDOW_S, rate, 0.1)
    return hum + noise(WINDOW_S, rate, noise_level, seed)


def sample(signal: np.ndarray, rate: int = RATE) -> Sample:
    return Sample("fan-01", "audio", 0.0, signal, {"sample_rate": rate})


def impacts(seed: int) -> np.ndarray:
    """The machine with a sharp knock 37 times a second, as a spalled bearing makes."""
    signal = machine(seed)
    signal[:: RATE // 37] += 0.8
    return signal


def new_band(seed: int) -> np.ndarray:
    """The machine with a faint 5 kHz whistle it never had."""
    return machine(seed) + tone(5000.0, WINDOW_S, RATE, 0.05)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> MicrophoneConfig:
    """The knock detector: steady sound is normal, pulsing sound is knocking."""
    model = knock_model(tmp_path_factory.mktemp("audio") / "knock.onnx")
    return microphone_config(
        model, device=0, sample_rate=RATE, window_s=WINDOW_S, classifier={"class_names": CLASSES}
    )


@pytest.fixture(scope="module")
def unsure_config(tmp_path_factory: pytest.TempPathFactory) -> MicrophoneConfig:
    """A classifier that always leans to knocking (p 0.6) without being confident."""
    path = tmp_path_factory.mktemp("audio") / "unsure.onnx"
    model = constant_model(path, np.array([[0.0, 0.4]]), [1, "time", 40], input_name="mfcc")
    return microphone_config(
        model, device=0, sample_rate=RATE, window_s=WINDOW_S, classifier={"class_names": CLASSES}
    )


@pytest.fixture(scope="module")
def learned(config: MicrophoneConfig) -> Learned:
    learner = SPEC.learner("fan-01", config)
    for seed in range(MIN_WINDOWS):
        assert learner.observe(sample(machine(seed))) is None
    assert learner.progress() == pytest.approx(1.0)
    assert learner.problems() == []
    return learner.finish()


def stored(learned: Learned) -> Learned:
    """What the runtime reads back: params and summary through JSON."""
    text = json.dumps({"params": learned.params, "summary": learned.summary})
    back = json.loads(text)
    return Learned(learned.sense, learned.samples, back["params"], back["summary"])


def built(config: MicrophoneConfig, learned: Learned, folder: Path) -> LearnedSoundScorer:
    scorer = SPEC.scorer("fan-01", config, stored(learned), folder)
    assert isinstance(scorer, LearnedSoundScorer)
    return scorer


def lasting(scorer: LearnedSoundScorer, signal: Callable[[int], np.ndarray], seed: int) -> Score:
    """The score once the scorer has heard DECISION_MEDIAN windows of `signal` in a row."""
    scores = [scorer.score(sample(signal(seed + k))) for k in range(DECISION_MEDIAN)]
    return scores[-1]


def test_what_is_learned_survives_json_unchanged(learned: Learned) -> None:
    assert json.loads(json.dumps(learned.params)) == learned.params
    assert json.loads(json.dumps(learned.summary)) == learned.summary
    baseline = VibrationBaseline.from_json(learned.params["baseline"])
    assert baseline.to_json() == learned.params["baseline"]
    assert learned.summary["windows"] == MIN_WINDOWS
    assert learned.summary["sample_rate"] == RATE


def test_healthy_sound_stays_low(
    config: MicrophoneConfig, learned: Learned, tmp_path: Path
) -> None:
    scorer = built(config, learned, tmp_path)
    scores = [scorer.score(sample(machine(seed))) for seed in range(1000, 1200)]
    values = np.array([s.value for s in scores])
    assert np.mean(values >= 0.999) < 0.02
    assert {s.label for s in scores if s.value < 0.999} == {"normal"}
    assert all(s.evidence[EXCEEDANCE] == pytest.approx(1.0 - s.value) for s in scores)


@pytest.mark.parametrize("departure", [impacts, new_band])
def test_a_departure_scores_far_in_the_tail(
    departure: Callable[[int], np.ndarray],
    config: MicrophoneConfig,
    learned: Learned,
    tmp_path: Path,
) -> None:
    scorer = built(config, learned, tmp_path)
    healthy = lasting(scorer, machine, 2000)
    departed = lasting(scorer, departure, 2000)
    assert departed.value > 0.9999
    assert departed.evidence[RAW] > healthy.evidence[RAW]
    assert set(departed.evidence["probabilities"]) == set(CLASSES)


def test_one_loud_window_decides_nothing_and_the_first_are_not_judged(
    config: MicrophoneConfig, unsure_config: MicrophoneConfig, learned: Learned, tmp_path: Path
) -> None:
    """The score is the median of the last DECISION_MEDIAN windows: a knock among healthy
    windows stays low, and until that many windows came nothing is judged, nor a fault named
    (the classifier here leans to knocking)."""
    unsure = built(unsure_config, learned, tmp_path)
    first = [unsure.score(sample(machine(6000 + k))) for k in range(DECISION_MEDIAN - 1)]
    assert {(s.value, s.evidence[RAW], s.label) for s in first} == {(0.0, None, "normal")}
    scorer = built(config, learned, tmp_path)
    scorer.score(sample(machine(6100)))
    alone = scorer.score(sample(impacts(6101)))
    assert alone.value < 0.999
    assert lasting(scorer, impacts, 6200).value > 0.9999


def test_the_median_is_calibrated_by_the_single_windows_tail(learned: Learned) -> None:
    """A median of healthy windows reaches a level less often than one window does, so the
    single windows' tail makes a median's score err towards healthy."""
    features = np.stack([vibration_features(machine(seed), RATE) for seed in range(400)])
    alone = VibrationBaseline.from_features(features, RATE)
    assert VibrationBaseline.from_features(features, RATE, DECISION_MEDIAN).tail == alone.tail
    assert learned.params["baseline"]["median"] == DECISION_MEDIAN


def test_a_baseline_stored_before_its_median_judges_each_window(learned: Learned) -> None:
    data = {k: v for k, v in learned.params["baseline"].items() if k != "median"}
    assert VibrationBaseline.from_json(data).median == 1
    for bad in (0, 1.5, True, MAX_MEDIAN + 1):
        with pytest.raises(ValueError, match="median"):
            VibrationBaseline.from_json({**data, "median": bad})


@pytest.mark.parametrize(
    ("field", "value"),
    [("spread", 0.0), ("spread", -1.0), ("spread", float("nan")), ("centre", float("inf"))],
)
def test_a_card_whose_baseline_cannot_judge_is_refused(
    learned: Learned, field: str, value: float
) -> None:
    """Read from disk: a spread of 0 would alarm on every window, a NaN silence the sense."""
    data = dict(learned.params["baseline"])
    data[field] = [value, *data[field][1:]]
    with pytest.raises(ValueError, match="centre must be finite"):
        VibrationBaseline.from_json(data)


def test_the_label_names_the_classifiers_fault_only_when_the_score_is_high(
    config: MicrophoneConfig,
    unsure_config: MicrophoneConfig,
    learned: Learned,
    tmp_path: Path,
) -> None:
    unsure = built(unsure_config, learned, tmp_path)
    healthy = lasting(unsure, machine, 3000)
    assert healthy.evidence["probabilities"]["knocking"] == pytest.approx(0.6, abs=0.01)
    assert healthy.value < 0.999
    assert healthy.label == "normal"
    assert lasting(unsure, new_band, 3000).label == "knocking"
    # a high score the classifier calls normal is named as such, not as normal
    knock_detector = built(config, learned, tmp_path)
    whistle = lasting(knock_detector, new_band, 3000)
    assert whistle.evidence["probabilities"]["normal"] > 0.5
    assert whistle.label == "departure"
    assert lasting(knock_detector, lambda _: knocking(WINDOW_S, RATE), 0).label == "knocking"


def test_a_run_the_classifier_confidently_calls_faulty_is_refused(
    config: MicrophoneConfig,
) -> None:
    learner = SPEC.learner("fan-01", config)
    for seed in range(10):
        learner.observe(sample(machine(seed)))
    for _ in range(30):
        learner.observe(sample(knocking(WINDOW_S, RATE)))
    faulty = [p for p in learner.problems() if "knocking" in p]
    assert len(faulty) == 1
    assert "75%" in faulty[0]
    with pytest.raises(LearningRefused) as refused:
        learner.finish()
    assert faulty[0] in refused.value.reasons


def test_silence_is_not_learned_nor_judged(
    config: MicrophoneConfig, learned: Learned, tmp_path: Path
) -> None:
    quiet = noise(WINDOW_S, RATE, 1e-5)  # -100 dBFS: a stopped machine
    learner = SPEC.learner("fan-01", config)
    for seed in range(5):
        learner.observe(sample(machine(seed)))
    for _ in range(10):
        learner.observe(sample(quiet))
    assert learner.progress() == pytest.approx(5 / MIN_WINDOWS)
    assert any("10 of 15 windows were silence" in p for p in learner.problems())
    score = built(config, learned, tmp_path).score(sample(quiet))
    assert (score.value, score.label, score.evidence[RAW]) == (0.0, "silence", None)


def test_a_window_at_another_rate_than_learned_is_refused(
    config: MicrophoneConfig, learned: Learned, tmp_path: Path
) -> None:
    scorer = built(config, learned, tmp_path)
    with pytest.raises(ValueError, match="learned at 16000 Hz"):
        scorer.score(sample(machine(4000, 2 * RATE), 2 * RATE))


def test_the_whole_learning_period_is_learned(config: MicrophoneConfig, tmp_path: Path) -> None:
    """Windows past the first MIN_WINDOWS count too: the machine grew noisier in the second
    half of its learning period, so that noise is its normal afterwards."""
    learner = SPEC.learner("fan-01", config)
    for seed in range(2 * MIN_WINDOWS):
        learner.observe(sample(machine(seed, noise_level=0.05 if seed < MIN_WINDOWS else 0.15)))
    learned = learner.finish()
    assert learned.summary["windows"] == 2 * MIN_WINDOWS
    scorer = built(config, learned, tmp_path)
    values = np.array([scorer.score(sample(machine(seed, noise_level=0.15))).value
                       for seed in range(5000, 5100)])  # fmt: skip
    assert np.mean(values >= 0.999) < 0.05
