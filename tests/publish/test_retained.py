"""A throw-away run's retained messages can be deleted, and only under its own prefix."""

from __future__ import annotations

import asyncio

import aiomqtt

from agent.sinks.mqtt.retained import clear_retained
from tests.support.mqtt import subscribe


async def test_clears_retained_messages_under_the_filter_only(
    broker: tuple[str, int], topic_prefix: str
) -> None:
    async with aiomqtt.Client(*broker) as client:
        for topic in ("run-a/d/state", "run-a/d/health", "run-b/d/state"):
            await client.publish(f"{topic_prefix}/{topic}", b"{}", qos=1, retain=True)

    assert await clear_retained(*broker, f"{topic_prefix}/run-a/#") == 2

    async with subscribe(*broker, f"{topic_prefix}/#") as seen:
        await seen.wait_for(lambda c: len(c.messages) >= 1, 5)
        await asyncio.sleep(0.5)  # any other retained message would have come by now
    assert [t for t, payload, retained in seen.messages if retained and payload] == [
        f"{topic_prefix}/run-b/d/state"
    ]
