"""Deleting retained messages: what a throw-away run leaves on a broker it shares with others."""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt

SETTLE_S = 0.3  # retained messages arrive right after subscribing


async def clear_retained(host: str, port: int, topic_filter: str) -> int:
    """Delete every retained message under `topic_filter`; returns how many there were."""
    topics: set[str] = set()
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(topic_filter, qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_S):
                async for message in client.messages:
                    if message.retain and message.payload:
                        topics.add(str(message.topic))
        for topic in sorted(topics):
            await client.publish(topic, b"", qos=1, retain=True)
    return len(topics)
