"""Everything the agent says on MQTT, delivered without blocking the pipeline.

Alarm events go through the durable outbox: stored first, published in order, removed on
the broker's PUBACK, retried until then. An event that did not go out at once (the broker
was away, an attempt went unacknowledged, or a previous run left it) carries
`"replayed": true` with its original id, seq and timestamps, so subscribers can tell a late
or repeated event and de-duplicate by id and seq. Retained state topics are coalesced to their
latest value and re-sent after every reconnection. Evidence files (a second durable queue, in
agent/sinks/evidence/store.py) go out one per pass after the alarm events, which always come first;
the store is asked for one only while it says some are queued, so an idle pass costs no query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from agent.core.payload import with_replay_flag
from agent.observe import stages as observe
from agent.sinks.base import FileQueue
from agent.sinks.mqtt.link import BrokerUnavailableError, MqttLink
from agent.sinks.mqtt.outbox import AlarmKey, Outbox

log = logging.getLogger(__name__)

RECHECK_S = 1.0


def raise_lost_cancellation() -> None:
    """Re-raise a cancellation that a library swallowed.

    aiomqtt awaits the PUBACK with Python 3.11's asyncio.wait_for, which returns normally
    when the PUBACK and a cancel arrive together; without this the agent could not stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Publisher:
    """A single worker drains events first (in order), then the latest retained values."""

    def __init__(
        self,
        link: MqttLink,
        outbox: Outbox,
        retry_s: float = 1.0,
        evidence: FileQueue | None = None,
    ) -> None:
        self.link = link
        self.outbox = outbox
        self.evidence = evidence
        self.retry_s = retry_s
        self._restored = outbox.restored
        self._retained: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        if not len(outbox):  # events left by a previous run, or stored before we started
            self._idle.set()
        self._generation_sent = 0
        self._triggers: dict[int, tuple[AlarmKey, float]] = {}  # by seq, until acknowledged
        self.delivered = 0

    def send_event(
        self,
        seq: int,
        topic: str,
        payload: bytes,
        held: bool = False,
        alarm: AlarmKey | None = None,
        trigger_captured_at: float | None = None,
    ) -> None:
        """Store an event (alarm) durably, then deliver it as soon as the broker allows.

        Raised while the broker is away, it counts as a failed first attempt: it will be late.
        A `held` event (its evidence still rendering) waits, with all after it, for `complete`.
        `alarm` names the alarm it belongs to, remembered as its device's latest;
        `trigger_captured_at` when its trigger sample was captured, to time its delivery.
        """
        dropped = self.outbox.dropped
        self.outbox.add(seq, topic, payload, held, alarm)
        if alarm is not None and trigger_captured_at is not None and self.outbox.dropped == dropped:
            self._triggers[seq] = (alarm, trigger_captured_at)
        if not self.link.connected.is_set():
            self.outbox.failed(seq)
        self._kick()

    def complete_event(self, seq: int, payload: bytes) -> None:
        """Release a held event with its final payload."""
        self.outbox.complete(seq, payload)
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
        return len(self.outbox)

    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Deliver forever: at start, on new work, and after every reconnection."""
        while True:
            raise_lost_cancellation()
            await self.link.connected.wait()
            self._wake.clear()
            try:
                await self._flush()
            except BrokerUnavailableError as exc:
                log.warning("publish failed, will retry", extra={"fields": {"error": str(exc)}})
                await asyncio.sleep(self.retry_s)
                continue
            except Exception:  # e.g. the evidence index refused a write: retry, never stop
                log.exception("publisher pass failed, will retry")
                await asyncio.sleep(self.retry_s)
                continue
            # new work wakes us at once; the timeout notices a reconnection to re-send state
            # (asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECHECK_S):
                    await self._wake.wait()

    async def _flush(self) -> None:
        if self.link.generation != self._generation_sent:
            self._dirty.update(self._retained)  # a restarted broker may have lost them
            self._generation_sent = self.link.generation
        while (entry := self.outbox.head()) is not None and not entry.held:
            replayed = entry.attempts > 0 or self._restored > 0
            payload = with_replay_flag(entry.payload) if replayed else entry.payload
            try:
                with observe.timed(observe.Stage.PUBLISH):
                    await self.link.publish(entry.topic, payload, qos=1)
            except BrokerUnavailableError:
                self.outbox.failed(entry.seq)
                raise
            self.outbox.acknowledged(entry.seq)
            observe.delivered(self._delivery(entry.seq, entry.topic, replayed))
            self._restored = max(0, self._restored - 1)
            self.delivered += 1
        if self.evidence is not None and self.evidence.queued:
            await self._publish_evidence(self.evidence)
        while self._dirty:
            topic = self._dirty.pop()
            try:
                with observe.timed(observe.Stage.PUBLISH):
                    await self.link.publish(topic, self._retained[topic], qos=1, retain=True)
            except BrokerUnavailableError:
                self._dirty.add(topic)
                raise
        if entry is None and not self._dirty and not self._wake.is_set():
            self._idle.set()  # a held event is not idle: drain waits for its release

    def _delivery(self, seq: int, topic: str, replayed: bool) -> observe.Delivery:
        """What the observers hear of an acknowledged event, timed from its trigger if known."""
        timed = self._triggers.pop(seq, None)
        if timed is None:
            return observe.Delivery(topic, replayed)
        alarm, captured_at = timed
        return observe.Delivery(
            topic, replayed, alarm.device, alarm.event, time.time() - captured_at
        )

    async def _publish_evidence(self, store: FileQueue) -> None:
        """One file per pass, so an alarm raised meanwhile goes first; the store works in a
        thread, where it may wait for a renderer's write to commit."""
        if (file := await asyncio.to_thread(store.next_publish)) is not None:
            await self.link.publish(file.topic, file.payload, qos=1)
            await asyncio.to_thread(store.published, file.counter)
            self._wake.set()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until everything queued is delivered; False if the time ran out."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
