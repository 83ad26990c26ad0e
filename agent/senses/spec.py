"""What the agent must know about one sense, in one record: the registry holds one per sense."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.config.base import StrictModel
from agent.core.samples import Sample, Score
from agent.senses.learning import LearningSpec
from agent.senses.scorer import Scorer
from agent.senses.source import Source

Renderer = Callable[[Sequence[Sample], Score, Any], bytes]


def no_readings(score: Score | None) -> dict[str, Any]:
    """A sense whose raw values are not charted on their own."""
    return {}


def no_conflicts(sections: Mapping[str, Any]) -> list[str]:
    """A sense whose devices share nothing: any set of sections goes together."""
    return []


@dataclass(frozen=True, slots=True)
class EvidenceSpec:
    """How a sense's evidence file is named, typed and drawn (see docs/mqtt.md, evidence)."""

    kind: str  # the file's kind: last level of its evidence and snapshot topics
    media_type: str
    extension: str
    render: Renderer  # (samples behind the score, the score, the sense's config) -> bytes
    window: int = 1  # scored samples kept for the evidence (the newest last)
    snapshot: bool = False  # also published as the device's retained live snapshot


@dataclass(frozen=True, slots=True)
class SenseSpec:
    """One sense: its one name, its config section, and the parts that serve it."""

    name: str  # fusion weights, payload keys, metric labels and the dashboard all use this
    title: str  # what the dashboard calls it on screen (camera, thermal, sound, Modbus)
    source_key: str  # its key under a device's `sources:`: the hardware that feeds it
    config: type[StrictModel]
    source: Callable[[str, Any], Source]  # (device id, config section) -> Source
    scorer: Callable[[str, Any], Scorer]  # (device id, config section) -> Scorer
    evidence: EvidenceSpec
    default_weight: float  # relative; fusion renormalises over the senses present
    colour: str  # the dashboard's colour for this sense
    readings: Callable[[Score | None], dict[str, Any]] = no_readings  # for the state's charts
    # ({device id: its section} of every device with this sense) -> config errors, for what
    # devices share (one serial port: one baudrate)
    across_devices: Callable[[Mapping[str, Any]], list[str]] = no_conflicts
    learning: LearningSpec | None = None  # how it learns this machine's normal on site


def sense_view(spec: SenseSpec) -> dict[str, Any]:
    """What a user interface needs to know of a sense (the dashboard's /api/senses)."""
    return {
        "name": spec.name,
        "title": spec.title,
        "colour": spec.colour,
        "evidence_kind": spec.evidence.kind,
        "media_type": spec.evidence.media_type,
        "snapshot": spec.evidence.snapshot,
    }
