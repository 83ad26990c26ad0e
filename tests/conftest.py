"""Shared fixtures: real MQTT brokers on loopback, and each test's own root logger."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.sinks.mqtt.retained import clear_retained
from tests.support.mqtt import MosquittoProcess, port_open

SYSTEM_BROKER = ("127.0.0.1", 1883)


@pytest.fixture(autouse=True)
def root_logger_restored() -> Iterator[None]:
    """A test that runs the CLI in-process routes the root logger to the stderr pytest
    captured for it; put the other handlers and the level back, so later tests do not log to
    a closed stream. Pytest's own capture handlers come and go with each phase: left alone."""
    root = logging.getLogger()
    others, level = [h for h in root.handlers if not pytests(h)], root.level
    yield
    root.handlers[:] = [*(h for h in root.handlers if pytests(h)), *others]
    root.setLevel(level)


def pytests(handler: logging.Handler) -> bool:
    """Whether pytest's logging plugin put this handler there."""
    return type(handler).__module__.startswith("_pytest")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The machine's Mosquitto on 1883 when it runs, else a private one for the session."""
    if port_open(*SYSTEM_BROKER):
        yield SYSTEM_BROKER
        return
    mosquitto = MosquittoProcess(tmp_path_factory.mktemp("broker"))
    mosquitto.start()
    yield ("127.0.0.1", mosquitto.port)
    mosquitto.stop()


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A broker of the test's own, which it may kill and restart."""
    mosquitto = MosquittoProcess(tmp_path)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
async def topic_prefix(broker: tuple[str, int]) -> AsyncIterator[str]:
    """A prefix no other test uses, so tests sharing a broker never see each other's messages.

    Retained messages left under it are deleted afterwards, so the shared broker stays clean.
    """
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    await clear_retained(*broker, f"{prefix}/#")
