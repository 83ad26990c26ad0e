"""The published alarm schema, the dashboard and the config all list the senses of the registry."""

from __future__ import annotations

import json
from pathlib import Path

from agent.senses.registry import SENSES, default_weights
from agent.senses.schema import alarm_schema

SHIPPED = Path(__file__).resolve().parents[1] / "agent" / "schemas" / "alarm.schema.json"


def test_the_shipped_schema_is_what_the_registry_makes_of_it() -> None:
    assert json.loads(SHIPPED.read_text()) == alarm_schema()


def test_the_schema_enums_name_every_sense_and_evidence_kind() -> None:
    properties = alarm_schema()["properties"]
    assert properties["modalities"]["propertyNames"]["enum"] == list(SENSES)
    kinds = properties["evidence_files"]["items"]["properties"]["kind"]["enum"]
    assert kinds == [spec.evidence.kind for spec in SENSES.values()]


def test_one_name_per_sense_and_distinct_keys() -> None:
    for name, spec in SENSES.items():
        assert spec.name == name
    for field in ("source_key", "title", "colour"):
        values = [getattr(spec, field) for spec in SENSES.values()]
        assert len(set(values)) == len(values), field
    assert len({spec.evidence.kind for spec in SENSES.values()}) == len(SENSES)


def test_default_weights_come_from_the_registry() -> None:
    assert default_weights() == {"image": 0.4, "temperature": 0.3, "audio": 0.2, "sensor": 0.1}
