"""With failover brokers the link moves to the next that answers, and back to the preferred
one once the failover is lost; every broker in turn gets the retained `online`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from agent.config.device import BrokerAddress, BrokerConfig
from agent.config.loader import ConfigError, parse_config
from agent.sinks.mqtt.link import MqttLink
from tests.support.mqtt import MosquittoProcess, free_port, subscribe
from tests.support.tasks import eventually, running

STATUS = "site/status"


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[tuple[MosquittoProcess, MosquittoProcess]]:
    """Two private brokers, the preferred and its failover, both running."""
    pair = []
    for name in ("preferred", "failover"):
        folder = tmp_path / name
        folder.mkdir()
        broker = MosquittoProcess(folder)
        broker.start()
        pair.append(broker)
    yield pair[0], pair[1]
    for broker in pair:
        broker.stop()


def config(preferred: int, *failover: int) -> BrokerConfig:
    return BrokerConfig(
        port=preferred, failover=[BrokerAddress(host="127.0.0.1", port=p) for p in failover]
    )


async def online_on(broker: MosquittoProcess) -> bytes:
    async with subscribe("127.0.0.1", broker.port, STATUS) as seen:
        await seen.wait_for(lambda c: bool(c.messages), 5)
        return seen.messages[-1][1]


async def test_the_link_moves_to_the_failover_and_back(
    brokers: tuple[MosquittoProcess, MosquittoProcess],
) -> None:
    preferred, failover = brokers
    link = MqttLink(config(preferred.port, failover.port), STATUS)
    async with running(link.run()):
        await asyncio.wait_for(link.connected.wait(), 5)
        assert link.address.port == preferred.port

        lost = time.monotonic()
        preferred.stop()  # a crash
        await eventually(lambda: link.connected.is_set() and link.address.port == failover.port, 10)
        assert time.monotonic() - lost < 3.0
        await link.publish("site/pump-01/alarm", b"{}")
        assert await online_on(failover) == b"online"

        await asyncio.to_thread(preferred.start)
        await asyncio.sleep(1.0)
        assert link.address.port == failover.port  # no flapping while the failover serves
        failover.stop()
        await eventually(
            lambda: link.connected.is_set() and link.address.port == preferred.port, 10
        )
        await link.publish("site/pump-01/alarm", b"{}")
        assert await online_on(preferred) == b"online"


async def test_an_agent_started_while_the_preferred_broker_is_down_uses_the_failover(
    brokers: tuple[MosquittoProcess, MosquittoProcess],
) -> None:
    _, failover = brokers
    link = MqttLink(config(free_port(), failover.port), STATUS)  # nothing listens there
    async with running(link.run()):
        await asyncio.wait_for(link.connected.wait(), 5)
        assert link.address.port == failover.port


async def test_a_broker_that_accepts_tcp_but_refuses_the_session_is_passed_over(
    brokers: tuple[MosquittoProcess, MosquittoProcess],
) -> None:
    _, failover = brokers

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    async with server:
        link = MqttLink(
            config(server.sockets[0].getsockname()[1], failover.port).model_copy(
                update={"ack_timeout_s": 1.0}
            ),
            STATUS,
        )
        async with running(link.run()):
            await asyncio.wait_for(link.connected.wait(), 5)
            assert link.address.port == failover.port


def test_failover_brokers_in_the_config_file(tmp_path: Path) -> None:
    modbus = {"host": "127.0.0.1", "registers": [{"name": "pressure", "address": 0}]}
    base = {"site": "s", "devices": [{"id": "valve-03", "sources": {"modbus": modbus}}]}
    loaded = parse_config(
        {**base, "broker": {"host": "a", "failover": [{"host": "b"}, {"host": "c", "port": 8883}]}}
    )
    assert [str(a) for a in loaded.broker.addresses()] == ["a:1883", "b:1883", "c:8883"]
    with pytest.raises(ConfigError, match=r"broker\.failover\[0\]\.port: Input should be less"):
        parse_config({**base, "broker": {"failover": [{"host": "b", "port": 70000}]}})
    with pytest.raises(ConfigError, match=r"broker\.failover\[0\]\.host: Field required"):
        parse_config({**base, "broker": {"failover": [{"port": 1883}]}})


async def test_the_documented_site_bridge_carries_alarms_to_the_central_broker_and_acks_back(
    tmp_path: Path,
) -> None:
    """Alarms go out; acks and a bundle pushed to the central broker come in, once each."""
    central = MosquittoProcess(tmp_path / "central")
    site = MosquittoProcess(tmp_path / "site")
    site.listener_options = ["allow_anonymous true", *bridge_lines(central.port)]
    acks: list[tuple[str, bytes]] = []
    link = MqttLink(
        config(site.port, central.port),
        "edge/plant-a/status",
        subscriptions=("edge/plant-a/+/ack",),
        on_message=lambda topic, payload: acks.append((topic, payload)),
    )
    for broker in (central, site):
        broker.workdir.mkdir()
        broker.start()
    try:
        async with (
            subscribe("127.0.0.1", central.port, "edge/#") as seen,
            running(link.run()),
        ):
            await asyncio.wait_for(link.connected.wait(), 5)
            assert link.address.port == site.port
            await link.publish("edge/plant-a/pump-01/alarm", b'{"seq": 1}')
            await seen.wait_for(lambda c: any(t.endswith("/alarm") for t, _, _ in c.messages), 10)
            async with aiomqtt.Client("127.0.0.1", central.port) as operator:
                await operator.publish("edge/plant-a/pump-01/ack", b'{"id": "a1"}', qos=1)
            await eventually(lambda: bool(acks), 10)
            bundle = "edge/fleet/tune/bundle"
            async with subscribe("127.0.0.1", site.port, "edge/fleet/#") as at_site:
                async with aiomqtt.Client("127.0.0.1", central.port) as pusher:
                    await pusher.publish(bundle, b"{}", qos=1, retain=True)
                await at_site.wait_for(lambda c: any(t == bundle for t, _, _ in c.messages), 10)
                await asyncio.sleep(1.0)  # an echo over the bridge would be back in milliseconds
            assert [t for t, _, _ in seen.messages if t == bundle] == [bundle]
            assert [t for t, _, _ in seen.messages if t.endswith("/alarm")] == [
                "edge/plant-a/pump-01/alarm"
            ]
    finally:
        site.stop()
        central.stop()
    assert acks == [("edge/plant-a/pump-01/ack", b'{"id": "a1"}')]


def bridge_lines(central_port: int) -> list[str]:
    """The site broker's bridge as docs/fleet.md gives it (only the address differs)."""
    return [
        "connection central",
        f"address 127.0.0.1:{central_port}",
        "topic edge/# out 1",
        "topic edge/+/+/ack in 1",
        "topic edge/+/+/learn in 1",
        "topic edge/fleet/# in 1",
        "cleansession false",
        "remote_clientid bridge-plant-a",
    ]
