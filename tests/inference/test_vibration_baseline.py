"""The learned healthy baseline of a machine's vibration or sound, and its calibrated score."""

from __future__ import annotations

import numpy as np

from agent.senses.audio.baseline import VibrationBaseline, band_edges, vibration_features

RATE = 25_600


def noise(n: int, seed: int, level: float = 0.3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [level * rng.standard_normal(2560) for _ in range(n)]


def test_features_follow_the_sample_rate() -> None:
    assert len(vibration_features(noise(1, 0)[0], RATE)) == 1 + len(band_edges(RATE))
    assert len(band_edges(8_000)) < len(band_edges(RATE))  # bands above 4 kHz dropped


def test_healthy_windows_stay_low_and_a_fault_scores_far_in_the_tail() -> None:
    baseline = VibrationBaseline.learn(noise(200, 1), RATE)
    healthy = [baseline.score(w) for w in noise(200, 2)]
    assert np.mean(np.array(healthy) > 0.999) < 0.02
    t = np.arange(2560) / RATE
    impacts = noise(1, 3)[0] + 2.0 * (np.sin(2 * np.pi * 4_000 * t) > 0.99)  # a 4 kHz knock
    louder = 4.0 * noise(1, 4)[0]
    assert baseline.score(impacts) > 0.9999
    assert baseline.score(louder) > 0.9999
