"""The learned vibration baseline: level rises only, and a JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.senses.audio.baseline import VibrationBaseline

RATE = 25_600


def windows(n: int, seed: int, level: float = 0.3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [level * rng.standard_normal(2560) for _ in range(n)]


def test_only_a_rise_departs_a_quieter_machine_does_not() -> None:
    baseline = VibrationBaseline.learn(windows(100, 1), RATE)
    assert baseline.raw(windows(1, 2, level=0.1)[0]) == 0.0
    assert baseline.raw(windows(1, 3, level=0.6)[0]) > 10.0  # +6 dB over a ~0.4 dB spread
    assert baseline.score(windows(1, 3, level=0.6)[0]) > 0.9999


def test_json_round_trip_gives_the_same_baseline() -> None:
    baseline = VibrationBaseline.learn(windows(60, 4), RATE)
    again = VibrationBaseline.from_json(json.loads(json.dumps(baseline.to_json())))
    assert again == baseline
    probe = windows(1, 5, level=0.4)[0]
    assert again.score(probe) == baseline.score(probe)


def test_from_json_refuses_what_does_not_fit() -> None:
    data = VibrationBaseline.learn(windows(60, 6), RATE).to_json()
    with pytest.raises(ValueError, match="features"):
        VibrationBaseline.from_json({**data, "centre": data["centre"][:-1]})
    with pytest.raises(ValueError, match="not a vibration baseline"):
        VibrationBaseline.from_json({**data, "tail": {}})
