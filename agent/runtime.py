"""The agent process: one task group per device, the broker link, inspection, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal

from agent.alarms import sequence_from
from agent.config import AgentConfig
from agent.inspection import InspectionScheduler
from agent.metrics import exporter_for
from agent.modalities import build_channels
from agent.pipeline import DevicePipeline
from agent.publish.mqtt import MqttLink
from agent.publish.outbox import Outbox
from agent.publish.publisher import Publisher
from agent.publish.topics import Topics

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 5.0
OUTBOX_FILE = "outbox.sqlite3"


class Agent:
    """Wires config to pipelines; `run()` returns after a stop request has been handled."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.topics = Topics(config.broker.topic_prefix, config.site)
        self.link = MqttLink(
            config.broker,
            self.topics.status,
            subscriptions=(self.topics.acks,),
            on_message=self._on_message,
        )
        self.outbox = Outbox(config.storage.resolved() / OUTBOX_FILE)
        self.publisher = Publisher(self.link, self.outbox)
        sequence = sequence_from(self.outbox.last_seq() + 1)  # continues across restarts
        self.pipelines = [
            DevicePipeline(device, build_channels(device), self.publisher, self.topics, sequence)
            for device in config.devices
        ]
        self.inspection = InspectionScheduler(
            config.inspection, self.pipelines, self.publisher, self.topics
        )
        self.acknowledged: dict[str, dict[str, object]] = {}
        self.metrics = exporter_for(config.metrics, self.pipelines, self.publisher)

    def _on_message(self, topic: str, payload: bytes) -> None:
        """Operators acknowledge alarms on <prefix>/<site>/<device>/ack with {"id": ...}."""
        try:
            ack = json.loads(payload)
            alarm_id = str(ack["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed ack", extra={"fields": {"topic": topic}})
            return
        self.acknowledged[alarm_id] = ack
        log.info("alarm acknowledged", extra={"fields": {"topic": topic, "alarm_id": alarm_id}})

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then deliver what is queued and say offline."""
        log.info(
            "agent starting",
            extra={
                "fields": {
                    "site": self.config.site,
                    "devices": len(self.pipelines),
                    "outbox_pending": len(self.outbox),
                }
            },
        )
        if self.metrics is not None:
            self.metrics.start()
        tasks = [asyncio.create_task(p.run(), name=p.device) for p in self.pipelines]
        if self.config.inspection.enabled:
            tasks.append(asyncio.create_task(self.inspection.run(), name="inspection"))
        link_task = asyncio.create_task(self.link.run(), name="mqtt")
        publisher_task = asyncio.create_task(self.publisher.run(), name="publisher")
        await stop.wait()
        log.info("agent stopping")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not await self.publisher.drain(DRAIN_TIMEOUT_S):
            log.warning(
                "stopping with undelivered events",
                extra={"fields": {"pending": self.publisher.pending_events}},
            )
        await self.link.announce_offline()
        for task in (publisher_task, link_task):
            task.cancel()
        await asyncio.gather(publisher_task, link_task, return_exceptions=True)
        if self.metrics is not None:
            await self.metrics.stop()
        self.outbox.close()
        log.info("agent stopped")


async def run_until_signalled(config: AgentConfig) -> None:
    """Run the agent until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await Agent(config).run(stop)
