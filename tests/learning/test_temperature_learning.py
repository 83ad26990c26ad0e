"""The temperature sense learns how far this machine stands above its scene, not a fixed °C."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.core.samples import HARD_LIMIT, Sample
from agent.senses.learning import EXCEEDANCE, RAW, Learned, LearningRefused
from agent.senses.scorer import Scorer
from agent.senses.temperature import TEMPERATURE
from agent.senses.temperature.config import InfraredConfig
from agent.senses.temperature.learn import MIN_FRAMES, MIN_TAIL_SCALE_C
from tests.support.thermal_frames import CENTI_KELVIN, raw_from_celsius

CONFIG = InfraredConfig.model_validate(
    {"uri": "unused", "calibration": CENTI_KELVIN, "scorer": {"warn_c": 60.0, "limit_c": 90.0}}
)
SHAPE = (48, 64)
MOTOR = (slice(16, 28), slice(36, 52))  # 12 x 16 px of the frame
MOTOR_ABOVE_C = 10.0
assert TEMPERATURE.learning is not None
SPEC = TEMPERATURE.learning


def frame(ambient_c: float, motor_c: float, seed: int) -> Sample:
    """A scene at `ambient_c` with a motor at `motor_c`, each pixel with 0.3 °C of noise."""
    rng = np.random.default_rng(seed)
    temps = np.full(SHAPE, ambient_c)
    temps[MOTOR] = motor_c
    temps += rng.normal(0.0, 0.3, SHAPE)
    return Sample("press-01", "temperature", float(seed), raw_from_celsius(temps))


def healthy(ambient_c: float, seeds: range) -> list[Sample]:
    return [frame(ambient_c, ambient_c + MOTOR_ABOVE_C, seed) for seed in seeds]


def learn(frames: list[Sample]) -> Learned:
    learner = SPEC.learner("press-01", CONFIG)
    assert all(learner.observe(f) is None for f in frames)
    assert learner.progress() == pytest.approx(1.0)
    return learner.finish()


@pytest.fixture(scope="module")
def learned() -> Learned:
    return learn(healthy(25.0, range(MIN_FRAMES)))


@pytest.fixture
def scorer(learned: Learned, tmp_path: Path) -> Scorer:
    """Built as the runtime does: from the learned artefact's JSON, in its folder."""
    stored = json.loads(json.dumps({"params": learned.params, "summary": learned.summary}))
    again = Learned(learned.sense, learned.samples, stored["params"], stored["summary"])
    return SPEC.scorer("press-01", CONFIG, again, tmp_path)


def test_what_is_learned_survives_json_unchanged(learned: Learned) -> None:
    assert json.loads(json.dumps(learned.params)) == learned.params
    assert json.loads(json.dumps(learned.summary)) == learned.summary
    assert learned.samples == MIN_FRAMES
    assert learned.summary["ambient_c"]["p50"] == pytest.approx(25.0, abs=0.1)
    assert learned.summary["relative_c"]["p50"] == pytest.approx(MOTOR_ABOVE_C, abs=1.0)


def test_a_warmer_hall_is_not_a_hotter_machine(scorer: Scorer) -> None:
    scores = [scorer.score(f) for f in healthy(35.0, range(1000, 1200))]
    values = np.array([s.value for s in scores if s is not None])
    assert values.size == 200
    assert np.mean(values >= 0.999) < 0.02
    assert all(s.label == "none" for s in scores if s is not None and s.value < 0.999)


def test_a_motor_hotter_than_its_usual_scores_high(scorer: Scorer) -> None:
    hot = scorer.score(frame(25.0, 25.0 + MOTOR_ABOVE_C + 15.0, seed=2000))
    assert hot is not None
    assert hot.value > 0.9999
    assert hot.label == "hot_spot"
    assert hot.evidence[RAW] == pytest.approx(MOTOR_ABOVE_C + 15.0, abs=1.0)
    assert hot.evidence[EXCEEDANCE] == pytest.approx(1.0 - hot.value)
    assert HARD_LIMIT not in hot.evidence


