"""Config of how a device decides: fusion of its senses' scores, the alarm lifecycle, its place."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from agent.config.base import NonNegativeSeconds, Probability, ReadableFile, Seconds, StrictModel
from agent.inference.models import models_dir

SHIPPED_FUSION = "fusion-learned.json"  # in models/: the learned fusion `mode: learned` uses
MAX_ALONE_FACTOR = 1e6  # far rarer, a calibrated threshold nears what a float resolves below 1


class DegradedConfig(StrictModel):
    """What a device may conclude when some of its senses are stale: fewer must not mean easier.

    Renormalised, the weights of the senses left would let one weak sense alarm by itself.
    With fewer than `min_senses` of the senses fusion weighs fresh (all of them, on a device
    that weighs fewer), the fused score alone raises no alarm: a sense alarms on its own only
    through its critical level or, calibrated, `alone_factor` times rarer than the threshold.
    """

    min_senses: int = Field(default=2, ge=1)
    alone_factor: float = Field(default=100.0, ge=1.0, le=MAX_ALONE_FACTOR, allow_inf_nan=False)


class FusionConfig(StrictModel):
    """Weighted fusion of the latest score per sense, plus per-sense critical levels.

    Weights are relative: fusion renormalises them over the senses that have a fresh score.
    Left out, every sense takes its default weight from the sense registry; given, a sense it
    does not name has weight 0 (it can still alarm through its critical level). The device
    config checks that every key names a registered sense.

    Once the device has learned its normal, its calibrated scores are fused by the rule of
    `mode`: `weighted` by the calibrated fusion for the learning target, `learned` by the
    learned fusion of `model` (docs/fusion.md; the shipped one when left out). Weights still
    say which senses take part.
    """

    weights: dict[str, Probability] = Field(default_factory=dict)
    threshold: Probability = 0.3
    critical: dict[str, Probability] = Field(default_factory=dict)
    stale_after_s: Seconds = 10.0
    degraded: DegradedConfig = DegradedConfig()
    mode: Literal["weighted", "learned"] = "weighted"
    model: ReadableFile | None = None

    @model_validator(mode="before")
    @classmethod
    def _shipped_model_when_learned(cls, value: object) -> object:
        if isinstance(value, dict) and value.get("mode") == "learned" and "model" not in value:
            return {**value, "model": models_dir() / SHIPPED_FUSION}
        return value

    @model_validator(mode="after")
    def _model_only_when_learned(self) -> FusionConfig:
        if self.model is not None and self.mode != "learned":
            raise ValueError("model is the learned fusion's file: set mode: learned to use it")
        return self


class AlarmConfig(StrictModel):
    """Lifecycle tuning so a flickering score does not flood subscribers."""

    hysteresis: Probability = 0.05
    # raise only once the decision has alarmed this long without a break (an on-delay, as
    # ISA-18.2 calls it): a score that crosses the threshold for a moment raises nothing; a
    # critical rule still raises at once
    on_delay_s: NonNegativeSeconds = 0.0
    min_hold_s: NonNegativeSeconds = 10.0
    update_interval_s: NonNegativeSeconds = 5.0
    update_delta: Probability = 0.1
    major_at: Probability = 0.6
    critical_at: Probability = 0.8


class LocationConfig(StrictModel):
    """Where a person finds the device on the shop floor."""

    line: str = ""
    zone: str = ""
    position: str = ""
