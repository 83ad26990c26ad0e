"""A pipeline stops when cancelled, even if a library under a source loses the cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from pathlib import Path

from agent.config.device import BrokerConfig, DeviceConfig
from agent.core.alarms import sequence_from
from agent.core.samples import Sample, Score
from agent.runtime.channels import Channel
from agent.runtime.pipeline import DevicePipeline
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.outbox import Outbox
from agent.sinks.mqtt.publisher import Publisher
from agent.sinks.mqtt.sink import MqttSink
from agent.sinks.mqtt.topics import Topics
from tests.support.agent_process import thermal_device
from tests.support.tasks import eventually


class CancelLosingSource:
    """Polls like the Modbus source, through a library call that returns normally when it is
    cancelled just as its reply arrives (Python 3.11's asyncio.wait_for, used by pymodbus)."""

    def __init__(self) -> None:
        self.device = "pump"
        self.modality = "sensor"
        self.polls = 0

    async def stream(self) -> AsyncGenerator[Sample, None]:
        """Samples forever; a cancellation while polling is swallowed, as the library does."""
        while True:
            # the reply "arrived at the same time" as the cancellation: the library returns it
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.02)
            self.polls += 1
            yield Sample("pump", "sensor", time.time(), {"pressure": 1.0})


class NoScore:
    """A scorer still gathering its window."""

    def __init__(self) -> None:
        self.modality = "sensor"
        self.models: list[str] = []

    def score(self, sample: Sample) -> Score | None:
        return None


async def test_pipeline_stops_although_its_source_swallowed_the_cancellation(
    tmp_path: Path,
) -> None:
    config = DeviceConfig.model_validate(thermal_device("pump", tmp_path, None))
    topics = Topics("edge", "site")
    outbox = Outbox(":memory:")
    publisher = Publisher(MqttLink(BrokerConfig(), topics.status), outbox)
    source = CancelLosingSource()
    channels = {"sensor": Channel(source=source, scorer=NoScore())}
    pipeline = DevicePipeline(config, channels, MqttSink(publisher), topics, sequence_from())
    task = asyncio.create_task(pipeline.run())
    await eventually(lambda: source.polls >= 3, 10)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=10)
    polls_after_stop = source.polls
    await asyncio.sleep(0.2)
    outbox.close()
    assert done == {task}, "the pipeline kept running after it was cancelled"
    assert task.cancelled()
    assert source.polls == polls_after_stop
