"""The agent under systemd: READY once its sources have started, STATUS lines, watchdog pings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from agent.runtime.pipeline import DevicePipeline
from agent.runtime.systemd import ProgressMonitor, notify, run_watchdog, watchdog_interval_s

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0  # a source still connecting after this is reported, not waited for
STATUS_EVERY_S = 10.0
READY_POLL_S = 0.2


def starting_sources(pipelines: Sequence[DevicePipeline]) -> list[str]:
    """Sources that have neither delivered a sample nor failed yet, as 'device/modality'."""
    return [
        f"{p.device}/{modality}"
        for p in pipelines
        for modality, source in p.status().sources.items()
        if source.state == "starting"
    ]


class Served(Protocol):
    """What systemd is told about: the agent's pipelines, its undelivered events and whether
    its broker link gave up."""

    pipelines: list[DevicePipeline]

    @property
    def pending_events(self) -> int: ...

    @property
    def link_failure(self) -> str | None: ...


def status_line(agent: Served) -> str:
    """One line for `systemctl status`: devices, sources, open alarms, undelivered events."""
    statuses = [p.status() for p in agent.pipelines]
    health = [s.state for status in statuses for s in status.sources.values()]
    ok = sum(state == "ok" for state in health)
    alarms = sum(status.active_alarm is not None for status in statuses)
    if agent.link_failure is not None:
        return f"STATUS=broker link failed: {agent.link_failure}"
    return (
        f"STATUS={len(agent.pipelines)} devices, {ok}/{len(health)} sources ok, "
        f"{alarms} alarms open, {agent.pending_events} events undelivered"
    )


async def announce_ready(agent: Served, timeout_s: float = READY_TIMEOUT_S) -> None:
    """READY=1 once every source has started (delivered or failed), or after `timeout_s`."""
    for _ in range(round(timeout_s / READY_POLL_S)):  # health changes have no event to await
        if not starting_sources(agent.pipelines):
            break
        await asyncio.sleep(READY_POLL_S)
    waiting = starting_sources(agent.pipelines)
    notify("READY=1")
    log.info("agent ready", extra={"fields": {"still_starting": waiting}})


async def serve_systemd(agent: Served) -> None:
    """Tell systemd when the agent is ready, how it is, and that it still makes progress."""
    interval = watchdog_interval_s()
    watchdog = None
    if interval is not None:
        monitor = ProgressMonitor()
        watchdog = asyncio.create_task(
            run_watchdog(lambda: agent.pipelines, interval, monitor, lambda: agent.link_failure)
        )
    try:
        await announce_ready(agent)
        while True:
            notify(status_line(agent))
            await asyncio.sleep(STATUS_EVERY_S)
    finally:
        if watchdog is not None:
            watchdog.cancel()
