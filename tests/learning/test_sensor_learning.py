"""The sensor sense learns a machine's own normal: a register map unlike SKAB's, no shipped model.

A synthetic pump: `flow` swings slowly around 40 l/min, `motor_current` follows it, and
`bearing_temp` wanders around 55 °C; every register carries noise. The learner sees 600
healthy samples at 1 Hz; the scorer built from what it learned is then fed a fresh healthy
continuation and the same continuation with the bearing 4 °C warmer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.core.calibration import threshold_for
from agent.core.samples import HARD_LIMIT, Sample
from agent.inference.session import ModelError
from agent.senses.learning import EXCEEDANCE, RAW, Learned, LearningRefused
from agent.senses.sensor import SENSOR
from agent.senses.sensor.config import SENSE, ModbusConfig, RegisterConfig
from agent.senses.sensor.learn import DECISION_MEDIAN, FOLLOW_S, MIN_WINDOWS, SensorLearner
from agent.senses.sensor.learned import LearnedForest, LearnedSensorScorer

DEVICE = "pump-7"
WINDOW = 16
LEVEL = 0.999  # one healthy window in a thousand scores higher
ALARM = threshold_for(1.0, 86_400.0)  # one false alarm a day at this 1 Hz polling
REGISTERS = ["flow", "bearing_temp", "motor_current"]
FIRST_JUDGED = WINDOW - 1 + DECISION_MEDIAN - 1  # index of the first sample with a verdict


def config(**limits: float) -> ModbusConfig:
    """The pump's register map; `bearing_temp_high=80` sets that register's high limit."""
    registers = [
        RegisterConfig(
            name=name,
            address=2 * i,
            data_type="float32",
            low=limits.get(f"{name}_low"),
            high=limits.get(f"{name}_high"),
        )
        for i, name in enumerate(REGISTERS)
    ]
    return ModbusConfig(registers=registers, poll_hz=1.0, window=WINDOW)


def healthy(rows: int, seed: int, start: int = 0) -> np.ndarray:
    """(rows, 3) healthy readings from sample `start` on, in REGISTERS order."""
    rng = np.random.default_rng(seed)
    t = np.arange(start, start + rows)
    flow = 40 + 2 * np.sin(2 * np.pi * t / 300) + rng.normal(0, 0.4, rows)
    temp = 55 + np.cumsum(rng.normal(0, 0.02, rows)) + rng.normal(0, 0.2, rows)
    current = 8 + 0.1 * flow + rng.normal(0, 0.1, rows)
    return np.column_stack([flow, temp, current])


def samples(values: np.ndarray, start: int = 0) -> list[Sample]:
    return [
        Sample(DEVICE, SENSE, float(start + i), dict(zip(REGISTERS, map(float, row), strict=True)))
        for i, row in enumerate(values)
    ]


def learn(values: np.ndarray, cfg: ModbusConfig) -> SensorLearner:
    learner = SensorLearner(DEVICE, cfg)
    for sample in samples(values):
        assert learner.observe(sample) is None
    return learner


def write_files(learned: Learned, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in learned.files.items():
        (folder / name).write_bytes(content)
    return folder


def through_json(learned: Learned) -> Learned:
    """What the runtime's card gives back: params and summary as JSON reads them."""
    card = json.loads(json.dumps({"params": learned.params, "summary": learned.summary}))
    return Learned(learned.sense, learned.samples, card["params"], card["summary"], learned.files)


def values_of(scorer: LearnedSensorScorer, rows: list[Sample]) -> np.ndarray:
    """Calibrated score of every sample once the judges have their medians' windows."""
    scores = [scorer.score(sample) for sample in rows]
    return np.array([s.value for s in scores[FIRST_JUDGED:] if s is not None])


@pytest.fixture(scope="module")
def learned() -> Learned:
    return learn(healthy(600, seed=1), config()).finish()


