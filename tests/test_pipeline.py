"""A failing source degrades only its own modality; the device keeps being judged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from agent.config.device import DeviceConfig
from agent.senses.sensor.config import RegisterConfig
from tests.support.logs import log_lines
from tests.support.modbus_server import (
    Endpoint,
    ModbusDeviceServer,
    dropping_tcp_server,
    fixed_count_server,
    garbage_tcp_server,
    modbus_tcp_server,
    silent_tcp_server,
)
from tests.support.mqtt import subscribe
from tests.support.pipelines import running_pipeline
from tests.support.tasks import eventually
from tests.support.thermal_frames import frame_with_spot, infrared_source


def device(tmp_path: Path, modbus_port: int) -> DeviceConfig:
    return DeviceConfig.model_validate(
        {
            "id": "pump-01",
            "sources": {
                "infrared": infrared_source(
                    tmp_path / "ir", [frame_with_spot(30.0, 120.0)], fps=10
                ),
                "modbus": {
                    "port": modbus_port,
                    "timeout_s": 0.3,
                    "retries": 0,
                    "registers": [{"name": "pressure", "address": 0}],
                },
            },
            "fusion": {
                "weights": {"temperature": 0.5, "sensor": 0.5},
                "critical": {"temperature": 1.0},
            },
        }
    )


def wrong_map_server() -> AbstractAsyncContextManager[ModbusDeviceServer]:
    """A real device whose map lacks the register we ask for: it answers ILLEGAL ADDRESS."""
    return modbus_tcp_server([RegisterConfig(name="other", address=50)], {"other": 1.0})


def short_reply_server() -> AbstractAsyncContextManager[Endpoint]:
    """A device whose well-framed replies hold no registers: a garbage length."""
    return fixed_count_server(0)


@pytest.mark.parametrize(
    ("broken_device", "reason"),
    [
        (silent_tcp_server, "no valid reply"),
        (garbage_tcp_server, "holding 0..0"),
        (wrong_map_server, "ILLEGAL_ADDRESS"),
        (dropping_tcp_server, "holding 0..0"),
        (short_reply_server, "asked 1 registers, got 0"),
    ],
    ids=["times-out", "answers-garbage", "exception-code", "drops-connection", "wrong-length"],
)
async def test_broken_modbus_device_is_reported_and_dropped_from_fusion(
    tmp_path: Path,
    broken_device: Callable[[], AbstractAsyncContextManager[Endpoint | ModbusDeviceServer]],
    reason: str,
    broker: tuple[str, int],
    topic_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agent.runtime.health")
    async with (
        broken_device() as plc,
        subscribe(*broker, f"{topic_prefix}/#") as seen,
        running_pipeline(device(tmp_path, plc.port), broker, topic_prefix) as pipeline,
    ):
        await eventually(lambda: pipeline.status().sources["sensor"].state == "failed", 10)
        await asyncio.sleep(0.5)
        decision = pipeline.decide()
        await seen.wait_for(lambda c: bool(c.json("/alarm")), 10)
        await seen.wait_for(lambda c: "failed" in str(c.json("/state")[-1:]), 10)
        await seen.wait_for(lambda c: "failed" in str(c.json("/health")[-1:]), 10)

    health = seen.json("/health")[-1]
    assert health["device"] == "pump-01"
    assert health["state"] == "degraded"  # the thermal camera still watches the pump
    assert health["sources"]["temperature"]["state"] == "ok"
    sensor_health = health["sources"]["sensor"]
    assert sensor_health["state"] == "failed"
    assert reason in sensor_health["reason"]
    assert "127.0.0.1" in sensor_health["reason"]
    assert sensor_health["since"].endswith("Z")
    sensor_model = health["models"]["sensor"]
    assert (sensor_model["state"], sensor_model["model"]) == ("ok", None)
    assert sensor_model["since"].endswith("Z")
    (line,) = log_lines(caplog, "pump-01 sensor source failed")  # once, not once per retry
    assert reason in line
    sensor = decision.modalities["sensor"]
    assert sensor.stale
    assert sensor.effective_weight == 0.0
    assert sensor.reason
    # the thermal camera alone carries the renormalised weight; one sense of two is too few
    # for the weighted rule, but its 120 °C spot is past its critical level
    assert decision.modalities["temperature"].effective_weight == 1.0
    assert (decision.alarm, decision.present) == (True, ("temperature",))
    assert pipeline.status().active_alarm is not None
    (alarm,) = seen.json("/alarm")
    assert alarm["modalities"]["sensor"]["stale"]
    assert (alarm["rule"], alarm["present"]) == ("critical:temperature", ["temperature"])
    state = seen.json("/state")[-1]
    assert state["state"] == "alarm"
    assert state["health"]["sensor"].startswith("failed")
    assert state["health"]["temperature"] == "ok"
