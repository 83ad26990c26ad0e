"""What the dashboard knows right now (from retained topics) and who is listening for changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agent.config.dashboard import DashboardConfig

log = logging.getLogger(__name__)

SUBSCRIBER_BACKLOG = 256  # events (tiles aside) a slow page may fall behind before it is dropped


def driving_modality(state: dict[str, Any]) -> str | None:
    """The modality behind the fused score: the critical one, else the largest contribution."""
    rule = str(state.get("rule") or "")
    if rule.startswith("critical:"):
        return rule.removeprefix("critical:")
    contributions = {
        name: contribution(view)
        for name, view in (state.get("modalities") or {}).items()
        if not view.get("stale") and view.get("score") is not None
    }
    return max(contributions, key=contributions.__getitem__) if contributions else None


def contribution(view: dict[str, Any]) -> float:
    """A modality's part in the fused score: as the agent said, else weight × score."""
    said = view.get("contribution")
    if isinstance(said, int | float) and not isinstance(said, bool):
        return float(said)
    return float(view.get("score") or 0.0) * float(view.get("weight") or 0.0)


@dataclass
class DeviceLive:
    """One device's latest retained messages."""

    site: str
    device: str
    state: dict[str, Any] | None = None
    health: dict[str, Any] | None = None
    snapshots: dict[str, tuple[str, bytes, float]] = field(default_factory=dict)


@dataclass
class LiveView:
    """Latest state per device and per site, as tiles for the overview.

    Bounded to `max_devices` devices and `max_sites` sites: names come from topics, which
    anyone who may publish can invent, so the writer asks `admits` before adding one.
    """

    max_devices: int = DashboardConfig().max_devices
    max_sites: int = DashboardConfig().max_sites
    snapshot_memory_bytes: int = DashboardConfig().snapshot_memory_bytes
    devices: dict[tuple[str, str], DeviceLive] = field(default_factory=dict)
    site_status: dict[str, str] = field(default_factory=dict)
    inspections: dict[str, dict[str, Any]] = field(default_factory=dict)
    known_sites: set[str] = field(default_factory=set, init=False)  # named in the three above
    snapshot_bytes: int = field(default=0, init=False)  # held in every device's snapshots
    snapshots_dropped: int = field(default=0, init=False)  # the oldest, for the budget

    def admits(self, site: str, device: str | None = None) -> bool:
        """Whether holding this site (and device) stays within the bounds; known ones always do."""
        if (
            device is not None
            and (site, device) not in self.devices
            and len(self.devices) >= self.max_devices
        ):
            return False
        return site in self.known_sites or len(self.known_sites) < self.max_sites

    def device(self, site: str, device: str) -> DeviceLive:
        """The device's entry, created on first sight (ask `admits` first: this does not)."""
        key = (site, device)
        if key not in self.devices:
            self.devices[key] = DeviceLive(site, device)
            self.known_sites.add(site)
        return self.devices[key]

    def set_snapshot(
        self, live: DeviceLive, kind: str, media_type: str, data: bytes, at: float
    ) -> None:
        """Hold a device's latest snapshot of `kind`; past `snapshot_memory_bytes` in all, the
        oldest snapshots (of any device, never the one just set) are dropped until it fits."""
        old = live.snapshots.get(kind)
        self.snapshot_bytes += len(data) - (len(old[1]) if old else 0)
        live.snapshots[kind] = (media_type, data, at)
        while self.snapshot_bytes > self.snapshot_memory_bytes:
            held = [(d, k) for d in self.devices.values() for k in d.snapshots
                    if d is not live or k != kind]  # fmt: skip
            if not held:
                break
            owner, oldest = min(held, key=lambda h: h[0].snapshots[h[1]][2])
            self.snapshot_bytes -= len(owner.snapshots.pop(oldest)[1])
            if not self.snapshots_dropped:
                fields = {"snapshot_memory_bytes": self.snapshot_memory_bytes}
                log.warning("snapshots past their memory budget, the oldest are dropped",
                            extra={"fields": fields})  # fmt: skip
            self.snapshots_dropped += 1

    def set_status(self, site: str, status: str) -> None:
        """A site's retained `online` / `offline`."""
        self.site_status[site] = status
        self.known_sites.add(site)

    def set_inspection(self, site: str, inspection: dict[str, Any]) -> None:
        """A site's latest inspection round."""
        self.inspections[site] = inspection
        self.known_sites.add(site)

    def tile(self, live: DeviceLive) -> dict[str, Any]:
        """What an overview tile shows: ok / alarm / learning / degraded / offline, score and its
        driver."""
        state = live.state or {}
        health = live.health or {}
        status = state.get("state") or "unknown"
        if self.site_status.get(live.site) == "offline":
            status = "offline"
        elif status != "alarm" and health.get("state") in ("degraded", "failed"):
            status = "degraded"
        return {
            "site": live.site,
            "device": live.device,
            "state": status,
            "score": state.get("score"),
            "threshold": state.get("threshold"),
            "driver": driving_modality(state),
            "type": state.get("type"),
            "alarm_id": state.get("alarm_id"),
            "modalities": state.get("modalities") or {},
            "readings": state.get("readings") or {},
            "learning": state.get("learning"),  # progress while it learns its own normal
            "learned_version": state.get("learned_version"),  # what its scores are judged by
            "learned_at": state.get("learned_at"),  # when and why that version was learned
            "learned_reason": state.get("learned_reason"),
            "calibration_check": state.get("calibration_check"),  # do they keep their promise
            "health": health,
            "snapshots": sorted(live.snapshots),
            "updated_at": state.get("updated_at"),
        }

    def overview(self) -> dict[str, Any]:
        """Every device's tile, every site's status and inspection round."""
        return {
            "devices": [self.tile(d) for _, d in sorted(self.devices.items())],
            "sites": dict(self.site_status),
            "inspections": dict(self.inspections),
        }