@pytest.fixture(scope="module")
def folder(learned: Learned, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_files(learned, tmp_path_factory.mktemp("card"))


@pytest.fixture
def scorer(learned: Learned, folder: Path) -> LearnedSensorScorer:
    return LearnedSensorScorer(DEVICE, config(), through_json(learned), folder)


def test_the_sensor_sense_learns_with_this_learner_and_scorer() -> None:
    assert SENSOR.learning is not None
    assert SENSOR.learning.learner is SensorLearner
    assert SENSOR.learning.scorer is LearnedSensorScorer


def test_no_shipped_model_is_involved(scorer: LearnedSensorScorer) -> None:
    assert config().anomaly is None
    assert scorer.models[0].startswith("sensor-learned@")


def test_healthy_continuation_stays_below_the_level(scorer: LearnedSensorScorer) -> None:
    values = values_of(scorer, samples(healthy(600, seed=2, start=600), start=600))
    assert values.size == 600 - FIRST_JUDGED
    # the bearing's temperature wanders (a random walk): 600 samples on, it has drifted about
    # two learnt spreads, so most windows sit in the learnt top few per cent; rarely beyond,
    # never alarming
    assert np.mean(values >= LEVEL) <= 0.05, np.quantile(values, [0.5, 0.9, 0.99])
    assert values.max() < ALARM


def test_a_warmer_bearing_scores_above_the_level(scorer: LearnedSensorScorer) -> None:
    """Beyond every learnt value an Isolation Forest's score stops growing; the register's
    distance from its learnt normal does not, so the departure crosses the alarm level."""
    continuation = healthy(600, seed=2, start=600)
    shift_at = 300
    continuation[shift_at:, REGISTERS.index("bearing_temp")] += 4.0  # ~20 noise stds
    rows = samples(continuation, start=600)
    scores = [scorer.score(sample) for sample in rows]
    settled = [s for s in scores[shift_at + 2 * WINDOW :] if s is not None]
    assert len(settled) == 300 - 2 * WINDOW
    assert np.mean([s.value >= ALARM for s in settled]) >= 0.9
    assert np.mean([s.value >= 0.9 for s in settled]) >= 0.6
    assert {s.label for s in settled} == {"bearing_temp"}
    before = [s.value for s in scores[WINDOW - 1 : shift_at] if s is not None]
    assert np.mean(before) < np.mean([s.value for s in settled])


def test_score_evidence_carries_raw_and_exceedance(scorer: LearnedSensorScorer) -> None:
    """Not before the medians are calibrated: the first windows alone would look extreme."""
    rows = samples(healthy(FIRST_JUDGED + 1, seed=3))
    assert all(scorer.score(sample) is None for sample in rows[:-1])
    score = scorer.score(rows[-1])
    assert score is not None and 0.0 <= score.value <= 1.0
    assert isinstance(score.evidence[RAW], float)
    assert score.evidence[EXCEEDANCE] == pytest.approx(1.0 - score.value)
    assert HARD_LIMIT not in score.evidence
    assert score.evidence["out_of_range"] == []  # the alarm schema requires it, even empty
    assert set(score.evidence["values"]) == set(REGISTERS)


def test_a_hard_limit_after_learning_scores_one(learned: Learned, folder: Path) -> None:
    cfg = config(bearing_temp_high=80.0)
    scorer = LearnedSensorScorer(DEVICE, cfg, through_json(learned), folder)
    hot = samples(np.array([[40.0, 85.0, 12.0]]))[0]
    score = scorer.score(hot)  # the window is not full: the limit alone speaks
    assert score is not None
    assert (score.value, score.label) == (1.0, "bearing_temp")
    assert score.evidence[HARD_LIMIT] == ["bearing_temp"]


def test_a_hard_limit_while_learning_alarms_and_refuses_learning() -> None:
    cfg = config(bearing_temp_high=80.0)
    values = healthy(600, seed=1)
    values[100, REGISTERS.index("bearing_temp")] = 85.0
    learner = SensorLearner(DEVICE, cfg)
    scores = [learner.observe(sample) for sample in samples(values)]
    alarms = [(i, s) for i, s in enumerate(scores) if s is not None]
    assert [i for i, _ in alarms] == [100]
    assert alarms[0][1].value == 1.0
    assert alarms[0][1].evidence[HARD_LIMIT] == ["bearing_temp"]
    assert any("bearing_temp" in p and "limits" in p for p in learner.problems())
    with pytest.raises(LearningRefused, match="bearing_temp") as refused:
        learner.finish()
    assert refused.value.sense == SENSE


def test_too_few_samples_are_refused() -> None:
    learner = learn(healthy(MIN_WINDOWS, seed=1), config())
    assert learner.progress() < 1.0
    assert any(f"{MIN_WINDOWS} needed" in p for p in learner.problems())
    with pytest.raises(LearningRefused, match="needed"):
        learner.finish()


def test_progress_reaches_one_with_enough_windows() -> None:
    learner = learn(healthy(MIN_WINDOWS + 2 * (WINDOW - 1), seed=1), config())
    assert learner.progress() == 1.0
    assert learner.problems() == []


def test_a_stuck_register_is_refused() -> None:
    values = healthy(600, seed=1)
    values[:, REGISTERS.index("motor_current")] = 12.0
    learner = learn(values, config())
    assert any("motor_current stayed at 12" in p for p in learner.problems())
    with pytest.raises(LearningRefused, match="motor_current"):
        learner.finish()


def test_samples_missing_a_register_are_refused() -> None:
    learner = learn(healthy(600, seed=1), config())
    learner.observe(Sample(DEVICE, SENSE, 0.0, {"flow": 40.0, "motor_current": 12.0}))
    assert any("bearing_temp" in p for p in learner.problems())
    with pytest.raises(LearningRefused):
        learner.finish()


def test_params_survive_json_and_the_scorer_scores_alike(
    learned: Learned, folder: Path, tmp_path: Path
) -> None:
    assert json.loads(json.dumps(learned.params)) == learned.params  # no tuples, no arrays
    json.dumps(learned.summary)
    assert set(learned.files) == {learned.params["model_file"]}
    rows = samples(healthy(100, seed=4))
    direct = LearnedSensorScorer(DEVICE, config(), learned, folder)
    copied = write_files(learned, tmp_path / "elsewhere")
    restored = LearnedSensorScorer(DEVICE, config(), through_json(learned), copied)
    assert np.array_equal(values_of(direct, rows), values_of(restored, rows))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_file": "../../etc/x.onnx"}, "not valid"),
        ({"registers": ["flow", "bearing_temp", "pressure"]}, "config has"),
        ({"scale": [1.0, 0.0, 1.0]}, "not valid"),
        ({"tail": {"quantiles": [1.0, 0.0]}}, "not valid"),
        ({"window": 8}, "window 8"),
        ({"drifting": ["pressure"]}, "not valid"),
        ({"drifting": REGISTERS}, "not valid"),
    ],
)
def test_a_tampered_card_is_refused(
    learned: Learned, folder: Path, change: dict[str, object], message: str
) -> None:
    bad = Learned(learned.sense, learned.samples, {**learned.params, **change}, {}, learned.files)
    with pytest.raises(ModelError, match=message):
        LearnedSensorScorer(DEVICE, config(), bad, folder)


