"""One device's real pipeline publishing to a real broker, for tests that break its inputs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from agent.alarms import sequence_from
from agent.config import BrokerConfig, DeviceConfig
from agent.modalities import build_channels
from agent.pipeline import DevicePipeline
from agent.publish.mqtt import MqttLink
from agent.publish.outbox import Outbox
from agent.publish.publisher import Publisher
from agent.publish.topics import Topics
from tests.support.tasks import running


@contextlib.asynccontextmanager
async def running_pipeline(
    config: DeviceConfig, broker: tuple[str, int], topic_prefix: str
) -> AsyncIterator[DevicePipeline]:
    """Run `config`'s pipeline with its own MQTT link and in-memory outbox for the block."""
    topics = Topics(topic_prefix, "site")
    link = MqttLink(BrokerConfig(host=broker[0], port=broker[1]), topics.status)
    publisher = Publisher(link, Outbox(":memory:"))
    pipeline = DevicePipeline(config, build_channels(config), publisher, topics, sequence_from(1))
    async with running(link.run(), publisher.run(), pipeline.run()):
        yield pipeline
