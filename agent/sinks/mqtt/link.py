"""The broker connection: connect, announce, stay connected, and publish with PUBACK awaited."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable

import aiomqtt

from agent.backoff import Backoff, ProbeSchedule
from agent.config.device import BrokerAddress, BrokerConfig

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"
GIVE_UP_AFTER = 5  # unexpected failures of the link's own loop ...
GIVE_UP_WITHIN_S = 300.0  # ... within this long: restarting does not help, give up and say so
PROBE_TIMEOUT_S = 1.0  # a probe that gets no answer in this time failed


class BrokerUnavailableError(Exception):
    """Publishing while the broker is unreachable; callers keep the message and retry."""


def tls_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """An SSL context from the TLS section, or None for plain TCP."""
    tls = config.tls
    if not tls.enabled:
        return None
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def client_for(
    config: BrokerConfig,
    address: BrokerAddress,
    identifier: str | None = None,
    will: aiomqtt.Will | None = None,
) -> aiomqtt.Client:
    """A client of the broker at `address` with the config's credentials, TLS and timeouts
    (None as identifier: the broker gives it one)."""
    return aiomqtt.Client(
        address.host,
        address.port,
        username=config.username,
        password=config.password.get_secret_value() if config.password else None,
        identifier=identifier,
        will=will,
        keepalive=config.keepalive_s,
        timeout=config.ack_timeout_s,
        tls_context=tls_context(config),
    )


class MqttLink:
    """Owns one MQTT session and its reconnect loop; never blocks callers while disconnected.

    On every (re)connection it publishes a retained `online` on the status topic; the broker
    publishes the retained `offline` will if the agent vanishes, and `close()` publishes it
    when the agent stops cleanly. Without a status topic (a plain subscriber such as the
    dashboard) it announces nothing.

    Nothing a message carries can end it: an exception from `on_message` is logged and the
    next message handled. An unexpected exception in the loop itself (a bug, not the network)
    restarts it with backoff; after GIVE_UP_AFTER of them within GIVE_UP_WITHIN_S it gives up:
    `failure` says why (the systemd watchdog stops being fed), and the retained status is set
    to `offline`.

    With `failover` brokers in the config it moves to the next that accepts when the one in
    use cannot be reached or refuses the session, and tries the preferred broker first again
    once a session it had has dropped.
    """

    def __init__(
        self,
        config: BrokerConfig,
        status_topic: str | None,
        subscriptions: tuple[str, ...] = (),
        on_message: Callable[[str, bytes], None] | None = None,
        first_retry_s: float = 0.5,
    ) -> None:
        self.config = config
        self.status_topic = status_topic
        self.subscriptions = subscriptions
        self.on_message = on_message
        self.connected = asyncio.Event()
        self.generation = 0
        self.failure: str | None = None  # set when the link gave up after repeated failures
        self.first_retry_s = first_retry_s
        self.address = config.addresses()[0]  # the broker in use, or tried next
        self._first = 0  # which broker the next probe round prefers
        self._client: aiomqtt.Client | None = None

    def _new_client(self) -> aiomqtt.Client:
        will = None
        if self.status_topic:
            will = aiomqtt.Will(self.status_topic, OFFLINE, qos=1, retain=True)
        return client_for(self.config, self.address, self.config.client_id, will)

    async def run(self) -> None:
        """Connect, and reconnect forever as soon as the broker is back.

        While the link is down it does not sleep out a growing backoff, which would miss
        most of a short outage's end (a backoff doubled to 30 s wakes up to 30 s late). It
        probes instead: a plain TCP connect to the broker's host and port, closed at once
        (`_wait_for_broker`), every 0.5 s for the first minute of an outage and then every
        1, 2, 4 … 10 s (`ProbeSchedule`), each spread by ±20 %. A probe costs one SYN and,
        when the port is closed, one RST; the full MQTT connect (TLS, CONNECT, birth message,
        subscriptions) is tried only once a probe gets through, so the link is back within
        about half a second of the broker's return after an outage of up to a minute, and
        a broker down for hours sees one probe every ~10 s.

        The capped exponential backoff (0.5, 1, 2 … 30 s, ±20 %) still spaces full connect
        attempts from each other, reset by every successful connection: a broker that
        accepts TCP but refuses the session (wrong password, TLS mismatch, overloaded) is
        not hammered with handshakes. It costs nothing after a real outage, because by the
        time the port accepts again the pause since the last attempt has long run out.

        An unexpected failure of the link's own loop (a bug, not the network) restarts it the
        same way, until it has failed GIVE_UP_AFTER times within GIVE_UP_WITHIN_S: then it
        gives up and says so (see the class).
        """
        backoff = Backoff(first_s=self.first_retry_s)
        probes = ProbeSchedule()
        failures: deque[float] = deque()
        while True:
            generation = self.generation
            try:
                await self._session(backoff)
            except aiomqtt.MqttError as exc:
                log.warning("broker unreachable, retrying", extra={"fields": {"error": str(exc)}})
            except Exception as exc:  # a bug, not the network: restart, but not forever
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
                now = time.monotonic()
                failures.append(now)
                while failures and now - failures[0] > GIVE_UP_WITHIN_S:
                    failures.popleft()
                if len(failures) >= GIVE_UP_AFTER:
                    self.failure = error
                    log.critical("broker link failed for good", extra={"fields": {
                        "error": error, "failures": len(failures)}})  # fmt: skip
                    await self._say_offline()
                    return
                log.error("broker link failed, restarting", exc_info=True,
                          extra={"fields": {"error": error}})  # fmt: skip
            finally:
                self._client = None
                self.connected.clear()
            self._prefer_next(had_session=self.generation != generation)
            self.address = await self._wait_for_broker(backoff.next_delay(), probes)

    def _prefer_next(self, had_session: bool) -> None:
        """After a dropped session, the preferred broker first again; after a failed attempt,
        the broker after the one that failed (one that accepts TCP but refuses the session
        must not keep the link from the others)."""
        addresses = self.config.addresses()
        self._first = 0 if had_session else (addresses.index(self.address) + 1) % len(addresses)

    async def _wait_for_broker(self, pause_s: float, probes: ProbeSchedule) -> BrokerAddress:
        """The first broker, in order of preference, whose port accepts TCP; returned once
        `pause_s` has passed since now. Every broker is probed at once in each round."""
        loop = asyncio.get_running_loop()
        down_since = loop.time()
        not_before = down_since + pause_s
        probes.reset()
        addresses = self.config.addresses()
        ordered = addresses[self._first :] + addresses[: self._first]
        while True:
            accepted = await asyncio.gather(*(self._probe(a) for a in ordered))
            chosen = next((a for a, ok in zip(ordered, accepted, strict=True) if ok), None)
            if chosen is not None:
                break
            await asyncio.sleep(probes.next_delay(loop.time() - down_since))
        await asyncio.sleep(max(0.0, not_before - loop.time()))
        return chosen

    async def _probe(self, address: BrokerAddress) -> bool:
        """True when the broker's host accepts a TCP connection on its port (closed at once)."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                _, writer = await asyncio.open_connection(address.host, address.port)
        except (OSError, TimeoutError):
            return False
        writer.transport.abort()  # nothing to flush, nothing to wait for
        return True

    async def _session(self, backoff: Backoff) -> None:
        """One connection: announce, subscribe, hand every message on until it drops."""
        async with self._new_client() as client:
            if self.status_topic:
                await client.publish(self.status_topic, ONLINE, qos=1, retain=True)
            for topic in self.subscriptions:
                await client.subscribe(topic, qos=1)
            self._client = client
            self.generation += 1
            self.connected.set()
            backoff.reset()
            preferred = self.address == self.config.addresses()[0]
            log.info(
                "broker connected" if preferred else "failover broker connected",
                extra={"fields": {"broker": str(self.address)}},
            )
            async for message in client.messages:
                self._deliver(str(message.topic), bytes(message.payload or b""))

    def _deliver(self, topic: str, payload: bytes) -> None:
        """Hand one message to `on_message`; whatever it raises is logged, never fatal."""
        if self.on_message is None:
            return
        try:
            self.on_message(topic, payload)
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            log.error("message handler failed",
                      extra={"fields": {"topic": topic[:256], "error": error}})  # fmt: skip

    async def _say_offline(self) -> None:
        """Best effort, on a fresh connection: the failed one left cleanly, so no will fired."""
        if self.status_topic is None:
            return
        try:
            async with asyncio.timeout(self.config.ack_timeout_s):
                async with self._new_client() as client:
                    await client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
        except Exception as exc:
            log.warning("could not publish offline status", extra={"fields": {
                "error": f"{type(exc).__name__}: {str(exc)[:200]}"}})  # fmt: skip

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and, for QoS 1, wait for the broker's PUBACK; raise if it is away."""
        client = self._client
        if client is None:
            raise BrokerUnavailableError(topic)
        try:
            await client.publish(
                topic, payload, qos=qos, retain=retain, timeout=self.config.ack_timeout_s
            )
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailableError(f"{topic}: {exc}") from exc

    async def announce_offline(self, wait_s: float = 2.0) -> None:
        """Best effort: tell subscribers we are going away on purpose.

        A clean disconnect cancels the will, so wait briefly for a reconnection in progress
        rather than leave a stale retained `online` behind.
        """
        if self.status_topic is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self.connected.wait()
        try:
            await self.publish(self.status_topic, OFFLINE, retain=True)
        except BrokerUnavailableError:
            log.warning("could not publish offline status")
