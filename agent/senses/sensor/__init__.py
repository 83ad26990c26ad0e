"""The sensor sense: Modbus registers judged by an Isolation Forest (shipped, or learnt on
the device) and their limits."""

from typing import Any

from agent.core.samples import Score
from agent.senses.learning import LearningSpec
from agent.senses.sensor.config import SENSE, ModbusConfig, shared_port_conflicts
from agent.senses.sensor.evidence import sensor_json
from agent.senses.sensor.learn import SensorLearner
from agent.senses.sensor.learned import LearnedSensorScorer
from agent.senses.sensor.scorer import SensorScorer
from agent.senses.sensor.source import ModbusSource
from agent.senses.spec import EvidenceSpec, SenseSpec

EVIDENCE_WINDOW = 120  # Modbus readings kept for the sensor window evidence


def register_values(score: Score | None) -> dict[str, Any]:
    """The latest value of every register, for the Modbus charts."""
    return {"sensor": dict(score.evidence.get("values", {})) if score else {}}


SENSOR = SenseSpec(
    name=SENSE,
    title="Modbus",
    source_key="modbus",
    config=ModbusConfig,
    source=ModbusSource,
    scorer=SensorScorer,
    evidence=EvidenceSpec(
        "sensor", "application/json", ".json", sensor_json, window=EVIDENCE_WINDOW
    ),
    default_weight=0.1,
    colour="#aed581",
    readings=register_values,
    across_devices=shared_port_conflicts,
    learning=LearningSpec(SensorLearner, LearnedSensorScorer),
)
