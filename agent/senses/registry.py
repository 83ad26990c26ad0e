"""The registry of senses: one SenseSpec per sense, in one place.

Everything that lists the senses reads this: the config's `sources:` keys, fusion's default
weights, the evidence kinds, the JSON schema's enums, metric labels and the dashboard. A new
sense is one folder under agent/senses/ and one line here.
"""

from __future__ import annotations

from typing import Any

from agent.core.samples import Score
from agent.senses.audio import AUDIO
from agent.senses.image import IMAGE
from agent.senses.sensor import SENSOR
from agent.senses.spec import SenseSpec
from agent.senses.temperature import TEMPERATURE

SENSES: dict[str, SenseSpec] = {spec.name: spec for spec in (IMAGE, TEMPERATURE, AUDIO, SENSOR)}


def readings(scores: dict[str, Score]) -> dict[str, Any]:
    """Raw readings behind the latest scores (max temperature, Modbus values), for charts."""
    merged: dict[str, Any] = {}
    for name, spec in SENSES.items():
        merged.update(spec.readings(scores.get(name)))
    return merged


def default_weights() -> dict[str, float]:
    """Each sense's default fusion weight (relative: fusion renormalises over those present)."""
    return {name: spec.default_weight for name, spec in SENSES.items()}
