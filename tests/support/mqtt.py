"""Real-broker helpers for tests: a Mosquitto process on a free port and a collecting subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections there."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


@dataclass
class MosquittoProcess:
    """A private broker that a test may stop and restart to simulate an outage."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    listener_options: list[str] = field(default_factory=lambda: ["allow_anonymous true"])

    def start(self) -> None:
        """Start (or restart on the same port) and wait until it accepts connections."""
        binary = shutil.which("mosquitto")
        if binary is None:
            raise RuntimeError("mosquitto is not installed")
        conf = self.workdir / "mosquitto.conf"
        options = "\n".join(self.listener_options)
        # as root, mosquitto would drop to user `mosquitto`, who cannot read the test's files
        user = getpass.getuser()
        conf.write_text(f"user {user}\nlistener {self.port} 127.0.0.1\n{options}\n")
        with (self.workdir / "mosquitto.log").open("ab") as log:  # the child keeps its own fd
            self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self, graceful: bool = False) -> None:
        """Kill the broker (no goodbye, like a crash), or stop it so it saves its state."""
        if self.process is not None:
            if graceful:
                self.process.terminate()
            else:
                self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class Collector:
    """Messages received so far, with a way to wait for the one a test expects."""

    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, topic: str, payload: bytes, retain: bool) -> None:
        """Record one message (called by the subscriber task)."""
        self.messages.append((topic, payload, retain))
        self._arrived.set()

    def json(self, suffix: str) -> list[dict[str, Any]]:
        """Decoded JSON payloads of topics ending with `suffix`, in arrival order."""
        return [json.loads(p) for t, p, _ in self.messages if t.endswith(suffix) and p]

    async def wait_for(self, predicate: Callable[[Collector], bool], seconds: float) -> None:
        """Until predicate(self) holds; TimeoutError otherwise."""
        async with asyncio.timeout(seconds):
            while not predicate(self):
                self._arrived.clear()
                await self._arrived.wait()


@contextlib.asynccontextmanager
async def subscribe(
    host: str, port: int, topic: str, **client_options: Any
) -> AsyncIterator[Collector]:
    """Subscribe to `topic` on a real broker for the duration of the block.

    `client_options` go to aiomqtt.Client, e.g. an identifier and clean_session=False for a
    durable session that also receives what was queued for it while it was away.
    """
    collector = Collector()
    async with aiomqtt.Client(host, port, **client_options) as client:
        await client.subscribe(topic, qos=1)

        async def pump() -> None:
            async for message in client.messages:
                collector.add(str(message.topic), bytes(message.payload or b""), message.retain)

        task = asyncio.create_task(pump())
        try:
            yield collector
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
