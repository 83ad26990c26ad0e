"""MQTT link and publisher against a real Mosquitto, with the network cut on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from agent.config.device import BrokerConfig
from agent.observe import stages as observe
from agent.sinks.evidence.store import EvidenceStore, PendingPublish
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.outbox import AlarmKey, Outbox
from agent.sinks.mqtt.publisher import Publisher
from tests.support.mqtt import Collector, subscribe
from tests.support.proxy import CuttableProxy, cuttable_proxy
from tests.support.tasks import eventually, running


def payloads(collector: Collector, topic: str) -> list[bytes]:
    return [p for t, p, _ in collector.messages if t == topic]


async def test_events_survive_a_network_cut_in_order_exactly_once(
    broker: tuple[str, int], topic_prefix: str
) -> None:
    async with (
        cuttable_proxy(*broker) as proxy,
        subscribe(*broker, f"{topic_prefix}/#") as seen,
    ):
        link = MqttLink(BrokerConfig(port=proxy.port, ack_timeout_s=2), f"{topic_prefix}/status")
        publisher = Publisher(link, Outbox(":memory:"), retry_s=0.1)
        async with running(link.run(), publisher.run()):
            await asyncio.wait_for(link.connected.wait(), 10)
            publisher.send_event(0, f"{topic_prefix}/d/alarm", b'{"n": 0}')
            await seen.wait_for(lambda c: len(c.json("/alarm")) == 1, 10)

            await proxy.cut()
            await asyncio.sleep(0.3)
            for i in range(1, 6):
                publisher.send_event(i, f"{topic_prefix}/d/alarm", f'{{"n": {i}}}'.encode())
            await asyncio.sleep(1.0)
            assert seen.json("/alarm") == [{"n": 0}]  # nothing leaks through the cut
            assert publisher.pending_events == 5

            await proxy.restore()
            await seen.wait_for(lambda c: len(c.json("/alarm")) >= 6, 20)
            assert await publisher.drain(5)
            await asyncio.sleep(0.3)
            # in order, exactly once; those that waited out the cut are marked replayed
            assert [a["n"] for a in seen.json("/alarm")] == [0, 1, 2, 3, 4, 5]
            flags = [a.get("replayed", False) for a in seen.json("/alarm")]
            assert flags == [False, True, True, True, True, True]
            assert publisher.pending_events == 0


async def test_a_held_event_holds_the_ones_after_it_until_released(
    broker: tuple[str, int], topic_prefix: str
) -> None:
    async with subscribe(*broker, f"{topic_prefix}/#") as seen:
        link = MqttLink(BrokerConfig(port=broker[1]), f"{topic_prefix}/status")
        publisher = Publisher(link, Outbox(":memory:"), retry_s=0.1)
        async with running(link.run(), publisher.run()):
            await asyncio.wait_for(link.connected.wait(), 10)
            topic = f"{topic_prefix}/d/alarm"
            publisher.send_event(1, topic, b'{"n": 1, "draft": true}', held=True)
            publisher.send_event(2, topic, b'{"n": 2}')
            assert not await publisher.drain(1.0)  # nothing may overtake the held event
            assert seen.json("/alarm") == []
            publisher.complete_event(1, b'{"n": 1}')
            assert await publisher.drain(10)
            await seen.wait_for(lambda c: len(c.json("/alarm")) == 2, 10)
            assert seen.json("/alarm") == [{"n": 1}, {"n": 2}]


class Deliveries(observe.Observer):
    def __init__(self) -> None:
        self.seen: list[observe.Delivery] = []

    def on_delivered(self, delivery: observe.Delivery) -> None:
        self.seen.append(delivery)


async def test_an_event_is_timed_from_its_trigger_capture_to_its_puback_hold_included(
    broker: tuple[str, int], topic_prefix: str
) -> None:
    link = MqttLink(BrokerConfig(port=broker[1]), f"{topic_prefix}/status")
    publisher = Publisher(link, Outbox(":memory:"), retry_s=0.1)
    topic = f"{topic_prefix}/d/alarm"
    with observe.subscribed(Deliveries()) as deliveries:
        async with running(link.run(), publisher.run()):
            await asyncio.wait_for(link.connected.wait(), 10)
            captured = time.time() - 5.0
            key = AlarmKey("d", "a1", "raised")
            publisher.send_event(1, topic, b"{}", True, key, trigger_captured_at=captured)
            publisher.send_event(2, topic, b"{}")  # no trigger known: delivered, not timed
            await asyncio.sleep(0.5)  # its evidence renders
            publisher.complete_event(1, b'{"evidence_files": []}')
            assert await publisher.drain(10)
    first, second = deliveries.seen
    assert (first.device, first.event, first.replayed) == ("d", "raised", False)
    assert first.trigger_to_published_s is not None
    assert first.trigger_to_published_s >= 5.5  # from the capture, through the hold
    assert (second.event, second.trigger_to_published_s) == ("", None)


async def test_retained_state_coalesces_and_is_resent_after_reconnect(
    broker: tuple[str, int], topic_prefix: str
) -> None:
    state_topic = f"{topic_prefix}/d/state"
    async with cuttable_proxy(*broker) as proxy:
        link = MqttLink(BrokerConfig(port=proxy.port, ack_timeout_s=2), f"{topic_prefix}/status")
        publisher = Publisher(link, Outbox(":memory:"), retry_s=0.1)
        async with running(link.run(), publisher.run()):
            await asyncio.wait_for(link.connected.wait(), 10)
            await proxy.cut()
            for i in range(50):
                publisher.set_retained(state_topic, f'{{"n":{i}}}'.encode())
            async with subscribe(*broker, state_topic) as live:  # on the broker, past the proxy
                await proxy.restore()
                assert await publisher.drain(20)
                await live.wait_for(lambda c: b'{"n":49}' in [p for _, p, _ in c.messages], 10)
            assert [p for _, p, _ in live.messages] == [b'{"n":49}']  # one update, not fifty
            async with subscribe(*broker, state_topic) as late:
                await late.wait_for(lambda c: bool(c.messages), 5)
                _, payload, retained = late.messages[0]
                assert (payload, retained) == (b'{"n":49}', True)


async def test_birth_will_and_clean_offline(broker: tuple[str, int], topic_prefix: str) -> None:
    status = f"{topic_prefix}/status"
    async with (
        cuttable_proxy(*broker) as proxy,
        subscribe(*broker, status) as seen,
    ):
        link = MqttLink(BrokerConfig(port=proxy.port, keepalive_s=5), status)
        async with running(link.run(), Publisher(link, Outbox(":memory:")).run()):
            await seen.wait_for(lambda c: payloads(c, status) == [b"online"], 10)
            await cut_and_expect_will(proxy, seen, status)
            await seen.wait_for(lambda c: payloads(c, status)[-1:] == [b"online"], 20)
            await asyncio.wait_for(link.connected.wait(), 5)
            await link.announce_offline()
            await seen.wait_for(lambda c: payloads(c, status)[-1:] == [b"offline"], 5)
    async with subscribe(*broker, status) as late:
        await late.wait_for(lambda c: bool(c.messages), 5)
        assert late.messages[0][1:] == (b"offline", True)


async def cut_and_expect_will(proxy: CuttableProxy, seen: Collector, status: str) -> None:
    """A dropped connection (no DISCONNECT) makes the broker publish the agent's will."""
    await proxy.cut()
    await seen.wait_for(lambda c: payloads(c, status)[-1:] == [b"offline"], 10)
    await proxy.restore()


