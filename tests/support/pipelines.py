"""One device's real pipeline publishing to a real broker, for tests that break its inputs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agent.config.device import BrokerConfig, DeviceConfig
from agent.core.alarms import sequence_from
from agent.runtime.channels import build_channels
from agent.runtime.pipeline import DevicePipeline
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.outbox import Outbox
from agent.sinks.mqtt.publisher import Publisher
from agent.sinks.mqtt.sink import MqttSink
from agent.sinks.mqtt.topics import Topics
from tests.support.tasks import running
from tests.support.thermal_frames import frame_with_spot, infrared_source


@contextlib.asynccontextmanager
async def running_pipeline(
    config: DeviceConfig, broker: tuple[str, int], topic_prefix: str
) -> AsyncIterator[DevicePipeline]:
    """Run `config`'s pipeline with its own MQTT link and in-memory outbox for the block."""
    topics = Topics(topic_prefix, "site")
    link = MqttLink(BrokerConfig(host=broker[0], port=broker[1]), topics.status)
    publisher = Publisher(link, Outbox(":memory:"))
    sink = MqttSink(publisher)
    pipeline = DevicePipeline(config, build_channels(config), sink, topics, sequence_from(1))
    async with running(link.run(), publisher.run(), pipeline.run()):
        yield pipeline


def beside_a_thermal_camera(
    tmp_path: Path, device_id: str, kind: str, settings: dict[str, Any]
) -> DeviceConfig:
    """A device whose thermal camera works, beside the `kind` source a test breaks."""
    infrared = infrared_source(tmp_path / "ir", [frame_with_spot(30.0, None)], fps=10)
    return DeviceConfig.model_validate(
        {"id": device_id, "sources": {"infrared": infrared, kind: settings}}
    )
