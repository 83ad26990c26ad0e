"""The shapes the dashboard accepts on each topic; anything else is refused before it is stored.

Types are strict and bounded (see agent/sinks/mqtt/inbound.py): strings have a length limit,
integers fit SQLite's, numbers are finite. Fields the dashboard does not read are kept as
they came (a newer agent may send more), within the message size limit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agent.core.calibration_check import Verdict
from agent.sinks.mqtt.inbound import (
    SQLITE_INT_MAX,
    Finite,
    Id,
    Inbound,
    Name,
    SqliteInt,
    Text,
    Timestamp,
)

MAX_ENTRIES = 64  # senses, sources, models per message
MAX_LEVELS = 8  # levels of rarity a calibration check counts


class ModalityView(Inbound):
    """One sense in a state or alarm: what the tiles and charts read."""

    score: Finite | None = None
    weight: Finite | None = None
    stale: bool | None = None
    threshold: Finite | None = None  # once learned: the sense's own calibrated threshold


class LevelCount(Inbound):
    """How many of a sense's calibrated scores reached one level of rarity."""

    decades: int = Field(ge=0, le=64)
    reached: int = Field(ge=0, le=SQLITE_INT_MAX)
    expected: Finite = Field(ge=0.0)
    ratio: Finite | None = Field(default=None, ge=0.0)


class SenseCheck(Inbound):
    """One learned sense's calibration check (agent/core/calibration_check.py)."""

    judged: int = Field(ge=0, le=SQLITE_INT_MAX)
    levels: list[LevelCount] = Field(min_length=1, max_length=MAX_LEVELS)
    verdict: Verdict


class CalibrationCheckView(Inbound):
    """Whether a learned device's calibrated scores keep their promise, since `since`."""

    since: Timestamp | None = None
    senses: dict[Name, SenseCheck] = Field(max_length=MAX_ENTRIES)


class StateMessage(Inbound):
    """A device's retained state."""

    device: Name | None = None
    state: Name | None = None
    score: Finite | None = None
    threshold: Finite | None = None
    rule: Name | None = None
    type: Name | None = None
    alarm_id: Id | None = None
    modalities: dict[Name, ModalityView] | None = Field(default=None, max_length=MAX_ENTRIES)
    readings: dict[Name, Any] | None = Field(default=None, max_length=MAX_ENTRIES)
    learned_version: int | None = Field(default=None, ge=1, le=1_000_000)
    learned_at: Timestamp | None = None
    learned_reason: Text | None = None
    calibration_check: CalibrationCheckView | None = None
    updated_at: Timestamp | None = None


class PartHealth(Inbound):
    """One source's or model's health."""

    state: Name | None = None
    reason: Text | None = None
    since: Timestamp | None = None


class HealthMessage(Inbound):
    """A device's retained health."""

    device: Name | None = None
    state: Name | None = None
    sources: dict[Name, PartHealth] | None = Field(default=None, max_length=MAX_ENTRIES)
    models: dict[Name, PartHealth] | None = Field(default=None, max_length=MAX_ENTRIES)
    updated_at: Timestamp | None = None


class AlarmMessage(Inbound):
    """An alarm event (agent/schemas/alarm.schema.json), as far as the dashboard reads it."""

    id: Id
    seq: SqliteInt | None = None
    event: Literal["raised", "updated", "cleared"]
    device: Name | None = None
    type: Name | None = None
    severity: Name | None = None
    score: Finite | None = None
    threshold: Finite | None = None
    modalities: dict[Name, ModalityView] | None = Field(default=None, max_length=MAX_ENTRIES)
    raised_at: Timestamp | None = None
    decided_at: Timestamp | None = None
