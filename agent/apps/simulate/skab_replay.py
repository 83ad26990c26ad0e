"""Replay a SKAB-format recording (`;`-separated, 1 row per sample) through a simulated device.

Each sensor column becomes a float32 input register (two words, addresses 0, 2, 4, ...) named
after the column, so the agent reads exactly what the pump test bed recorded.
"""

from __future__ import annotations

import asyncio
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.apps.simulate.modbus_server import ModbusDeviceServer
from agent.senses.sensor.config import RegisterConfig

LABEL_COLUMNS = {"datetime", "anomaly", "changepoint"}


@dataclass(frozen=True, slots=True)
class Recording:
    """Sensor columns and their rows; `anomaly` labels when the file has them."""

    channels: list[str]
    rows: np.ndarray  # [n, channels] float64
    anomaly: np.ndarray | None


def read_recording(path: Path) -> Recording:
    """Parse a SKAB CSV; ValueError names the file and the problem."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle, delimiter=";")
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path}: empty file")
        lines = [line for line in reader if line]
    channels = [c for c in header if c not in LABEL_COLUMNS]
    index = [header.index(c) for c in channels]
    try:
        rows = np.array([[float(line[i]) for i in index] for line in lines])
        anomaly = (
            np.array([float(line[header.index("anomaly")]) for line in lines]) > 0.5
            if "anomaly" in header
            else None
        )
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: not a SKAB-format recording ({exc})") from None
    return Recording(channels, rows.reshape(len(lines), len(channels)), anomaly)


def recording_registers(channels: list[str]) -> list[RegisterConfig]:
    """The register map the simulator serves for these channels."""
    return [
        RegisterConfig(name=name, address=2 * i, kind="input", data_type="float32")
        for i, name in enumerate(channels)
    ]


async def replay(
    server: ModbusDeviceServer,
    recording: Recording,
    rows_per_s: float,
    loop: bool,
    lockstep: bool = False,
) -> None:
    """Step through the rows at `rows_per_s`; repeat from the top when `loop`.

    With `lockstep`, a row also waits for the client's next request before the following
    one, so a poller slowed by a busy CPU still reads every row (the demo's sensor model
    counts its baseline in samples, which then always span the same rows).
    """
    while True:
        for row in recording.rows:
            for name, value in zip(recording.channels, row, strict=True):
                server.set(name, float(value))
            if lockstep:
                await asyncio.gather(asyncio.sleep(1.0 / rows_per_s), server.served())
            else:
                await asyncio.sleep(1.0 / rows_per_s)
        if not loop:
            return
