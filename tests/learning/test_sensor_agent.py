"""A machine whose register map is nobody's model learns its own normal in the running agent,
over real Modbus TCP, with no shipped sensor model, then alarms on its bearing warming up."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.config.loader import parse_config
from agent.learning.store import LearnedStore
from agent.senses.sensor.config import RegisterConfig
from tests.support.modbus_server import ModbusDeviceServer, modbus_tcp_server
from tests.support.mqtt import Collector, subscribe
from tests.support.tasks import agent_running

pytestmark = pytest.mark.slow

REGISTERS = [
    RegisterConfig(name="flow", address=0, data_type="float32", unit="l/min"),
    RegisterConfig(name="bearing_temp", address=2, data_type="float32", unit="degC", high=95.0),
    RegisterConfig(name="motor_current", address=4, data_type="float32", unit="A"),
]
NORMAL = {"flow": 40.0, "bearing_temp": 55.0, "motor_current": 12.0}
NOISE = {"flow": 0.4, "bearing_temp": 0.2, "motor_current": 0.1}


@contextlib.asynccontextmanager
async def running_machine(
    plc: ModbusDeviceServer, offsets: dict[str, float]
) -> AsyncIterator[None]:
    """Noisy healthy readings every 10 ms, plus whatever `offsets` a test adds meanwhile."""
    rng = np.random.default_rng(7)

    async def run() -> None:
        while True:
            for name, level in NORMAL.items():
                plc.set(name, level + offsets.get(name, 0.0) + rng.normal(0.0, NOISE[name]))
            await asyncio.sleep(0.01)

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def states(seen: Collector) -> list[dict[str, Any]]:
    return seen.json("/pump-07/state")


async def test_a_register_map_no_model_knows_learns_and_alarms_on_a_departure(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    offsets: dict[str, float] = {}
    async with (
        modbus_tcp_server(REGISTERS, NORMAL) as plc,
        running_machine(plc, offsets),
        subscribe(*broker, f"{topic_prefix}/#") as seen,
    ):
        config = parse_config({
            "site": "plant",
            "broker": {"host": broker[0], "port": broker[1], "topic_prefix": topic_prefix},
            "inspection": {"enabled": False},
            "storage": {"dir": str(tmp_path / "state"), "evidence": {"enabled": False}},
            "devices": [{
                "id": "pump-07",
                "sources": {"modbus": {
                    "port": plc.port, "poll_hz": 50, "window": 8,
                    "registers": [r.model_dump() for r in REGISTERS]}},
                "alarm": {"min_hold_s": 0},
                "learning": {"enabled": True, "duration_s": 2},
            }],
        })  # fmt: skip
        assert config.devices[0].sources.configured()["sensor"].anomaly is None
        async with agent_running(config):
            await seen.wait_for(lambda c: any(s["learned_version"] == 1 for s in states(c)), 60)
            await asyncio.sleep(2.0)  # calibrated, healthy: quiet
            early = seen.json("/pump-07/alarm")
            offsets["bearing_temp"] = 10.0  # 50 times its noise, far below its high limit
            await seen.wait_for(lambda c: bool(c.json("/pump-07/alarm")), 20)
    assert not early, json.dumps({k: early[0][k] for k in ("rule", "type", "score", "evidence")})
    raised = seen.json("/pump-07/alarm")[0]
    assert (raised["event"], raised["rule"], raised["type"]) == (
        "raised",
        "calibrated",
        "bearing_temp",
    )
    card = LearnedStore(tmp_path / "state").card("pump-07")
    assert card is not None and card.senses["sensor"].files == ["sensor-learned.onnx"]
    assert set(card.senses["sensor"].params["registers"]) == set(NORMAL)
    assert raised["threshold"] == card.threshold
