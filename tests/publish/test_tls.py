"""MQTT over TLS with username/password, against a real Mosquitto with its own certificates."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from agent.config.device import BrokerConfig
from agent.sinks.mqtt.link import MqttLink, tls_context
from tests.support.mqtt import MosquittoProcess
from tests.support.tasks import running

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None,
    reason="needs openssl and mosquitto_passwd to set up a TLS broker",
)
PASSWORD = "pump-room-s3cret"


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt = folder / "server.key", folder / "server.csr", folder / "server.crt"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    commands = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
         "-keyout", ca_key, "-out", ca_crt],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", key, "-out", csr],
        ["x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
         "-days", "1", "-extfile", ext, "-out", crt],
    ]  # fmt: skip
    for command in commands:
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca_crt, crt, key


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    ca, crt, key = make_certificates(tmp_path)
    passwords = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwords), "agent", PASSWORD],
        check=True, capture_output=True,
    )  # fmt: skip
    broker = MosquittoProcess(tmp_path)
    broker.listener_options = [
        f"cafile {ca}", f"certfile {crt}", f"keyfile {key}",
        "allow_anonymous false", f"password_file {passwords}",
    ]  # fmt: skip
    broker.start()
    yield broker
    broker.stop()


def config(broker: MosquittoProcess, password: str) -> BrokerConfig:
    return BrokerConfig.model_validate(
        {
            "port": broker.port,
            "username": "agent",
            "password": password,
            "tls": {"enabled": True, "ca_file": broker.workdir / "ca.crt"},
        }
    )


async def test_publishes_over_tls_with_credentials(tls_broker: MosquittoProcess) -> None:
    settings = config(tls_broker, PASSWORD)
    link = MqttLink(settings, "site/status")
    async with (
        aiomqtt.Client(
            "127.0.0.1", tls_broker.port, username="agent", password=PASSWORD,
            tls_context=tls_context(settings),
        ) as watcher,
        running(link.run()),
    ):  # fmt: skip
        await watcher.subscribe("site/#", qos=1)
        await asyncio.wait_for(link.connected.wait(), 10)
        await link.publish("site/pump-01/alarm", b'{"id": "x"}')
        async with asyncio.timeout(5):
            async for message in watcher.messages:
                if str(message.topic) == "site/pump-01/alarm":
                    assert message.payload == b'{"id": "x"}'
                    break


async def test_wrong_password_keeps_retrying_and_never_logs_secrets(
    tls_broker: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = MqttLink(config(tls_broker, "wrong-" + PASSWORD), "site/status")
    async with running(link.run()):
        await asyncio.sleep(2.0)
        assert not link.connected.is_set()
    assert "broker unreachable" in caplog.text
    assert PASSWORD not in caplog.text
