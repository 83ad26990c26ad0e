"""Everything the agent says on MQTT, delivered without blocking the pipeline.

Alarm events are kept in order and retried until the broker acknowledges them; retained
state topics are coalesced to their latest value and re-sent after every reconnection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from agent.publish.mqtt import BrokerUnavailableError, MqttLink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event message awaiting its PUBACK."""

    topic: str
    payload: bytes


class Publisher:
    """A single worker drains events first (in order), then the latest retained values."""

    def __init__(self, link: MqttLink, retry_s: float = 1.0) -> None:
        self.link = link
        self.retry_s = retry_s
        self._events: deque[Outgoing] = deque()
        self._retained: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._generation_sent = 0
        self.delivered = 0

    def send_event(self, topic: str, payload: bytes) -> None:
        """Queue an event (alarm); it is never dropped, only delayed while the broker is away."""
        self._events.append(Outgoing(topic, payload))
        self._kick()

    def set_retained(self, topic: str, payload: bytes) -> None:
        """Record the newest value of a retained topic; older unsent values are superseded."""
        if self._retained.get(topic) == payload:
            return
        self._retained[topic] = payload
        self._dirty.add(topic)
        self._kick()

    @property
    def pending_events(self) -> int:
        """Events not yet acknowledged by the broker."""
        return len(self._events)

    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Deliver forever; on failure wait for the link to come back, then go on."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.link.connected.wait()
            try:
                await self._flush()
            except BrokerUnavailableError as exc:
                log.warning("publish failed, will retry", extra={"fields": {"error": str(exc)}})
                self._wake.set()
                await asyncio.sleep(self.retry_s)

    async def _flush(self) -> None:
        if self.link.generation != self._generation_sent:
            self._dirty.update(self._retained)  # a restarted broker may have lost them
            self._generation_sent = self.link.generation
        while self._events:
            message = self._events[0]
            await self.link.publish(message.topic, message.payload, qos=1)
            self._events.popleft()
            self.delivered += 1
        while self._dirty:
            topic = self._dirty.pop()
            try:
                await self.link.publish(topic, self._retained[topic], qos=1, retain=True)
            except BrokerUnavailableError:
                self._dirty.add(topic)
                raise
        if not self._events and not self._dirty:
            self._idle.set()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until everything queued is delivered; False if the time ran out."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
