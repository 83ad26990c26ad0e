"""sd_notify over a real unix datagram socket: READY, STATUS, and a watchdog that needs progress."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from agent.runtime.systemd import ProgressMonitor, notify, run_watchdog, watchdog_interval_s
from tests.support.agent_process import (
    agent_config,
    agent_process,
    log_records,
    thermal_device,
)
from tests.support.tasks import eventually


@dataclass
class NotifyListener:
    """systemd's side: a bound datagram socket, read in a thread (the loop may be blocked)."""

    sock: socket.socket
    received: list[tuple[float, str]] = field(default_factory=list)

    def messages(self, prefix: str) -> list[float]:
        """Arrival times (monotonic) of messages starting with `prefix`."""
        return [at for at, text in list(self.received) if text.startswith(prefix)]

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            for line in data.decode().splitlines():
                self.received.append((time.monotonic(), line))


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifyListener]:
    """An abstract-namespace socket, named in $NOTIFY_SOCKET as systemd does ('@...')."""
    name = f"edge-agent-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    listening = NotifyListener(sock)
    reader = threading.Thread(target=listening._read, daemon=True)
    reader.start()
    yield listening
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    reader.join(timeout=5)


@dataclass
class FakeProgress:
    """A pipeline as the watchdog sees it: an id and a decision that changes while it works."""

    device: str
    last_decision: object | None = None

    def status(self) -> FakeProgress:
        """Its own status: the watchdog reads `last_decision` there."""
        return self

    async def work(self, until: asyncio.Event) -> None:
        """Decide every 50 ms until `until` is set, then stall (the task lives on, idle)."""
        while not until.is_set():
            self.last_decision = object()
            await asyncio.sleep(0.05)
        await asyncio.Event().wait()


def test_notify_is_a_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


def test_notify_sends_to_a_socket_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert notify("STATUS=hello") is True
        assert sock.recv(100) == b"STATUS=hello"


def test_watchdog_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog_interval_s() is None
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    assert watchdog_interval_s() == 20.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # systemd meant another process
    assert watchdog_interval_s() is None


def test_progress_monitor_names_the_pipeline_that_stopped_deciding() -> None:
    monitor = ProgressMonitor(stall_after_s=5.0)
    pump, motor = FakeProgress("pump", object()), FakeProgress("motor", object())
    assert monitor.stalled([pump, motor], now=100.0) == []
    pump.last_decision = object()
    assert monitor.stalled([pump, motor], now=104.0) == []
    pump.last_decision = object()
    assert monitor.stalled([pump, motor], now=106.0) == ["motor"]
    assert monitor.stalled([pump], now=107.0) == []  # a device removed by a reload is forgotten


async def test_pings_stop_while_the_event_loop_is_blocked(listener: NotifyListener) -> None:
    pump = FakeProgress("pump")
    worker = asyncio.create_task(pump.work(asyncio.Event()))
    watchdog = asyncio.create_task(run_watchdog(lambda: [pump], 0.2, ProgressMonitor(1.0)))
    await eventually(lambda: len(listener.messages("WATCHDOG=1")) >= 3, 10)
    blocked_at = time.monotonic()
    time.sleep(1.5)  # noqa: ASYNC251 - on purpose: a handler stuck in blocking code
    unblocked_at = time.monotonic()
    await eventually(lambda: listener.messages("WATCHDOG=1")[-1] > unblocked_at, 10)
    for task in (worker, watchdog):
        task.cancel()
    await asyncio.gather(worker, watchdog, return_exceptions=True)
    during = [at for at in listener.messages("WATCHDOG=1") if blocked_at < at < unblocked_at]
    assert during == []


async def test_pings_stop_when_a_pipeline_stalls(listener: NotifyListener) -> None:
    pump, motor = FakeProgress("pump"), FakeProgress("motor")
    motor_stops = asyncio.Event()
    workers = [
        asyncio.create_task(pump.work(asyncio.Event())),
        asyncio.create_task(motor.work(motor_stops)),
    ]
    watchdog = asyncio.create_task(run_watchdog(lambda: [pump, motor], 0.2, ProgressMonitor(0.5)))
    await eventually(lambda: len(listener.messages("WATCHDOG=1")) >= 3, 10)
    motor_stops.set()
    stalled_at = time.monotonic()
    await eventually(lambda: bool(listener.messages("STATUS=stalled: motor")), 10)
    await asyncio.sleep(1.5)
    for task in (*workers, watchdog):
        task.cancel()
    await asyncio.gather(*workers, watchdog, return_exceptions=True)
    # the last ping may come up to stall_after_s (+ one check period) after the stall
    late = [at for at in listener.messages("WATCHDOG=1") if at > stalled_at + 0.5 + 0.3]
    assert late == []


async def test_pings_stop_when_the_broker_link_gave_up(listener: NotifyListener) -> None:
    pump = FakeProgress("pump")
    failure: list[str] = []
    worker = asyncio.create_task(pump.work(asyncio.Event()))
    watchdog = asyncio.create_task(
        run_watchdog(lambda: [pump], 0.2, ProgressMonitor(1.0), lambda: next(iter(failure), None))
    )
    await eventually(lambda: len(listener.messages("WATCHDOG=1")) >= 3, 10)
    failure.append("RuntimeError: boom")
    failed_at = time.monotonic()
    await eventually(lambda: bool(listener.messages("STATUS=broker link failed: RuntimeError")), 10)
    await asyncio.sleep(0.6)
    for task in (worker, watchdog):
        task.cancel()
    await asyncio.gather(worker, watchdog, return_exceptions=True)
    assert [at for at in listener.messages("WATCHDOG=1") if at > failed_at + 0.15] == []


@pytest.mark.slow
@pytest.mark.timeout(400)  # generous: a busy machine starts Python and OpenCV slowly
async def test_agent_process_says_ready_pings_the_watchdog_and_reloads(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str, listener: NotifyListener
) -> None:
    config = agent_config(
        topic_prefix, tmp_path / "state", [thermal_device("pump-01", tmp_path, None)]
    )
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    log = tmp_path / "agent.log"
    async with agent_process(path, broker, log, env={"WATCHDOG_USEC": "1000000"}) as agent:
        await eventually(lambda: bool(listener.messages("READY=1")), 180)
        ready_at = listener.messages("READY=1")[0]
        pings = lambda: [t for t in listener.messages("WATCHDOG=1") if t > ready_at]  # noqa: E731
        await eventually(lambda: len(pings()) >= 3, 20)
        await eventually(lambda: bool(listener.messages("STATUS=1 devices")), 20)
        agent.send_signal(signal.SIGHUP)  # `systemctl reload`, the file unchanged
        await eventually(lambda: len(listener.messages("READY=1")) == 2, 60)
        agent.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(agent.wait(), 60) == 0
    assert log_records(log, "agent ready")[0]["still_starting"] == []
    reloading = listener.messages("RELOADING=1")
    assert len(reloading) == 1 and reloading[0] < listener.messages("READY=1")[1]
    reloaded = log_records(log, "config reloaded")
    assert [(r["kept"], r["replaced"]) for r in reloaded] == [(["pump-01"], [])]
