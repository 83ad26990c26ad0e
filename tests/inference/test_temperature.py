"""Temperature scorer on calibrated frames."""

from __future__ import annotations

import pytest

from agent.core.samples import HARD_LIMIT, Sample
from agent.senses.temperature.config import InfraredConfig
from agent.senses.temperature.scorer import TemperatureScorer
from tests.support.thermal_frames import CENTI_KELVIN, frame_with_spot

CONFIG = InfraredConfig.model_validate(
    {
        "uri": "unused",
        "calibration": CENTI_KELVIN,
        "hot_threshold_c": 60.0,
        "scorer": {"warn_c": 60.0, "limit_c": 90.0},
    }
)


def score(ambient: float, spot: float | None) -> tuple[float, str, dict[str, object]]:
    sample = Sample("pump-01", "temperature", 1.0, frame_with_spot(ambient, spot))
    result = TemperatureScorer("pump-01", CONFIG).score(sample)
    return result.value, result.label, result.evidence


def test_ambient_frame_scores_zero() -> None:
    value, label, evidence = score(30.0, None)
    assert value == 0.0
    assert label == "none"
    assert evidence["regions"] == []
    assert evidence["max_c"] == pytest.approx(30.0, abs=1.5)


def test_score_rises_linearly_between_warn_and_limit() -> None:
    value, label, evidence = score(30.0, 75.0)
    assert label == "hot_spot"
    assert value == pytest.approx(0.5, abs=0.02)
    regions = evidence["regions"]
    assert isinstance(regions, list)
    assert regions[0]["max_c"] == pytest.approx(75.0, abs=0.5)


def test_beyond_limit_saturates_at_one_and_breaks_the_hard_limit() -> None:
    value, _, evidence = score(30.0, 140.0)
    assert value == 1.0
    assert evidence[HARD_LIMIT] == ["limit_c"]  # the critical temperature alarms on its own
    assert HARD_LIMIT not in score(30.0, 85.0)[2]