@dataclass(frozen=True, slots=True)
class Interest:
    """What one open page listens for: the overview wants every device's tile; a device's page
    wants that device's tile, trend points and snapshots. Alarms, acks, evidence and
    inspection rounds go to every page."""

    device: tuple[str, str] | None = None  # (site, device) of a device's page

    def wants(self, event: dict[str, Any]) -> bool:
        kind = event["type"]
        if kind == "device":
            tile = event["tile"]
            return self.device is None or (tile["site"], tile["device"]) == self.device
        if kind in DEVICE_PAGE_ONLY:
            return (event["site"], event["device"]) == self.device
        return True


DEVICE_PAGE_ONLY = ("point", "snapshot")  # per second and per device: only its own page needs them


class Listener:
    """One open page's events, waiting to be sent: a device's newer tile replaces the one not
    yet sent (a page behind gets the latest, not every step), other events keep their order,
    at most SUBSCRIBER_BACKLOG of them."""

    def __init__(self, interest: Interest) -> None:
        self.interest = interest
        self._tiles: dict[tuple[str, str], dict[str, Any]] = {}  # bounded by LiveView's devices
        self._events: deque[dict[str, Any]] = deque()
        self._waiting = asyncio.Event()

    def offer(self, event: dict[str, Any]) -> bool:
        """Queue an event; False when the page is too far behind to keep."""
        if event["type"] == "device":
            self._tiles[(event["tile"]["site"], event["tile"]["device"])] = event
        elif len(self._events) >= SUBSCRIBER_BACKLOG:
            return False
        else:
            self._events.append(event)
        self._waiting.set()
        return True

    async def take(self, timeout_s: float) -> list[dict[str, Any]]:
        """Every event waiting (tiles last), as soon as there is one; [] after `timeout_s`."""
        if not self._events and not self._tiles:
            self._waiting.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._waiting.wait()
        taken = [*self._events, *self._tiles.values()]
        self._events.clear()
        self._tiles.clear()
        return taken


class Hub:
    """Fans events out to every connected page, each getting what its Interest wants."""

    def __init__(self) -> None:
        self._listeners: set[Listener] = set()

    def publish(self, event: dict[str, Any]) -> None:
        """Queue an event for every listener that wants it; one too far behind is dropped."""
        for listener in list(self._listeners):
            if listener.interest.wants(event) and not listener.offer(event):
                self._listeners.discard(listener)

    def attached(self, listener: Listener) -> bool:
        """False once a listener was dropped for falling behind (it reconnects and reloads)."""
        return listener in self._listeners

    @contextlib.asynccontextmanager
    async def listen(self, interest: Interest | None = None) -> AsyncIterator[Listener]:
        """A listener for the duration of one connection (the overview's by default)."""
        listener = Listener(interest or Interest())
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
