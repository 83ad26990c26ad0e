"""Break the broker and the agent on purpose: `edge-agent run` must keep every alarm.

The agent runs as a subprocess on a thermal camera whose frames flip between a hot spot and
a cold field, so it raises and clears an alarm every couple of seconds. A Mosquitto of the
test's own goes away and comes back, the agent is killed with SIGKILL, and a durable
subscriber (a SCADA client with a persistent session) checks what finally arrives: every
event once after de-duplication by id+event+seq, sequence numbers without a gap, and any
event the agent sent again marked `"replayed": true`.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from agent.runtime.agent import OUTBOX_FILE
from agent.sinks.mqtt.outbox import Outbox
from tests.support.agent_process import agent_process
from tests.support.mqtt import Collector, MosquittoProcess, subscribe
from tests.support.tasks import eventually
from tests.support.thermal_frames import frame_with_spot, infrared_source

pytestmark = pytest.mark.slow

HOST = "127.0.0.1"
WATCHER: dict[str, Any] = {"identifier": "scada-watcher", "clean_session": False}
ALARMS = "plant/faults/+/alarm"
HOT, COLD = frame_with_spot(30.0, 120.0), frame_with_spot(30.0, None)


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A broker that keeps durable sessions across a graceful stop, started by the test."""
    broker = MosquittoProcess(tmp_path)
    broker.listener_options = [
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {tmp_path}/",
    ]
    yield broker
    broker.stop()