def test_the_critical_temperature_alarms_while_learning_and_refuses_the_run() -> None:
    learner = SPEC.learner("press-01", CONFIG)
    for sample in healthy(25.0, range(MIN_FRAMES)):
        learner.observe(sample)
    alarm = learner.observe(frame(25.0, 95.0, seed=3000))
    assert alarm is not None
    assert alarm.value == 1.0
    assert alarm.evidence[HARD_LIMIT] == ["limit_c"]
    with pytest.raises(LearningRefused, match="critical temperature") as refused:
        learner.finish()
    assert len(refused.value.reasons) == 1  # enough frames: only the critical one is wrong


def test_the_critical_temperature_stays_a_hard_limit_after_learning(scorer: Scorer) -> None:
    # a scene at 85 °C with its motor at its usual 10 °C above: normal relative, over 90 °C
    over = scorer.score(frame(85.0, 85.0 + MOTOR_ABOVE_C, seed=4000))
    assert over is not None
    assert over.value == 1.0
    assert over.evidence[HARD_LIMIT] == ["limit_c"]
    assert over.evidence[EXCEEDANCE] == 0.0


def test_frames_without_a_valid_pixel_and_too_few_frames_are_refused() -> None:
    learner = SPEC.learner("press-01", CONFIG)
    dead = Sample("press-01", "temperature", 0.0, np.zeros(SHAPE, dtype=np.uint16))
    for sample in [*healthy(25.0, range(50)), *[dead] * 10]:
        assert learner.observe(sample) is None
    assert learner.progress() == pytest.approx(50 / MIN_FRAMES)
    problems = learner.problems()
    assert any("10 of 60 frames had no pixel in the valid range" in p for p in problems)
    assert any(f"too few frames: 50 of {MIN_FRAMES}" in p for p in problems)
    with pytest.raises(LearningRefused):
        learner.finish()


def test_learning_one_load_only_is_learned_with_a_warning(learned: Learned) -> None:
    assert any("learn across its loads" in w for w in learned.warnings)
    rng = np.random.default_rng(5)
    loads = [frame(25.0, 25.0 + rng.uniform(8.0, 12.0), seed) for seed in range(MIN_FRAMES)]
    assert learn(loads).warnings == []


def test_a_load_step_of_a_few_degrees_is_not_far_into_the_tail_but_a_hot_spot_is(
    learned: Learned, scorer: Scorer
) -> None:
    """Learned at one load with 0.3 °C of pixel noise, the tail keeps a scale of at least
    MIN_TAIL_SCALE_C: 4 °C more under a higher load stays above one healthy frame in 10^5,
    a bearing 15 °C hotter is rarer than one in 10^6."""
    assert learned.params["tail"]["tail_scale"] == MIN_TAIL_SCALE_C
    load = scorer.score(frame(25.0, 25.0 + MOTOR_ABOVE_C + 4.0, 9001))
    hot = scorer.score(frame(25.0, 25.0 + MOTOR_ABOVE_C + 15.0, 9002))
    assert load is not None and hot is not None
    assert 1.0 - load.value > 1e-5
    assert 1.0 - hot.value < 1e-6


def test_the_whole_learning_period_is_learned(tmp_path: Path) -> None:
    """Frames past the first MIN_FRAMES count too: the motor ran 3 °C warmer in the second
    half of its learning period, so that is its normal afterwards."""
    warmer = [
        frame(25.0, 25.0 + MOTOR_ABOVE_C + 3.0, seed) for seed in range(MIN_FRAMES, 2 * MIN_FRAMES)
    ]
    learned = learn([*healthy(25.0, range(MIN_FRAMES)), *warmer])
    assert learned.samples == 2 * MIN_FRAMES
    scorer = SPEC.scorer("press-01", CONFIG, learned, tmp_path)
    scores = [
        scorer.score(frame(25.0, 25.0 + MOTOR_ABOVE_C + 3.0, seed)) for seed in range(900, 950)
    ]
    assert learned.summary["relative_c"]["p90"] > MOTOR_ABOVE_C + 2.0  # the warmer half kept
    # learned on the first MIN_FRAMES alone, these frames would score up to about 0.995
    assert max(s.value for s in scores if s is not None) < 0.95
