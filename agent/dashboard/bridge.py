"""The dashboard's MQTT session: subscribe to every site under the prefix, publish acks."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import aiomqtt

from agent.config import BrokerConfig
from agent.publish.mqtt import BrokerUnavailableError, tls_context

log = logging.getLogger(__name__)


class BrokerBridge:
    """Stays connected (with backoff) and hands every message to `on_message`.

    Unlike the agent's link it announces nothing: the dashboard is a plain subscriber.
    """

    def __init__(
        self,
        config: BrokerConfig,
        subscriptions: list[str],
        on_message: Callable[[str, bytes], None],
    ) -> None:
        self.config = config
        self.subscriptions = subscriptions
        self.on_message = on_message
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None

    def _new_client(self) -> aiomqtt.Client:
        c = self.config
        return aiomqtt.Client(
            c.host,
            c.port,
            username=c.username,
            password=c.password.get_secret_value() if c.password else None,
            keepalive=c.keepalive_s,
            timeout=c.ack_timeout_s,
            tls_context=tls_context(c),
        )

    async def run(self) -> None:
        """Connect, subscribe and read forever; reconnect after a broker outage."""
        delay = 0.5
        while True:
            try:
                async with self._new_client() as client:
                    for topic in self.subscriptions:
                        await client.subscribe(topic, qos=1)
                    self._client = client
                    self.connected.set()
                    delay = 0.5
                    log.info("dashboard subscribed", extra={"fields": {
                        "broker": f"{self.config.host}:{self.config.port}"}})  # fmt: skip
                    async for message in client.messages:
                        self.on_message(str(message.topic), bytes(message.payload or b""))
            except aiomqtt.MqttError as exc:
                log.warning("broker unreachable, retrying", extra={"fields": {
                    "error": str(exc), "retry_in_s": round(delay, 1)}})  # fmt: skip
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 30.0)

    async def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1, PUBACK awaited; BrokerUnavailableError when the broker is away."""
        client = self._client
        if client is None:
            raise BrokerUnavailableError(topic)
        try:
            await client.publish(topic, payload, qos=1, timeout=self.config.ack_timeout_s)
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailableError(f"{topic}: {exc}") from exc
