"""The state payload's raw readings, which the dashboard draws as trends."""

from __future__ import annotations

from agent.config.decision import FusionConfig
from agent.core.fusion import fuse
from agent.core.payload import encode, state_payload
from agent.core.samples import Score
from agent.senses.registry import SENSES, default_weights, readings

NOW = 1_000.0


def test_state_carries_max_temperature_and_modbus_values() -> None:
    scores = {
        "temperature": Score("d1", "temperature", 0.6, "hot_spot",
                                    {"max_c": 76.2, "mean_c": 30.0}, NOW, NOW),
        "sensor": Score("d1", "sensor", 0.1, "Current",
                               {"values": {"Current": 3.1, "Pressure": 0.4}}, NOW, NOW),
    }  # fmt: skip
    decision = fuse("d1", scores, FusionConfig(weights=default_weights()), list(SENSES), NOW)
    payload = state_payload(decision, None, {}, readings(decision.scores))
    assert payload["readings"] == {"max_temp_c": 76.2, "sensor": {"Current": 3.1, "Pressure": 0.4}}
    encode(payload)  # still plain JSON


def test_readings_are_empty_without_those_modalities() -> None:
    scores = {"image": Score("d1", "image", 0.2, "none", {}, NOW, NOW)}
    decision = fuse("d1", scores, FusionConfig(weights=default_weights()), list(SENSES), NOW)
    assert state_payload(decision, None, {}, readings(decision.scores))["readings"] == {
        "max_temp_c": None,
        "sensor": {},
    }
