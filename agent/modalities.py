"""Explicit registry: which Source and Scorer serve each source kind of the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.config import DeviceConfig
from agent.inference.base import Scorer
from agent.inference.detector import DetectorScorer
from agent.inference.sensor import SensorScorer
from agent.inference.sound import SoundScorer
from agent.inference.temperature import TemperatureScorer
from agent.samples import SOURCE_MODALITY, Modality
from agent.sources.base import Source
from agent.sources.camera import CameraSource
from agent.sources.microphone import MicrophoneSource
from agent.sources.modbus import ModbusSource
from agent.sources.thermal import InfraredSource

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
