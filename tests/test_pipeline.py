"""A failing source degrades only its own modality; the device keeps being judged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from agent.alarms import sequence_from
from agent.config import BrokerConfig, DeviceConfig, RegisterConfig
from agent.modalities import build_channels
from agent.pipeline import DevicePipeline
from agent.publish.mqtt import MqttLink
from agent.publish.outbox import Outbox
from agent.publish.publisher import Publisher
from agent.publish.topics import Topics
from agent.samples import Modality
from tests.support.modbus_server import (
    Endpoint,
    garbage_tcp_server,
    modbus_tcp_server,
    silent_tcp_server,
)
from tests.support.mqtt import subscribe
from tests.support.tasks import eventually, running
from tests.support.thermal_frames import CENTI_KELVIN, frame_with_spot, write_sequence


def device(tmp_path: Path, modbus_port: int) -> DeviceConfig:
    return DeviceConfig.model_validate(
        {
            "id": "pump-01",
            "sources": {
                "infrared": {
                    "uri": write_sequence(tmp_path / "ir", [frame_with_spot(30.0, 120.0)]),
                    "fps": 10,
                    "loop": True,
                    "calibration": CENTI_KELVIN,
                },
                "modbus": {
                    "port": modbus_port,
                    "timeout_s": 0.3,
                    "retries": 0,
                    "registers": [{"name": "pressure", "address": 0}],
                },
            },
            "fusion": {"weights": {"temperature": 0.5, "sensor": 0.5}},
        }
    )


def wrong_map_server() -> AbstractAsyncContextManager[Endpoint]:
    """A real device whose map lacks the register we ask for: it answers ILLEGAL ADDRESS."""
    return modbus_tcp_server([RegisterConfig(name="other", address=50)], {"other": 1.0})


@pytest.mark.parametrize(
    "broken_device",
    [silent_tcp_server, garbage_tcp_server, wrong_map_server],
    ids=["times-out", "answers-garbage", "exception-code"],
)
async def test_broken_modbus_device_is_reported_and_dropped_from_fusion(
    tmp_path: Path,
    broken_device: Callable[[], AbstractAsyncContextManager[Endpoint]],
    broker: tuple[str, int],
    topic_prefix: str,
) -> None:
    topics = Topics(topic_prefix, "site")
    link = MqttLink(BrokerConfig(host=broker[0], port=broker[1]), topics.status)
    publisher = Publisher(link, Outbox(":memory:"))
    async with (
        broken_device() as plc,
        subscribe(*broker, f"{topic_prefix}/#") as seen,
        running(link.run(), publisher.run()),
    ):
        config = device(tmp_path, plc.port)
        pipeline = DevicePipeline(
            config, build_channels(config), publisher, topics, sequence_from(1)
        )
        async with running(pipeline.run()):
            await eventually(lambda: pipeline.health[Modality.SENSOR].startswith("failed"), 10)
            await asyncio.sleep(0.5)
            decision = pipeline.decide()
            await seen.wait_for(lambda c: bool(c.json("/alarm")), 10)
            await seen.wait_for(lambda c: "failed" in str(c.json("/state")[-1:]), 10)

    assert pipeline.health[Modality.TEMPERATURE] == "ok"
    assert "127.0.0.1" in pipeline.health[Modality.SENSOR]
    sensor = decision.modalities[Modality.SENSOR]
    assert sensor.stale
    assert sensor.effective_weight == 0.0
    assert sensor.reason
    # the thermal camera alone carries the renormalised weight and still raises the alarm
    assert decision.modalities[Modality.TEMPERATURE].effective_weight == 1.0
    assert decision.alarm
    assert pipeline.tracker.active is not None
    (alarm,) = seen.json("/alarm")
    assert alarm["modalities"]["sensor"]["stale"]
    assert alarm["rule"] == "weighted"
    state = seen.json("/state")[-1]
    assert state["state"] == "alarm"
    assert state["health"]["sensor"].startswith("failed")
    assert state["health"]["temperature"] == "ok"
