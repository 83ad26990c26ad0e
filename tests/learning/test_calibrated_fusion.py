"""Calibrated fusion: the device alarms when one sense is as rare as the target asks for."""

from __future__ import annotations

import pytest

from agent.config.decision import AlarmConfig, FusionConfig
from agent.core.alarms import severity
from agent.core.calibration import SECONDS_PER_DAY, CalibratedFusion
from agent.core.fusion import fuse
from agent.core.samples import Score


def score(sense: str, value: float, label: str = "x") -> Score:
    return Score("d", sense, value, label, {}, 100.0, 100.0)


def test_the_threshold_is_one_target_crossing_a_day_over_all_samples() -> None:
    calibrated = CalibratedFusion.for_target(2.0, {"audio": 1.0, "sensor": 3.0})
    assert calibrated.threshold == pytest.approx(1 - 2.0 / (4.0 * SECONDS_PER_DAY))
    assert calibrated.shares == {"audio": 0.5, "sensor": 1.5}


@pytest.mark.parametrize("sense", ["audio", "sensor"])
def test_a_sense_alarms_exactly_at_its_share_of_the_target(sense: str) -> None:
    rates = {"audio": 1.0, "sensor": 3.0}
    calibrated = CalibratedFusion.for_target(2.0, rates)
    # each sense may cross target / K times a day: ε = target / (K · n_s)
    at_limit = 2.0 / (2 * rates[sense] * SECONDS_PER_DAY)
    other = "sensor" if sense == "audio" else "audio"
    below, top = calibrated.fused({sense: 1 - at_limit * 1.01, other: 0.5})
    above, _ = calibrated.fused({sense: 1 - at_limit * 0.99, other: 0.5})
    assert top == sense
    assert below < calibrated.threshold <= above
    alone = calibrated.sense_threshold(sense)  # what the card tells of this sense
    assert alone == pytest.approx(1 - at_limit, rel=1e-12)


def test_fusion_uses_the_calibrated_rule_and_leaves_out_weight_zero() -> None:
    config = FusionConfig(weights={"audio": 1.0, "sensor": 0.0}, stale_after_s=10)
    calibrated = CalibratedFusion.for_target(1.0, {"audio": 1.0, "sensor": 1.0})
    scores = {"audio": score("audio", 0.5), "sensor": score("sensor", 1.0, "limit")}
    quiet = fuse("d", scores, config, ["audio", "sensor"], 101.0, calibrated=calibrated)
    assert (quiet.rule, quiet.alarm, quiet.calibrated) == ("none", False, True)
    scores["audio"] = score("audio", 1 - 1e-9, "outer_race")
    loud = fuse("d", scores, config, ["audio", "sensor"], 101.0, calibrated=calibrated)
    assert (loud.rule, loud.alarm, loud.type) == ("calibrated", True, "outer_race")
    assert loud.threshold == calibrated.threshold and loud.score > 1 - 1e-8


@pytest.mark.parametrize(("rarer", "level"), [(2, "warning"), (20, "major"), (200, "critical")])
def test_calibrated_severity_counts_how_much_rarer_than_the_threshold(
    rarer: float, level: str
) -> None:
    calibrated = CalibratedFusion.for_target(1.0, {"audio": 1.0})
    exceedance = (1 - calibrated.threshold) / rarer
    config = FusionConfig(weights={"audio": 1.0})
    decision = fuse("d", {"audio": score("audio", 1 - exceedance)}, config, ["audio"], 101.0,
                    calibrated=calibrated)  # fmt: skip
    assert decision.alarm and severity(decision, AlarmConfig()) == level
