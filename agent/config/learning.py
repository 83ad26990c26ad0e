"""Config of on-site learning: how long a device learns its own normal, and how often it may
cry wolf once it monitors with what it learned (docs/learning.md)."""

from __future__ import annotations

from pydantic import Field

from agent.config.base import Seconds, StrictModel

MAX_FALSE_ALARMS_PER_DAY = 1_000.0


class LearningConfig(StrictModel):
    """`enabled`: a device with nothing learned yet learns before it monitors (its first run).

    What was learned is kept under the storage folder and used on every later start, whether
    `enabled` or not; `edge-agent learn` and an MQTT request relearn it.
    """

    enabled: bool = False
    duration_s: Seconds = 7_200.0  # at least this long, and until every sense has enough
    # the one operator-facing number: healthy alarms a day the thresholds are set for
    target_false_alarms_per_day: float = Field(
        default=1.0, gt=0.0, le=MAX_FALSE_ALARMS_PER_DAY, allow_inf_nan=False
    )
