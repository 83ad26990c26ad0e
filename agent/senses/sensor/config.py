"""Config of the sensor sense: the Modbus device, its register map and anomaly model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from agent.config.base import (
    Backend,
    FiniteFloat,
    PositiveFloat,
    RateHz,
    ReadableFile,
    Seconds,
    StrictModel,
)

SENSE = "sensor"


DataType = Literal["int16", "uint16", "int32", "uint32", "float32", "bool"]


class RegisterConfig(StrictModel):
    """One value in the device's register map, in the spirit of Telegraf's modbus input."""

    name: str = Field(min_length=1)
    address: int = Field(ge=0, le=65535)
    kind: Literal["holding", "input", "coil", "discrete"] = "holding"
    data_type: DataType = "uint16"
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    scale: FiniteFloat = 1.0
    offset: FiniteFloat = 0.0
    unit: str = ""
    low: FiniteFloat | None = None
    high: FiniteFloat | None = None

    @model_validator(mode="after")
    def _bits_are_bool(self) -> RegisterConfig:
        bit_kind = self.kind in ("coil", "discrete")
        if bit_kind != (self.data_type == "bool"):
            raise ValueError("coil/discrete registers take data_type bool, and only they do")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class SensorAnomalyConfig(StrictModel):
    """Isolation Forest over window features, exported to ONNX (tools/train_sensor.py)."""

    model: ReadableFile
    backend: Backend = "auto"
    threshold: FiniteFloat | None = None
    scale: PositiveFloat | None = None


class ModbusConfig(StrictModel):
    """A Modbus TCP or RTU device polled at `poll_hz`, with its register map.

    `window` and `baseline_samples` left unset take the anomaly model's own values from
    its metadata (agent.senses.sensor.scorer); a limits-only device uses a 32-sample window.
    """

    transport: Literal["tcp", "rtu"] = "tcp"
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    serial_port: str | None = None
    baudrate: int = Field(default=19200, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    unit_id: int = Field(default=1, ge=0, le=247)
    poll_hz: RateHz = 10.0
    timeout_s: Seconds = 1.0
    retries: int = Field(default=2, ge=0)
    registers: list[RegisterConfig] = Field(min_length=1)
    max_gap: int = Field(default=8, ge=0)  # unmapped words one read may span; 0 if strict
    window: int | None = Field(default=None, ge=4)  # samples; None: the model's, else 32
    baseline_samples: int | None = Field(default=None, ge=0)  # learning period; None: model's
    outlier_sigma: PositiveFloat = 3.0
    smoothing: int = Field(default=5, ge=1)
    anomaly: SensorAnomalyConfig | None = None

    @model_validator(mode="after")
    def _transport_fields(self) -> ModbusConfig:
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport rtu needs serial_port")
        names = [r.name for r in self.registers]
        if len(set(names)) != len(names):
            raise ValueError("register names must be unique")
        return self


def port_key(serial_port: str) -> str:
    """A serial port's resolved path: /dev/serial/by-id/... and /dev/ttyUSB0 are one bus."""
    return os.path.realpath(serial_port)


LINE_SETTINGS = ("baudrate", "parity")  # what every device on one serial port must agree on


def shared_port_conflicts(sections: Mapping[str, ModbusConfig]) -> list[str]:
    """{device id: its modbus section} -> one error per device whose serial line settings
    differ from those of the first device configured on the same port."""
    first: dict[str, tuple[str, ModbusConfig]] = {}
    errors: list[str] = []
    for device, cfg in sections.items():
        if cfg.transport != "rtu" or cfg.serial_port is None:
            continue
        key = port_key(cfg.serial_port)
        if key not in first:
            first[key] = (device, cfg)
            continue
        other, other_cfg = first[key]
        differ = [
            f"{name} {getattr(other_cfg, name)} vs {getattr(cfg, name)}"
            for name in LINE_SETTINGS
            if getattr(other_cfg, name) != getattr(cfg, name)
        ]
        if differ:
            errors.append(
                f"devices {other} and {device} share serial port {cfg.serial_port} "
                f"but differ in {', '.join(differ)} (one RS-485 line has one setting)"
            )
    return errors
