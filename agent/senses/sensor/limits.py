"""A Modbus sample's register values and the configured limits they break.

Shared by the shipped model's scorer, the learner and the learned scorer: register limits are
hard limits, judged on every sample whatever model (or none) scores the windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.core.samples import Sample
from agent.senses.sensor.config import RegisterConfig


def sample_values(device: str, registers: Sequence[RegisterConfig], sample: Sample) -> list[float]:
    """The sample's register values in config order; a missing register is a bug upstream."""
    if not isinstance(sample.data, dict):
        raise TypeError(f"{device}: sensor sample data must be a dict of registers")
    missing = [r.name for r in registers if r.name not in sample.data]
    if missing:
        raise ValueError(f"{device}: sample lacks registers {missing}")
    return [float(sample.data[r.name]) for r in registers]


def breaches(registers: Sequence[RegisterConfig], values: Sequence[float]) -> list[dict[str, Any]]:
    """One evidence entry per register whose value is outside its configured low/high."""
    return [
        {"name": reg.name, "value": value, "low": reg.low, "high": reg.high, "unit": reg.unit}
        for reg, value in zip(registers, values, strict=True)
        if (reg.low is not None and value < reg.low) or (reg.high is not None and value > reg.high)
    ]


def readings(registers: Sequence[RegisterConfig], values: Sequence[float]) -> dict[str, Any]:
    """The evidence every sensor Score carries: latest value and unit of each register."""
    return {
        "values": {r.name: v for r, v in zip(registers, values, strict=True)},
        "units": {r.name: r.unit for r in registers},
    }
