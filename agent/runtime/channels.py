"""A device's channels: for each configured sense, its source and the scorer of its samples."""

from __future__ import annotations

from dataclasses import dataclass

from agent.config.device import DeviceConfig
from agent.senses.registry import SENSES
from agent.senses.scorer import Scorer
from agent.senses.source import Source


@dataclass(frozen=True, slots=True)
class Channel:
    """A source and the scorer that judges its samples."""

    source: Source
    scorer: Scorer


def build_channels(device: DeviceConfig) -> dict[str, Channel]:
    """Instantiate every configured source with its scorer (loads the ONNX models)."""
    return {
        name: Channel(
            source=SENSES[name].source(device.id, section),
            scorer=SENSES[name].scorer(device.id, section),
        )
        for name, section in device.sources.configured().items()
    }