def warming(rows: int, seed: int, start: int = 0) -> np.ndarray:
    """Healthy readings whose bearing warms steadily (0.5 °C every 100 s), as after a start."""
    values = healthy(rows, seed, start)
    t = np.arange(start, start + rows)
    values[:, REGISTERS.index("bearing_temp")] += 0.005 * t
    return values


@pytest.fixture(scope="module")
def learned_warming() -> Learned:
    return learn(warming(600, seed=1), config()).finish()


def test_registers_slow_for_their_jitter_are_drifting(
    learned: Learned, learned_warming: Learned
) -> None:
    """The flow swings over five minutes, far more than it jitters; the warming bearing
    trends; the current jitters around a level that follows the flow."""
    assert learned.params["drifting"] == ["flow"]
    assert learned_warming.params["drifting"] == ["flow", "bearing_temp"]
    shares = {n: r["jitter_share"] for n, r in learned_warming.summary["registers"].items()}
    assert max(shares["flow"], shares["bearing_temp"]) < 0.3 < shares["motor_current"]


@pytest.fixture
def warming_scorer(learned_warming: Learned, tmp_path: Path) -> LearnedSensorScorer:
    folder = write_files(learned_warming, tmp_path)
    return LearnedSensorScorer(DEVICE, config(), learned_warming, folder)


def test_a_drifting_register_warming_on_does_not_alarm(
    warming_scorer: LearnedSensorScorer,
) -> None:
    """An hour on, the bearing is 18 °C above its learnt median, ~60 learnt spreads: judged
    by its level, every window would alarm; judged as drifting, none does."""
    continuation = samples(warming(3600, seed=2, start=600), start=600)
    values = values_of(warming_scorer, continuation)
    assert values.max() < ALARM


