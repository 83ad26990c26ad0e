"""Explicit registry: which Source and Scorer serve each source kind of the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.config import DeviceConfig
from agent.core.samples import SOURCE_MODALITY, Modality
from agent.senses.audio.scorer import SoundScorer
from agent.senses.audio.source import MicrophoneSource
from agent.senses.image.scorer import DetectorScorer
from agent.senses.image.source import CameraSource
from agent.senses.scorer import Scorer
from agent.senses.sensor.scorer import SensorScorer
from agent.senses.sensor.source import ModbusSource
from agent.senses.source import Source
from agent.senses.temperature.scorer import TemperatureScorer
from agent.senses.temperature.source import InfraredSource

BUILDERS: dict[str, tuple[Any, Any]] = {
    "camera": (CameraSource, DetectorScorer),
    "infrared": (InfraredSource, TemperatureScorer),
    "microphone": (MicrophoneSource, SoundScorer),
    "modbus": (ModbusSource, SensorScorer),
}


@dataclass(frozen=True, slots=True)
class Channel:
    """A source and the scorer that judges its samples."""

    source: Source
    scorer: Scorer


def build_channels(device: DeviceConfig) -> dict[Modality, Channel]:
    """Instantiate every configured source with its scorer (loads the ONNX models)."""
    channels: dict[Modality, Channel] = {}
    for kind, config in device.sources:
        if config is None:
            continue
        source_cls, scorer_cls = BUILDERS[kind]
        channels[SOURCE_MODALITY[kind]] = Channel(
            source=source_cls(device.id, config), scorer=scorer_cls(device.id, config)
        )
    return channels
