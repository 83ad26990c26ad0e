"""systemd's notify protocol: READY/STATUS/RELOADING, and a watchdog that pings only on progress.

The protocol is one datagram per message to the unix socket named in $NOTIFY_SOCKET (a name
starting with '@' is in the abstract namespace). Without $NOTIFY_SOCKET (not under systemd)
every call is a no-op.

The watchdog pings from the event loop itself, so a blocked loop stops the pings; and it pings
only while every device pipeline has decided recently (each decides at least once a second),
so a stalled pipeline stops them too, and so does a broker link that gave up. systemd then
kills and restarts the agent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Protocol

log = logging.getLogger(__name__)

STALL_AFTER_S = 5.0  # a pipeline that has not decided for this long is stuck


def notify(message: str) -> bool:
    """Send one notification ('READY=1', 'STATUS=...'); False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), address)
    except OSError as exc:
        log.warning("systemd notify failed", extra={"fields": {"error": str(exc)}})
        return False
    return True


def watchdog_interval_s() -> float | None:
    """systemd's watchdog timeout for this process ($WATCHDOG_USEC), or None when off."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (we were started by a child of the service)
    return int(usec) / 1_000_000


class Decided(Protocol):
    """A pipeline's status as the watchdog reads it: its latest decision."""

    @property
    def last_decision(self) -> object | None: ...


class Decides(Protocol):
    """What the watchdog needs of a pipeline: its device id and a status with its decision."""

    @property
    def device(self) -> str: ...

    def status(self) -> Decided: ...


class ProgressMonitor:
    """Tells whether every pipeline produced a new decision within `stall_after_s`.

    Progress is a new Decision object since the last look (compared by identity, and the last
    one kept alive so its identity cannot be reused; no wall clock involved, so a clock jump
    cannot fake or hide it); the time it was noticed is monotonic.
    """

    def __init__(self, stall_after_s: float = STALL_AFTER_S) -> None:
        self.stall_after_s = stall_after_s
        self._seen: dict[str, tuple[object | None, float]] = {}

    def stalled(self, pipelines: Iterable[Decides], now: float | None = None) -> list[str]:
        """Devices whose pipeline has not decided for too long (empty when all progress)."""
        now = time.monotonic() if now is None else now
        seen: dict[str, tuple[object | None, float]] = {}
        for pipeline in pipelines:
            decision = pipeline.status().last_decision
            previous = self._seen.get(pipeline.device)
            unchanged = previous is not None and previous[0] is decision
            seen[pipeline.device] = (decision, previous[1] if unchanged and previous else now)
        self._seen = seen  # devices removed by a reload are forgotten
        return [d for d, (_, at) in seen.items() if now - at > self.stall_after_s]


def _no_failure() -> str | None:
    return None


async def run_watchdog(
    pipelines: Callable[[], Iterable[Decides]],
    interval_s: float,
    monitor: ProgressMonitor,
    failure: Callable[[], str | None] = _no_failure,
) -> None:
    """Ping WATCHDOG=1 every interval/2 while the loop runs, every pipeline progresses and
    `failure()` (the broker link's) is None."""
    warned = False
    while True:
        await asyncio.sleep(interval_s / 2)
        stalled = monitor.stalled(pipelines())
        failed = failure()
        if not stalled and failed is None:
            notify("WATCHDOG=1")
            warned = False
        elif not warned:
            if failed is not None:
                log.error("broker link failed, withholding the watchdog ping",
                          extra={"fields": {"error": failed}})  # fmt: skip
                notify(f"STATUS=broker link failed: {failed}")
            else:
                log.error("pipelines stalled, withholding the watchdog ping",
                          extra={"fields": {"devices": stalled}})  # fmt: skip
                notify(f"STATUS=stalled: {', '.join(stalled)}")
            warned = True