def test_the_other_registers_are_still_judged_by_their_level(
    warming_scorer: LearnedSensorScorer,
) -> None:
    continuation = warming(600, seed=2, start=600)
    continuation[300:, REGISTERS.index("motor_current")] += 2.0  # ~20 noise stds
    scores = [warming_scorer.score(sample) for sample in samples(continuation, start=600)]
    settled = [s for s in scores[300 + 2 * WINDOW :] if s is not None]
    assert np.mean([s.value >= ALARM for s in settled]) >= 0.9
    assert {s.label for s in settled} == {"motor_current"}


def test_a_card_from_before_drifting_registers_judges_every_register(
    learned: Learned, folder: Path
) -> None:
    params = {key: value for key, value in learned.params.items() if key != "drifting"}
    old = Learned(learned.sense, learned.samples, params, {}, learned.files)
    assert LearnedForest.model_validate(params).judged().all()
    scorer = LearnedSensorScorer(DEVICE, config(), old, folder)
    assert values_of(scorer, samples(healthy(100, seed=4))).size == 100 - FIRST_JUDGED


@pytest.mark.parametrize("seed", [5, 25])
def test_a_short_learning_does_not_alarm_on_its_own_healthy_continuation(
    seed: int, tmp_path: Path
) -> None:
    """The fewest windows learning accepts, of white noise polled at 50 Hz: the windows overlap
    and the medians run over 15 of them, so the calibration's top tenth is a single excursion
    or two, too few to measure a tail by. The tails are floored by their body (HealthyTail.fit's
    `body_floor`), so a healthy continuation stays under a threshold of one false alarm a day.
    (Seeds whose excursions made unfloored tails alarm within seconds of healthy data: 25 the
    forest's, 5 the distance's, then fitted on the second half only.)"""
    rng = np.random.default_rng(seed)
    level, noise = np.array([40.0, 55.0, 12.0]), np.array([0.4, 0.2, 0.1])
    cfg = ModbusConfig(registers=config().registers, poll_hz=50.0, window=8)
    rows = MIN_WINDOWS + 2 * (8 - 1)  # the fewest learning accepts
    learned = learn(level + rng.normal(0.0, noise, (rows, 3)), cfg).finish()
    scorer = LearnedSensorScorer(DEVICE, cfg, learned, write_files(learned, tmp_path))
    continuation = samples(level + rng.normal(0.0, noise, (500, 3)))
    scores = [s.value for s in map(scorer.score, continuation) if s is not None]
    assert max(scores) < threshold_for(1.0, 50.0 * 86_400.0)


def slow_warming(rows: int, seed: int, start: int = 0) -> np.ndarray:
    """Healthy readings whose bearing warms by 0.05 °C a minute from `start` on: a slow change
    of the hall or the load that ten minutes of learning could not show."""
    values = healthy(rows, seed, start)
    values[:, REGISTERS.index("bearing_temp")] += 0.05 / 60.0 * np.arange(rows)
    return values


def test_the_distance_follows_a_slow_wander_it_did_not_learn(
    learned: Learned, folder: Path
) -> None:
    """Two hours on, the bearing is 6 °C (about 25 learnt spreads) above its learnt level:
    measured from the learning period's centre (a card without `follow_windows`) that
    alarms; from a reference following healthy levels it does not."""
    assert learned.params["follow_windows"] == round(FOLLOW_S)
    continuation = samples(slow_warming(7200, seed=2, start=600), start=600)
    following = LearnedSensorScorer(DEVICE, config(), learned, folder)
    assert values_of(following, continuation).max() < ALARM
    params = {key: value for key, value in learned.params.items() if key != "follow_windows"}
    fixed = LearnedSensorScorer(DEVICE, config(), Learned(SENSE, 600, params, {}, {}), folder)
    assert values_of(fixed, continuation).max() >= ALARM


def test_a_departure_held_longer_than_the_follow_time_keeps_alarming(
    scorer: LearnedSensorScorer,
) -> None:
    """The reference stops following while the distance's verdict is unusual, so a step is
    not learnt away however long it lasts."""
    held = round(10 * FOLLOW_S)  # samples at 1 Hz
    continuation = healthy(300 + held, seed=2, start=600)
    continuation[300:, REGISTERS.index("bearing_temp")] += 4.0  # ~20 noise stds
    scores = [scorer.score(sample) for sample in samples(continuation, start=600)]
    settled = np.array([s.value for s in scores[300 + 2 * WINDOW :] if s is not None])
    assert np.mean(settled >= ALARM) >= 0.9
    assert settled[-held // 2 :].min() >= ALARM