class CountingStore(EvidenceStore):
    """The real evidence store, counting how often the publisher asks it for the next file."""

    asked = 0

    def next_publish(self) -> PendingPublish | None:
        self.asked += 1
        return super().next_publish()


def queue_evidence(store: EvidenceStore, topic: str, data: bytes) -> None:
    """Store a file and queue it for publishing, as the recorder does after its alarm."""
    stored = store.put("a1", "pump-01", "image", "image/jpeg", ".jpg", topic, data)
    store.release([stored.id])


async def test_evidence_is_asked_for_only_while_some_is_queued(
    broker: tuple[str, int], topic_prefix: str, tmp_path: Path
) -> None:
    database, folder = tmp_path / "outbox.sqlite3", tmp_path / "evidence"
    evidence_topic = f"{topic_prefix}/site/pump-01/evidence/a1/image"
    previous_run = EvidenceStore(database, folder, 86_400, 10_000)
    queue_evidence(previous_run, evidence_topic, b"left")
    previous_run.close()  # stopped before the broker had it

    with contextlib.closing(CountingStore(database, folder, 86_400, 10_000)) as store:
        async with subscribe(*broker, f"{topic_prefix}/#") as seen:
            link = MqttLink(BrokerConfig(port=broker[1]), f"{topic_prefix}/status")
            publisher = Publisher(link, Outbox(":memory:"), retry_s=0.1, evidence=store)
            async with running(link.run(), publisher.run()):
                await seen.wait_for(lambda c: payloads(c, evidence_topic) == [b"left"], 10)
                await eventually(lambda: not store.queued, 5)  # a pass found the queue empty
                asked = store.asked
                for seq in range(1, 4):  # each waits for the one before: three passes at least
                    publisher.send_event(seq, f"{topic_prefix}/d/alarm", b"{}")

                    def arrived(c: Collector, n: int = seq) -> bool:
                        return len(c.json("/alarm")) == n

                    await seen.wait_for(arrived, 10)
                assert store.asked == asked  # nothing queued: no query, no thread

                queue_evidence(store, evidence_topic, b"new")
                await seen.wait_for(lambda c: len(payloads(c, evidence_topic)) == 2, 10)
        assert payloads(seen, evidence_topic) == [b"left", b"new"]
