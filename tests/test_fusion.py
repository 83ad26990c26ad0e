"""Fusion: the reference weights, renormalisation over fresh modalities, critical levels and
degraded operation (too few senses fresh)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.config.decision import DegradedConfig, FusionConfig
from agent.core.calibration import CalibratedFusion
from agent.core.fusion import Trigger, fuse
from agent.core.samples import HARD_LIMIT, Modality, Score
from agent.senses.registry import SENSES, default_weights

NOW = 1_000.0
ALL = list(SENSES)


def score(modality: Modality, value: float, age: float = 0.0, label: str = "x") -> Score:
    return Score("d1", modality, value, label, {}, captured_at=NOW - age, scored_at=NOW)


@pytest.mark.parametrize(
    ("img", "temp", "audio", "sensor"),
    [(0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0), (0.9, 0.2, 0.5, 0.7), (0.1, 0.8, 0.3, 0.0)],
)
def test_reference_weights(img: float, temp: float, audio: float, sensor: float) -> None:
    values = {"image": img, "temperature": temp, "audio": audio}
    values["sensor"] = sensor
    scores = {m: score(m, v) for m, v in values.items()}
    decision = fuse("d1", scores, FusionConfig(weights=default_weights()), ALL, NOW)
    expected = 0.4 * img + 0.3 * temp + 0.2 * audio + 0.1 * sensor
    assert decision.score == pytest.approx(expected, abs=1e-6)
    assert decision.alarm == (expected >= 0.3)
    assert decision.rule == ("weighted" if expected >= 0.3 else "none")
    assert not decision.stale


def test_stale_modality_is_dropped_and_weights_renormalised() -> None:
    scores = {
        "image": score("image", 0.5),
        "temperature": score("temperature", 0.9, age=60.0),
        "audio": score("audio", 0.2),
    }
    decision = fuse(
        "d1", scores, FusionConfig(weights=default_weights(), stale_after_s=10), ALL, NOW
    )
    # temperature too old, sensor never scored: image 0.4 and audio 0.2 share the weight
    assert decision.score == pytest.approx((0.4 * 0.5 + 0.2 * 0.2) / 0.6)
    assert set(decision.stale) == {"temperature", "sensor"}
    views = decision.modalities
    assert views["image"].effective_weight == pytest.approx(0.4 / 0.6)
    assert views["temperature"].reason is not None
    assert "old" in views["temperature"].reason
    assert views["sensor"].reason == "no score yet"
    assert sum(v.effective_weight for v in views.values()) == pytest.approx(1.0)


def test_failed_modality_is_dropped_with_its_reason() -> None:
    scores = {m: score(m, 1.0 if m == "image" else 0.5) for m in ALL}  # its last score high
    decision = fuse(
        "d1",
        scores,
        FusionConfig(weights=default_weights()),
        ALL,
        NOW,
        failed={"image": "no frames"},
    )
    assert decision.modalities["image"].stale
    assert decision.modalities["image"].reason == "no frames"
    assert decision.modalities["image"].effective_weight == 0
    assert decision.score == pytest.approx(0.5)  # the image's 1.0 left out


def test_sensor_alone_cannot_alarm_but_its_critical_level_can() -> None:
    scores = {m: score(m, 0.0) for m in ALL}
    scores["sensor"] = score("sensor", 1.0, label="pressure")
    assert not fuse("d1", scores, FusionConfig(weights=default_weights()), ALL, NOW).alarm

    config = FusionConfig(weights=default_weights(), critical={"sensor": 0.95})
    decision = fuse("d1", scores, config, ALL, NOW)
    assert decision.alarm
    assert decision.rule == "critical:sensor"
    assert decision.type == "pressure"
    assert decision.score == pytest.approx(0.1)


def test_type_is_the_top_contributor() -> None:
    scores = {
        "image": score("image", 0.6, label="scratches"),
        "temperature": score("temperature", 0.7, label="hot_spot"),
    }
    decision = fuse(
        "d1", scores, FusionConfig(weights=default_weights()), ["image", "temperature"], NOW
    )
    assert decision.type == "scratches"  # 0.4*0.6 > 0.3*0.7


def test_no_fresh_data_means_no_alarm() -> None:
    decision = fuse("d1", {}, FusionConfig(weights=default_weights()), ALL, NOW)
    assert decision.rule == "no_data"
    assert not decision.alarm
    assert decision.score == 0.0
    assert decision.captured_at is None


def test_captured_at_is_the_earliest_fresh_capture() -> None:
    scores = {
        "image": score("image", 0.1, age=2.0),
        "audio": score("audio", 0.1, age=1.0),
    }
    decision = fuse("d1", scores, FusionConfig(weights=default_weights()), ALL, NOW)
    assert decision.captured_at == NOW - 2.0


def test_the_trigger_is_the_prompting_sense_not_the_newest_nor_the_oldest_capture() -> None:
    scores = {
        "image": score("image", 0.1, age=2.0),
        "temperature": score("temperature", 0.1, age=0.5),  # the newest capture
        "audio": score("audio", 0.1, age=1.0),  # scored last: its score prompts the decision
    }
    config = FusionConfig(weights=default_weights())
    decision = fuse("d1", scores, config, ALL, NOW, trigger="audio")
    assert decision.trigger == Trigger("audio", NOW - 1.0)
    assert decision.captured_at == NOW - 2.0  # still the evidence's age


def test_a_decision_the_clock_prompts_is_timed_from_the_newest_fresh_capture() -> None:
    scores = {"image": score("image", 0.1, age=2.0), "audio": score("audio", 0.1, age=0.5)}
    config = FusionConfig(weights=default_weights())
    assert fuse("d1", scores, config, ALL, NOW).trigger == Trigger("audio", NOW - 0.5)
    stale = {**scores, "sensor": score("sensor", 0.1, age=99.0)}  # prompted, but stale
    assert fuse("d1", stale, config, ALL, NOW, trigger="sensor").trigger == Trigger(
        "audio", NOW - 0.5
    )
    assert fuse("d1", {}, config, ALL, NOW, trigger="image").trigger is None


THREE = ["image", "temperature", "audio"]


def test_one_sense_left_of_three_does_not_alarm_on_a_moderate_score() -> None:
    scores = {
        "image": score("image", 0.5, label="scratches"),
        "temperature": score("temperature", 0.9, age=60.0),
    }
    decision = fuse("d1", scores, FusionConfig(weights=default_weights()), THREE, NOW)
    # renormalised, the camera alone scores 0.5 ≥ 0.3: reached, but not enough on its own
    assert decision.score == pytest.approx(0.5)
    assert (decision.alarm, decision.rule, decision.present) == (False, "degraded", ("image",))
    assert set(decision.stale) == {"temperature", "audio"}

    scores["image"] = score("image", 0.2)
    assert fuse("d1", scores, FusionConfig(weights=default_weights()), THREE, NOW).rule == "none"


def test_one_sense_left_alarms_through_its_critical_level() -> None:
    scores = {"image": score("image", 0.95, label="scratches")}
    config = FusionConfig(weights=default_weights(), critical={"image": 0.9})
    decision = fuse("d1", scores, config, THREE, NOW)
    assert (decision.alarm, decision.rule, decision.type) == (True, "critical:image", "scratches")
    assert decision.present == ("image",)


def test_min_senses_present_decide_by_the_weighted_rule() -> None:
    scores = {"image": score("image", 0.5), "audio": score("audio", 0.1)}
    decision = fuse("d1", scores, FusionConfig(weights=default_weights()), THREE, NOW)
    assert (decision.alarm, decision.rule) == (True, "weighted")
    assert decision.present == ("image", "audio")

    strict = FusionConfig(weights=default_weights(), degraded=DegradedConfig(min_senses=3))
    assert fuse("d1", scores, strict, THREE, NOW).rule == "degraded"
    # a device that weighs two senses needs both, not three
    assert fuse("d1", scores, strict, ["image", "audio"], NOW).rule == "weighted"
    lenient = FusionConfig(weights=default_weights(), degraded=DegradedConfig(min_senses=1))
    assert fuse("d1", {"image": score("image", 0.5)}, lenient, THREE, NOW).alarm


@pytest.mark.parametrize(
    ("configured", "weights"),
    [
        (["image"], default_weights()),  # one sense configured
        (["image", "sensor"], {"image": 1.0}),  # the stale one is not weighed: critical only
    ],
)
def test_a_device_that_weighs_one_sense_is_not_degraded(
    configured: list[Modality], weights: dict[str, float]
) -> None:
    config = FusionConfig(weights=weights, critical={"sensor": 0.9})
    decision = fuse("d1", {"image": score("image", 0.3)}, config, configured, NOW)
    assert (decision.alarm, decision.rule, decision.present) == (True, "weighted", ("image",))


def test_min_senses_is_at_least_one_and_alone_factor_at_least_one() -> None:
    with pytest.raises(ValidationError):
        DegradedConfig(min_senses=0)
    with pytest.raises(ValidationError):
        DegradedConfig(alone_factor=0.5)


@pytest.mark.parametrize(
    ("rarer", "rule"), [(0.5, "none"), (2.0, "degraded"), (99.0, "degraded"), (101.0, "calibrated")]
)
def test_one_calibrated_sense_left_alarms_only_alone_factor_times_rarer(
    rarer: float, rule: str
) -> None:
    calibrated = CalibratedFusion.for_target(1.0, {m: 1.0 for m in THREE})
    exceedance = (1 - calibrated.threshold) / rarer  # equal rates: each sense's share is 1
    scores = {"audio": score("audio", 1 - exceedance, label="outer_race")}
    config = FusionConfig(weights=default_weights())  # alone_factor 100
    decision = fuse("d1", scores, config, THREE, NOW, calibrated=calibrated)
    assert (decision.rule, decision.alarm) == (rule, rule == "calibrated")
    assert decision.threshold == pytest.approx(1 - (1 - calibrated.threshold) / 100, abs=1e-15)
    assert decision.present == ("audio",)

    # with a second sense present, the same score is judged at the device's threshold
    scores["image"] = score("image", 0.5)
    both = fuse("d1", scores, config, THREE, NOW, calibrated=calibrated)
    assert both.threshold == calibrated.threshold
    assert both.alarm == (rarer >= 1)


@pytest.mark.parametrize(
    ("broken", "others"),
    [("temperature", []), ("sensor", ["image", "temperature", "audio"])],
    ids=["alone-while-the-others-learn", "light-sensor-beside-quiet-senses"],
)
def test_a_hard_limit_alarms_on_its_own_whatever_the_weights(
    broken: Modality, others: list[Modality]
) -> None:
    """No `critical` configured: the critical temperature breached while the other senses
    learn (degraded), or a register past its high on a sensor weighing 0.1 beside three quiet
    senses, still alarms, as a critical rule of that sense."""
    hot = Score("d1", broken, 1.0, "x", {HARD_LIMIT: ["limit"]}, NOW, NOW)
    scores = {broken: hot, **{m: score(m, 0.0) for m in others}}
    decision = fuse("d1", scores, FusionConfig(weights=default_weights()), ALL, NOW)
    assert (decision.alarm, decision.rule, decision.top) == (True, f"critical:{broken}", broken)
    without = {**scores, broken: score(broken, 1.0)}  # the same score, no limit broken
    assert not fuse("d1", without, FusionConfig(weights=default_weights()), ALL, NOW).alarm