def write_config(tmp_path: Path) -> Path:
    """One device whose alarm is raised and cleared over and over (about one event a second)."""
    config = {
        "site": "faults",
        "broker": {"topic_prefix": "plant", "host": "unused.invalid", "ack_timeout_s": 2},
        "storage": {"dir": str(tmp_path / "state")},
        "devices": [
            {
                "id": "kiln-01",
                "sources": {"infrared": infrared_source(tmp_path / "ir", [HOT] * 4 + [COLD] * 4)},
                "alarm": {"min_hold_s": 0},
            }
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def stored_events(tmp_path: Path) -> tuple[int, int]:
    """(events waiting in the agent's outbox, highest seq it ever stored)."""
    outbox = Outbox(tmp_path / "state" / OUTBOX_FILE)
    try:
        return len(outbox), outbox.last_seq()
    finally:
        outbox.close()


async def register_watcher(broker: MosquittoProcess) -> None:
    """Create the durable subscription, then stop the broker so it saves it."""
    async with aiomqtt.Client(HOST, broker.port, **WATCHER) as client:
        await client.subscribe(ALARMS, qos=1)


def watching(broker: MosquittoProcess) -> AbstractAsyncContextManager[Collector]:
    """The durable subscriber, connected: it also gets what was queued while it was away."""
    return subscribe(HOST, broker.port, ALARMS, **WATCHER)


def check_delivery(
    alarms: list[dict[str, Any]], last_seq: int, repeats_flagged: bool = True
) -> set[int]:
    """Every seq 1..last_seq arrived; a repeat is marked replayed. Returns replayed seqs.

    `repeats_flagged=False` where the subscriber itself reconnected to a restarted broker:
    MQTT QoS 1 then lets the broker redeliver an unacknowledged copy to the subscriber as it
    was, which only de-duplication by id+event+seq can absorb.
    """
    keys = Counter((a["id"], a["event"], a["seq"]) for a in alarms)
    assert sorted(seq for _, _, seq in keys) == list(range(1, last_seq + 1))  # once each, no gap
    for key, copies in keys.items():
        if copies > 1 and repeats_flagged:
            sent = [a for a in alarms if (a["id"], a["event"], a["seq"]) == key]
            assert all(a.get("replayed") for a in sent[1:]), key
    lifecycle = [a["event"] for a in sorted(alarms, key=lambda a: a["seq"])]
    assert lifecycle[0] == "raised"
    return {a["seq"] for a in alarms if a.get("replayed")}


def seqs(seen: Collector) -> set[int]:
    return {int(a["seq"]) for a in seen.json("/alarm")}


async def stop_agent(agent: asyncio.subprocess.Process) -> None:
    """SIGTERM: the agent drains its outbox and exits 0."""
    agent.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(agent.wait(), 30) == 0


async def test_sigkill_between_persisting_and_publishing_loses_and_duplicates_nothing(
    tmp_path: Path, persistent_broker: MosquittoProcess
) -> None:
    config = write_config(tmp_path)
    address = (HOST, persistent_broker.port)
    log = tmp_path / "agent.log"
    # the broker is away: events are persisted in the outbox and cannot be published
    async with agent_process(config, address, log) as first:
        await eventually(lambda: stored_events(tmp_path)[0] >= 4, 30, every=0.2)
        first.send_signal(signal.SIGKILL)
        await first.wait()
    left, killed_at_seq = stored_events(tmp_path)
    assert left == killed_at_seq >= 4  # nothing was delivered, nothing was lost

    persistent_broker.start()
    async with watching(persistent_broker) as seen, agent_process(config, address, log) as second:
        await seen.wait_for(lambda c: len(seqs(c)) >= killed_at_seq + 4, 40)
        await stop_agent(second)
    left, last_seq = stored_events(tmp_path)
    assert left == 0
    await seen.wait_for(lambda c: len(seqs(c)) == last_seq, 10)

    alarms = seen.json("/alarm")
    replayed = check_delivery(alarms, last_seq)
    assert set(range(1, killed_at_seq + 1)) <= replayed  # left by the dead agent, marked so
    assert min(seqs(seen) - replayed) > killed_at_seq  # numbering went on after the restart


async def test_agent_started_before_the_broker_runs_throughout_and_delivers(
    tmp_path: Path, persistent_broker: MosquittoProcess
) -> None:
    persistent_broker.start()
    await register_watcher(persistent_broker)
    persistent_broker.stop(graceful=True)

    config = write_config(tmp_path)
    address = (HOST, persistent_broker.port)
    async with agent_process(config, address, tmp_path / "agent.log") as agent:
        await asyncio.sleep(10.0)  # no broker for the first 10 s
        assert agent.returncode is None
        raised_without_broker = stored_events(tmp_path)[1]
        assert raised_without_broker >= 2  # raised and cleared, with nowhere to send them
        persistent_broker.start()
        async with watching(persistent_broker) as seen:
            await seen.wait_for(lambda c: len(seqs(c)) >= raised_without_broker + 2, 40)
            await stop_agent(agent)
            last_seq = stored_events(tmp_path)[1]
            await seen.wait_for(lambda c: len(seqs(c)) == last_seq, 10)

    replayed = check_delivery(seen.json("/alarm"), last_seq)
    assert set(range(1, raised_without_broker + 1)) <= replayed


async def test_broker_down_for_20_s_mid_stream_every_alarm_arrives_once(
    tmp_path: Path, persistent_broker: MosquittoProcess
) -> None:
    persistent_broker.start()
    config = write_config(tmp_path)
    address = (HOST, persistent_broker.port)
    async with agent_process(config, address, tmp_path / "agent.log") as agent:
        async with watching(persistent_broker) as before:
            await before.wait_for(lambda c: len(seqs(c)) >= 3, 30)
        persistent_broker.stop(graceful=True)  # saves the watcher's session and its queue
        outage_from = stored_events(tmp_path)[1]
        await asyncio.sleep(20.0)
        outage_to = stored_events(tmp_path)[1]
        assert agent.returncode is None
        assert outage_to >= outage_from + 8  # alarms kept being raised during the outage
        persistent_broker.start()
        async with watching(persistent_broker) as after:
            await after.wait_for(lambda c: len(seqs(c)) >= outage_to - outage_from + 2, 60)
            await stop_agent(agent)
            last_seq = stored_events(tmp_path)[1]
            await after.wait_for(lambda c: max(seqs(c)) == last_seq, 10)

    alarms = before.json("/alarm") + after.json("/alarm")
    replayed = check_delivery(alarms, last_seq, repeats_flagged=False)
    assert set(range(outage_from + 2, outage_to + 1)) <= replayed  # raised while it was down
