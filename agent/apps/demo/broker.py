"""The demo's broker: the configured one when it answers, else an embedded amqtt broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the demo publishes, and whether the demo runs that broker itself."""

    host: str
    port: int
    embedded: bool


async def reachable(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def demo_broker(host: str, port: int) -> AsyncIterator[BrokerAddress]:
    """Use host:port if a broker answers there; otherwise run amqtt on a free loopback port."""
    if await reachable(host, port):
        yield BrokerAddress(host, port, embedded=False)
        return
    from amqtt.broker import Broker  # only needed when no broker runs

    for noisy in ("amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    local_port = _free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{local_port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {
                "allow_anonymous": True
            }},
        }
    )  # fmt: skip
    await broker.start()
    try:
        yield BrokerAddress("127.0.0.1", local_port, embedded=True)
    finally:
        await broker.shutdown()
