"""A failing inspection round is logged and counted; the rounds go on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agent.config.device import BrokerConfig, InspectionConfig
from agent.runtime.inspection import InspectionRound, InspectionScheduler
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.outbox import Outbox
from agent.sinks.mqtt.publisher import Publisher
from agent.sinks.mqtt.topics import Topics


async def test_a_round_that_fails_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    topics = Topics("edge", "plant")
    publisher = Publisher(MqttLink(BrokerConfig(), topics.status), Outbox(":memory:"))
    scheduler = InspectionScheduler(InspectionConfig(interval_s=0.05), [], publisher, topics)
    rounds = [RuntimeError("a bug in the round")]
    real_round = scheduler.run_round

    async def first_fails() -> InspectionRound:
        if rounds:
            raise rounds.pop()
        return await real_round()

    scheduler.run_round = first_fails  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="agent.runtime.inspection"):
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert scheduler.rounds_failed == 1
    assert scheduler.rounds_done >= 2  # the rounds after it ran
    assert "inspection round failed" in caplog.text
