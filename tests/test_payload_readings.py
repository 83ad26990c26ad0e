"""The state payload's raw readings, which the dashboard draws as trends."""

from __future__ import annotations

from agent.config import FusionConfig
from agent.core.fusion import fuse
from agent.core.payload import encode, state_payload
from agent.core.samples import Modality, Score

NOW = 1_000.0


def test_state_carries_max_temperature_and_modbus_values() -> None:
    scores = {
        Modality.TEMPERATURE: Score("d1", Modality.TEMPERATURE, 0.6, "hot_spot",
                                    {"max_c": 76.2, "mean_c": 30.0}, NOW, NOW),
        Modality.SENSOR: Score("d1", Modality.SENSOR, 0.1, "Current",
                               {"values": {"Current": 3.1, "Pressure": 0.4}}, NOW, NOW),
    }  # fmt: skip
    decision = fuse("d1", scores, FusionConfig(), list(Modality), NOW)
    payload = state_payload(decision, None, {})
    assert payload["readings"] == {"max_temp_c": 76.2, "sensor": {"Current": 3.1, "Pressure": 0.4}}
    encode(payload)  # still plain JSON


def test_readings_are_empty_without_those_modalities() -> None:
    scores = {Modality.IMAGE: Score("d1", Modality.IMAGE, 0.2, "none", {}, NOW, NOW)}
    decision = fuse("d1", scores, FusionConfig(), list(Modality), NOW)
    assert state_payload(decision, None, {})["readings"] == {"max_temp_c": None, "sensor": {}}
