"""The durable outbox: nothing is lost across a dead broker or a dead agent."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import aiomqtt
import pytest

from agent.config.device import BrokerConfig
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.outbox import AlarmKey, Outbox
from agent.sinks.mqtt.publisher import Publisher
from tests.support.mqtt import MosquittoProcess, subscribe
from tests.support.proxy import cuttable_proxy
from tests.support.tasks import running


def event(seq: int) -> bytes:
    return json.dumps({"id": f"alarm-{seq}", "seq": seq, "decided_at": f"t{seq}"}).encode()


def test_fifo_by_sequence_and_persistent_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    assert (outbox.restored, outbox.last_seq(), outbox.head()) == (0, 0, None)
    for seq in (7, 8, 9):
        outbox.add(seq, "t", event(seq))
    outbox.failed(7)
    outbox.acknowledged(7)
    outbox.close()

    again = Outbox(path)
    assert again.restored == 2
    assert again.last_seq() == 9  # numbering continues after a restart
    head = again.head()
    assert head is not None
    assert (head.seq, head.attempts, json.loads(head.payload)["id"]) == (8, 0, "alarm-8")
    again.acknowledged(8)
    again.acknowledged(9)
    assert len(again) == 0
    assert again.last_seq() == 9


def test_a_held_event_is_durable_and_released_as_stored_by_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.add(1, "t", event(1), held=True)  # its evidence is rendering
    outbox.add(2, "t", event(2))
    head = outbox.head()
    assert head is not None and (head.seq, head.held) == (1, True)
    outbox.complete(1, b'{"final": true}')
    head = outbox.head()
    assert head is not None and (head.held, head.payload) == (False, b'{"final": true}')

    outbox.add(3, "t", event(3), held=True)
    outbox.acknowledged(1)
    outbox.acknowledged(2)
    outbox.close()  # the agent dies while 3's evidence renders
    again = Outbox(path)
    head = again.head()
    assert head is not None and (head.seq, head.held) == (3, False)  # nothing will complete it
    assert json.loads(head.payload)["id"] == "alarm-3"


def test_each_device_s_latest_alarm_event_outlives_delivery_and_reopening(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    events = [("pump", "a1", "raised"), ("motor", "b1", "raised"), ("pump", "a1", "updated"),
              ("motor", "b1", "cleared"), ("valve", "c1", "raised")]  # fmt: skip
    for seq, (device, alarm_id, event) in enumerate(events, start=1):
        payload = json.dumps({"id": alarm_id, "event": event, "seq": seq}).encode()
        outbox.add(seq, f"t/{device}/alarm", payload, alarm=AlarmKey(device, alarm_id, event))
        outbox.acknowledged(seq)
    outbox.add(6, "t/other", b"{}")  # not an alarm's event
    outbox.close()

    left_open = Outbox(tmp_path / "o.db").open_alarms()
    assert sorted(left_open) == ["pump", "valve"]  # the motor's alarm was cleared
    assert (left_open["pump"].alarm_id, left_open["pump"].event) == ("a1", "updated")
    assert left_open["pump"].seq == 3 and left_open["pump"].payload["seq"] == 3


def test_an_outbox_from_before_held_events_opens(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
            " payload BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        )
        db.execute("INSERT INTO outbox (seq, topic, payload) VALUES (4, 't', ?)", (event(4),))
    outbox = Outbox(path)
    head = outbox.head()
    assert head is not None and (head.seq, head.held, outbox.restored) == (4, False, 1)


async def test_events_left_by_a_dead_agent_are_replayed_in_order_with_the_flag(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    path = tmp_path / "outbox.sqlite3"
    topic = f"{topic_prefix}/pump-01/alarm"
    async with cuttable_proxy(*broker) as proxy:
        await proxy.cut()  # the broker is unreachable for the first agent
        first = Publisher(MqttLink(BrokerConfig(port=proxy.port), f"{topic_prefix}/status"),
                          Outbox(path))  # fmt: skip
        async with running(first.link.run(), first.run()):
            for seq in (1, 2, 3):
                first.send_event(seq, topic, event(seq))
            await asyncio.sleep(0.5)
        first.outbox.close()  # the agent dies here, three alarms unsent

        await proxy.restore()
        async with subscribe(*broker, topic) as seen:
            second = Publisher(
                MqttLink(BrokerConfig(port=proxy.port), f"{topic_prefix}/status"), Outbox(path)
            )
            assert second.outbox.restored == 3
            async with running(second.link.run(), second.run()):
                await seen.wait_for(lambda c: len(c.json("/alarm")) == 3, 10)
                second.send_event(second.outbox.last_seq() + 1, topic, event(4))
                await seen.wait_for(lambda c: len(c.json("/alarm")) == 4, 10)
    alarms = seen.json("/alarm")
    assert [a["seq"] for a in alarms] == [1, 2, 3, 4]
    assert [a["id"] for a in alarms] == ["alarm-1", "alarm-2", "alarm-3", "alarm-4"]
    assert [a["decided_at"] for a in alarms] == ["t1", "t2", "t3", "t4"]  # original stamps
    assert [a.get("replayed", False) for a in alarms] == [True, True, True, False]


@pytest.fixture
def persistent_broker(tmp_path: Path) -> MosquittoProcess:
    broker = MosquittoProcess(tmp_path)
    broker.listener_options = [
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {tmp_path}/",
    ]
    return broker


@pytest.mark.slow
async def test_broker_down_for_20_s_loses_nothing_and_leaves_no_gap(
    persistent_broker: MosquittoProcess, tmp_path: Path
) -> None:
    """Alarms keep coming while the broker is stopped for 20 s; all arrive once, in order."""
    persistent_broker.start()
    host, port = "127.0.0.1", persistent_broker.port

    def watcher() -> aiomqtt.Client:  # a durable subscription
        return aiomqtt.Client(host, port, identifier="scada-watcher", clean_session=False)

    async with watcher() as client:
        await client.subscribe("plant/+/alarm", qos=1)

    publisher = Publisher(
        MqttLink(BrokerConfig(port=port), "plant/status"), Outbox(tmp_path / "o.sqlite3"), 0.2
    )
    async with running(publisher.link.run(), publisher.run()):
        await asyncio.wait_for(publisher.link.connected.wait(), 10)
        for seq in range(1, 31):  # one alarm event every second for 30 s
            if seq == 6:
                persistent_broker.stop(graceful=True)
            if seq == 26:
                persistent_broker.start()
            publisher.send_event(seq, "plant/pump-01/alarm", event(seq))
            await asyncio.sleep(1.0)
        assert await publisher.drain(30)

    received: list[dict[str, object]] = []
    async with watcher() as client:
        await client.subscribe("plant/+/alarm", qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                received.append(json.loads(bytes(message.payload or b"")))
                if len({r["seq"] for r in received}) == 30:
                    break
    persistent_broker.stop()
    unique = sorted({int(r["seq"]) for r in received})  # type: ignore[call-overload]
    assert unique == list(range(1, 31))  # every alarm, no gap
    late = {int(r["seq"]) for r in received if r.get("replayed")}  # type: ignore[call-overload]
    assert set(range(6, 26)) <= late  # those raised while the broker was down say so
