"""Config of the temperature sense: the infrared camera, its calibration and scoring."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from agent.config.base import (
    FiniteFloat,
    RateHz,
    StrictModel,
    resolve_local_uri,
)

SENSE = "temperature"


class ThermalCalibration(StrictModel):
    """Per-pixel linear calibration temp_c = a * raw + b of a radiometric 16-bit frame."""

    a: FiniteFloat = 0.01
    b: FiniteFloat = -273.15


class TemperatureScorerConfig(StrictModel):
    """Score 0 at or below warn_c, rising linearly to 1 at limit_c."""

    warn_c: FiniteFloat = 60.0
    limit_c: FiniteFloat = 90.0

    @model_validator(mode="after")
    def _ordered(self) -> TemperatureScorerConfig:
        if self.limit_c <= self.warn_c:
            raise ValueError("limit_c must be above warn_c")
        return self


class InfraredConfig(StrictModel):
    """Radiometric frames from a 16-bit image sequence (glob) or a Y16 capture device."""

    uri: str = Field(min_length=1)
    format: Literal["sequence", "y16"] = "sequence"
    fps: RateHz = 1.0
    loop: bool = False
    calibration: ThermalCalibration = ThermalCalibration()
    hot_threshold_c: FiniteFloat = 60.0
    min_region_px: int = Field(default=4, ge=1)
    scorer: TemperatureScorerConfig = TemperatureScorerConfig()

    _local_uri = field_validator("uri")(resolve_local_uri)
