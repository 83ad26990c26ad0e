"""The demo's shipped learned versions stay valid: each builds a learned scorer for every sense
(none falls back to a shipped one), and learning again from the bundled recordings gives them
back, so a change to a learner's params fails here rather than quietly in the demo."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytest

from agent.apps.demo.baselines import HEALTHY_S, REASON, SHIPPED, install, replay
from agent.core.samples import Sample
from agent.learning.scorers import learned_scorers
from agent.learning.store import LearnedStore
from agent.senses.temperature.learn import relative_c
from agent.senses.temperature.reading import read_frame
from tools.make_demo_learned import demo_devices, learn

# Numbers are compared to a relative RELATIVE, but those the image sense learned to
# RELATIVE_IMAGE: it learns from the detector's float32 confidences, which ONNX Runtime and
# OpenCV builds and CPUs compute a little apart: 3.6e-6 relative between the install the
# shipped versions were learned with and a later one, 5.7e-5 on an AMD EPYC (2026-12-07) for
# healthy frames' confidences near 1e-3, the network's float32 error on a small sigmoid. A
# change to what a learner keeps moves them by far more than 1e-3.
RELATIVE = 1e-5
RELATIVE_IMAGE = 1e-3
IMAGE_PATH = ".senses.image."


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where two JSON-like values differ, numbers compared to a relative RELATIVE (the image
    sense's to RELATIVE_IMAGE)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        keys = expected.keys() | actual.keys()
        return [d for k in sorted(keys) for d in differences(
            expected.get(k), actual.get(k), f"{path}.{k}")]  # fmt: skip
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for d in differences(e, a, f"{path}[{i}]")]  # fmt: skip
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers):
        tolerance = RELATIVE_IMAGE if path.startswith(IMAGE_PATH) else RELATIVE
        same = math.isclose(expected, actual, rel_tol=tolerance, abs_tol=1e-12)
    else:
        same = expected == actual
    return [] if same else [f"{path}: shipped {expected!r}, learned now {actual!r}"]


def test_every_shipped_version_builds_a_learned_scorer_for_every_sense(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install(tmp_path)  # as the demo does at start
    store = LearnedStore(tmp_path)
    for device in demo_devices():
        card = store.card(device.id)
        assert card is not None and card.reason == REASON
        with caplog.at_level(logging.WARNING):
            scorers = learned_scorers(device, card, store)
        assert set(scorers) == set(device.sources.configured()) == set(card.senses)
    assert [r.getMessage() for r in caplog.records] == []


def test_pump_01_learned_none_of_its_fault() -> None:
    (pump,) = [device for device in demo_devices() if device.id == "pump-01"]
    card = LearnedStore(SHIPPED).card(pump.id)
    assert card is not None
    # a device's `sources` fields are built from the sense registry at run time: mypy sees none
    config = pump.sources.infrared  # type: ignore[attr-defined]
    frames = replay(config, SHIPPED, healthy_s=None)  # its whole loop, one frame a second
    after = range(round(HEALTHY_S[pump.id]) + 1, 60)  # the hot spot rises from 20 s on
    peaks = [relative_c(read_frame(Sample(pump.id, "temperature", 0.0, frames.data(k)), config))
             for k in after]  # fmt: skip
    assert min(peaks) > card.senses["temperature"].summary["relative_c"]["p100"]


@pytest.mark.slow
def test_learning_again_from_the_bundled_recordings_gives_the_shipped_versions(
    tmp_path: Path,
) -> None:
    shipped = LearnedStore(SHIPPED)
    for device, card in learn(tmp_path).items():
        expected = shipped.card(device)
        assert expected is not None
        assert differences(expected.model_dump(), card.model_dump()) == [], device
