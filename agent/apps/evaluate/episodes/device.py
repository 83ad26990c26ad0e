"""The device config an episode runs under: its streams as sources, the shipped models, the
episode's thermal calibration, and the fusion (and learning target) of `--fusion FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from agent.apps.evaluate import SHIPPED_MODELS
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.episodes.format import EPISODE_FILE, Episode, RegisterTable, describe
from agent.config.base import MAX_RATE_HZ, MIN_RATE_HZ, StrictModel
from agent.config.decision import AlarmConfig, FusionConfig
from agent.config.device import DeviceConfig
from agent.config.learning import LearningConfig
from agent.config.loader import ConfigError, parse_yaml, read_config_file
from agent.inference.loading import load_session
from agent.inference.metadata import ModelMetadata
from agent.inference.session import ModelError
from agent.senses.audio.config import SENSE as AUDIO
from agent.senses.image.config import SENSE as IMAGE
from agent.senses.registry import SENSES
from agent.senses.sensor.config import SENSE as SENSOR
from agent.senses.temperature.config import SENSE as TEMPERATURE

REGISTER_WORDS = 2  # each register column becomes a float32: two Modbus words
TARGET = "target_false_alarms_per_day"


class DecisionSettings(StrictModel):
    """`--fusion FILE`: a device's `fusion` section and, optionally, its `alarm` section (e.g.
    an on-delay) and `learning`'s target (the episode's learn_s decides whether and how long
    it learns)."""

    fusion: FusionConfig = Field(default_factory=FusionConfig)
    alarm: AlarmConfig = Field(default_factory=AlarmConfig)
    learning: LearningConfig = LearningConfig()

    @field_validator("learning", mode="before")
    @classmethod
    def _target_only(cls, value: Any) -> Any:
        if isinstance(value, dict) and set(value) - {TARGET}:
            raise ValueError(f"only {TARGET} may be set: learn_s of each episode sets the rest")
        return value


def read_settings(path: Path | None) -> DecisionSettings:
    """The `--fusion` file, or the agent's defaults without one."""
    if path is None:
        return DecisionSettings()
    try:
        document = parse_yaml(read_config_file(path), str(path))
    except ConfigError as exc:
        raise DatasetError(f"{path}: {'; '.join(exc.problems)}") from None
    try:
        return DecisionSettings.model_validate(document or {})
    except ValidationError as exc:
        raise DatasetError(f"{path}: " + "; ".join(describe(e) for e in exc.errors())) from None


def sensor_channels(models: Path) -> list[str] | None:
    """The registers the shipped sensor model reads (None: every register, in order)."""
    return ModelMetadata.of(load_session(models / SHIPPED_MODELS[SENSOR])).str_list("channels")


def device_config(
    episode: Episode, settings: DecisionSettings, models: Path, channels: list[str] | None
) -> DeviceConfig:
    """The config the agent would run this episode's device under."""
    sections = {
        SENSES[sense].source_key: section(episode, sense, models, channels)
        for sense in episode.senses
    }
    learn_s = episode.spec.learn_s
    learning = settings.learning.model_copy(update={"enabled": learn_s > 0})
    if learn_s > 0:
        learning = learning.model_copy(update={"duration_s": learn_s})
    try:
        return DeviceConfig.model_validate(
            {
                "id": episode.spec.device,
                "sources": sections,
                "fusion": settings.fusion,
                "alarm": settings.alarm,
                "learning": learning,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(describe(e) for e in exc.errors())
        raise DatasetError(f"{episode.folder / EPISODE_FILE}: as a device: {problems}") from None


def section(
    episode: Episode, sense: str, models: Path, channels: list[str] | None
) -> dict[str, Any]:
    """A sense's source section; its input is only named (the episode's files feed it)."""
    if sense == SENSOR:
        assert episode.table is not None
        return modbus(episode.table, models, channels)
    first = str(episode.media[sense].files[0])
    if sense == IMAGE:
        return {"uri": first, "detector": {"model": models / SHIPPED_MODELS[IMAGE]}}
    if sense == TEMPERATURE:
        return {"uri": first, "calibration": episode.spec.thermal_calibration}
    if sense == AUDIO:
        return {"file": first, "classifier": {"model": models / SHIPPED_MODELS[AUDIO]}}
    raise ModelError(f"no episode stream feeds the {sense} sense")


def modbus(table: RegisterTable, models: Path, channels: list[str] | None) -> dict[str, Any]:
    """A register per column, polled at the table's rate; the shipped forest where the
    columns hold every register it reads (else only limits, of which a CSV gives none)."""
    registers = [
        {"name": name, "address": REGISTER_WORDS * i, "kind": "input", "data_type": "float32"}
        for i, name in enumerate(table.registers)
    ]
    span = float(table.times_s[-1] - table.times_s[0])
    rate = (len(table.times_s) - 1) / span if span > 0 else 1.0
    modbus: dict[str, Any] = {
        "registers": registers,
        "poll_hz": min(max(rate, MIN_RATE_HZ), MAX_RATE_HZ),
    }
    if channels is None or set(channels) <= set(table.registers):
        modbus["anomaly"] = {"model": models / SHIPPED_MODELS[SENSOR]}
    return modbus
