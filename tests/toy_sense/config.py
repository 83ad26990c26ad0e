"""Config of the toy vibration sense: an accelerometer whose RMS readings a test scripts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from agent.config.base import PositiveFloat, StrictModel

SENSE = "vibration"


class AccelerometerConfig(StrictModel):
    """RMS values replayed in a loop at `rate_hz`, or, when `level_file` is set, the values it
    holds (read at every window: a test changes the machine while it runs); `alarm_rms`
    scores 1."""

    rms: list[float] = Field(min_length=1)
    level_file: Path | None = None
    rate_hz: PositiveFloat = 10.0
    alarm_rms: PositiveFloat = 1.0
