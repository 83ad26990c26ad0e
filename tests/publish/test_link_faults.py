"""The broker link against failures that are not the network's: it logs, restarts, or gives up
loudly (retained status `offline`, `failure` set for the watchdog), never ends silently."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from agent.config.device import BrokerConfig
from agent.sinks.mqtt import link as mqtt_link
from agent.sinks.mqtt.link import MqttLink
from tests.support.mqtt import subscribe
from tests.support.tasks import eventually, running


def broker_config(broker: tuple[str, int]) -> BrokerConfig:
    return BrokerConfig(host=broker[0], port=broker[1], ack_timeout_s=2)


async def test_a_callback_that_raises_does_not_end_the_link(
    broker: tuple[str, int], topic_prefix: str
) -> None:
    received: list[bytes] = []

    def on_message(topic: str, payload: bytes) -> None:
        if payload == b"poison":
            raise RecursionError("maximum recursion depth exceeded")
        received.append(payload)

    link = MqttLink(broker_config(broker), None, (f"{topic_prefix}/in",), on_message)
    async with running(link.run()):
        await asyncio.wait_for(link.connected.wait(), 10)
        async with aiomqtt.Client(*broker) as sender:
            for payload in (b"poison", b"after", b"poison", b"still"):
                await sender.publish(f"{topic_prefix}/in", payload, qos=1)
        await eventually(lambda: received == [b"after", b"still"], 10)
        assert link.connected.is_set()
        assert link.generation == 1  # not even a reconnection
        assert link.failure is None


class BrokenLink(MqttLink):
    """A link whose own loop fails on every message (a bug in the link, not the callback)."""

    def _deliver(self, topic: str, payload: bytes) -> None:
        raise RuntimeError("bug in the loop")


@pytest.mark.timeout(60)
async def test_a_loop_that_keeps_failing_restarts_then_gives_up_and_says_offline(
    broker: tuple[str, int], topic_prefix: str
) -> None:
    status, inbox = f"{topic_prefix}/site/status", f"{topic_prefix}/in"
    async with aiomqtt.Client(*broker) as sender:  # retained: every restart meets it again
        await sender.publish(inbox, b"trigger", qos=1, retain=True)
    link = BrokenLink(broker_config(broker), status, (inbox,), first_retry_s=0.05)
    task = asyncio.create_task(link.run())
    await asyncio.wait_for(task, 30)  # returns (gives up) instead of spinning forever
    assert link.failure == "RuntimeError: bug in the loop"
    assert link.generation == mqtt_link.GIVE_UP_AFTER  # it restarted, GIVE_UP_AFTER - 1 times
    async with subscribe(*broker, status) as seen:
        await seen.wait_for(lambda s: bool(s.messages), 10)
    assert seen.messages[-1][1:] == (b"offline", True)
    async with aiomqtt.Client(*broker) as sender:
        await sender.publish(inbox, b"", qos=1, retain=True)
