"""Turns each MQTT message into live state, history rows and events for the browsers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from agent.apps.dashboard.history import History, HistoryDatabaseError
from agent.apps.dashboard.live import Hub, LiveView
from agent.apps.dashboard.messages import AlarmMessage, HealthMessage, StateMessage
from agent.config.dashboard import DashboardConfig
from agent.senses.registry import SENSES
from agent.sinks.mqtt.inbound import (
    BACKLOG,
    DEFAULT_MAX_DEPTH,
    ERROR,
    INVALID,
    TOO_MANY,
    AckRequest,
    RejectedMessage,
    check_size,
    parse_json,
    validated,
)
from agent.sinks.mqtt.topics import TopicInfo, parse_topic

log = logging.getLogger(__name__)
T = TypeVar("T")

MAGIC_MEDIA_TYPES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"RIFF", "audio/wav"),
)
MAX_STATUS_BYTES = 64  # `online` / `offline`
MAX_TOPIC_PART = 128  # an alarm id or a kind taken from a topic
MAX_BACKLOG = 10_000  # messages waiting for the history; more are refused, counted (`backlog`)
LIVE_KINDS = frozenset({"status", "inspection", "snapshot", "state", "health"})  # kept in LiveView
MODELS: dict[str, type[BaseModel]] = {
    "state": StateMessage,
    "health": HealthMessage,
    "alarm": AlarmMessage,
    "ack": AckRequest,
}


def sniff_media_type(data: bytes) -> str:
    """The media type of an evidence file from its first bytes; JSON otherwise (C1's kinds)."""
    for magic, media_type in MAGIC_MEDIA_TYPES:
        if data.startswith(magic):
            return media_type
    return "application/json"


class Ingest:
    """The one place where broker messages change what the dashboard shows.

    Every message is untrusted: one over its size limit, not JSON, nested too deep, not of
    its topic's shape or naming a site or device past the live view's bounds is refused
    before it changes anything, logged in one line and counted in `rejected` (by topic kind
    and reason); the next message is handled as usual.

    The broker link hands messages over (`handle`) without waiting; `run` processes them one
    at a time, in the order they came, so a slow history database never holds up the link
    and an acknowledgement is never stored before its alarm.
    """

    def __init__(
        self,
        prefix: str,
        live: LiveView,
        history: History,
        hub: Hub,
        max_message_bytes: int = DashboardConfig().max_message_bytes,
        max_media_bytes: int = DashboardConfig().max_media_bytes,
    ) -> None:
        self.prefix = prefix
        self.live = live
        self.history = history
        self.hub = hub
        self.max_message_bytes = max_message_bytes
        self.max_media_bytes = max_media_bytes
        self.rejected: Counter[tuple[str, str]] = Counter()  # (topic kind, reason) -> count
        self.history_failures = 0  # history calls that met the database away
        self._history_down = False
        self._backlog: asyncio.Queue[tuple[str, bytes, float]] = asyncio.Queue(MAX_BACKLOG)

    def handle(self, topic: str, payload: bytes) -> None:
        """Take a message from the broker link; `run` processes it."""
        try:
            self._backlog.put_nowait((topic, payload, time.time()))
        except asyncio.QueueFull:
            info = parse_topic(self.prefix, topic)
            self._refused(topic, info.kind if info else "unknown", BACKLOG,
                          f"{MAX_BACKLOG} messages wait for the history")  # fmt: skip

    async def run(self) -> None:
        """Process the messages `handle` took, in order, forever."""
        while True:
            topic, payload, received = await self._backlog.get()
            try:
                await self.process(topic, payload, received)
            finally:
                self._backlog.task_done()

    async def drained(self) -> None:
        """Return once every message taken so far has been processed."""
        await self._backlog.join()

    async def process(self, topic: str, payload: bytes, now: float | None = None) -> None:
        """Route one message; a refused or failing one is logged and counted, never fatal."""
        info = parse_topic(self.prefix, topic)
        if info is None or not payload:  # an empty payload clears a retained message
            return
        try:
            await self._route(info, payload, time.time() if now is None else now)
        except RejectedMessage as exc:
            self._refused(topic, info.kind, exc.reason, exc.detail)
        except Exception as exc:  # a bug met by a message: ingestion goes on regardless
            self._refused(topic, info.kind, ERROR, f"{type(exc).__name__}: {str(exc)[:160]}")

    def _refused(self, topic: str, kind: str, reason: str, detail: str) -> None:
        self.rejected[(kind, reason)] += 1
        log.warning("refused an inbound message", extra={"fields": {
            "topic": topic[:256], "reason": reason, "detail": detail}})  # fmt: skip

    async def _route(self, info: TopicInfo, payload: bytes, now: float) -> None:
        if info.kind in LIVE_KINDS and not self.live.admits(info.site, info.device):
            limits = f"{self.live.max_devices} devices, {self.live.max_sites} sites"
            raise RejectedMessage(TOO_MANY, f"a new site or device past the limits ({limits})")
        if info.kind == "status":
            check_size(payload, MAX_STATUS_BYTES)
            self.live.set_status(info.site, payload.decode("utf-8", "replace").strip())
            self._changed_site(info.site)
        elif info.kind == "inspection":
            inspection = self._json_object(payload)
            self.live.set_inspection(info.site, inspection)
            self.hub.publish({"type": "inspection", "site": info.site,
                              "inspection": inspection})  # fmt: skip
        elif info.kind == "snapshot":
            check_size(payload, self.max_media_bytes)
            kind = str(info.part)
            media_type = snapshot_media_type(kind)
            if media_type is None:  # only the registry's kinds: a topic cannot add new keys
                raise RejectedMessage(INVALID, f"unknown snapshot kind {kind[:MAX_TOPIC_PART]!r}")
            device = self.live.device(info.site, str(info.device))
            self.live.set_snapshot(device, kind, media_type, payload, now)
            self.hub.publish({"type": "snapshot", "site": info.site, "device": info.device,
                              "kind": info.part, "at": now})  # fmt: skip
        elif info.kind == "evidence":
            check_size(payload, self.max_media_bytes)
            alarm_id, kind = str(info.alarm_id), str(info.part)
            if len(alarm_id) > MAX_TOPIC_PART or len(kind) > MAX_TOPIC_PART:
                raise RejectedMessage(INVALID, "alarm id or kind too long")
            media_type = sniff_media_type(payload)
            await self._stored(self.history.add_evidence(alarm_id, kind, media_type, payload, now))
            self.hub.publish({"type": "evidence", "id": info.alarm_id, "kind": info.part})
        else:
            checked = validated(MODELS[info.kind], self._json_object(payload))
            # what was validated, as it came (no defaults added), but an integer where a
            # number is meant as a float: 1e30 written as 10**30 does not fit SQLite's INTEGER
            await self._route_json(info, checked.model_dump(exclude_unset=True), now)

    def _json_object(self, payload: bytes) -> dict[str, Any]:
        """A JSON object within the size and depth limits, or RejectedMessage."""
        value = parse_json(payload, self.max_message_bytes, DEFAULT_MAX_DEPTH)
        if not isinstance(value, dict):
            raise RejectedMessage(INVALID, f"expected a JSON object, got {type(value).__name__}")
        return value

    async def _route_json(self, info: TopicInfo, message: dict[str, Any], now: float) -> None:
        device = str(info.device)
        if info.kind in ("state", "alarm"):  # the topic names the device, whatever the body
            message = {**message, "device": device}  # says: the live view and history agree
        if info.kind == "state":
            self.live.device(info.site, device).state = message
            self._changed_device(info.site, device)
            at = epoch(message.get("updated_at"), now)
            point = await self._stored(self.history.add_state(info.site, message, at))
            if point is not None:
                self.hub.publish({"type": "point", "site": info.site, "device": device,
                                  "point": point})  # fmt: skip
        elif info.kind == "health":
            self.live.device(info.site, device).health = message
            self._changed_device(info.site, device)
        elif info.kind == "alarm":
            raised_at = epoch(message.get("raised_at"), now)
            decided_at = epoch(message.get("decided_at"), now)
            await self._stored(self.history.add_alarm(info.site, message, raised_at, decided_at))
            alarm = await self._stored(self.history.alarm(str(message["id"])))
            if alarm is not None:
                self.hub.publish({"type": "alarm", "alarm": alarm})
        elif info.kind == "ack":
            if not await self._stored(self.history.add_ack(message, now)):
                return  # the same again, or past MAX_ACKS: nothing new to show
            alarm = await self._stored(self.history.alarm(str(message["id"])))
            if alarm is not None:
                self.hub.publish({"type": "ack", "alarm": alarm})

    async def _stored(self, call: Awaitable[T]) -> T | None:
        """A history call's result; None while the history database is away: that is logged
        once per outage and counted (`history_failures`), and the live view goes on."""
        try:
            result = await call
        except HistoryDatabaseError as exc:
            self.history_failures += 1
            if not self._history_down:
                self._history_down = True
                message = ("history database unavailable: the live view goes on, the history "
                           "misses what arrives meanwhile")  # fmt: skip
                log.error(message, extra={"fields": {"error": str(exc)}})
            return None
        if self._history_down:
            self._history_down = False
            log.info("history database back", extra={"fields": {"failures": self.history_failures}})
        return result

    def _changed_device(self, site: str, device: str) -> None:
        self.hub.publish({"type": "device", "tile": self.live.tile(self.live.device(site, device))})

    def _changed_site(self, site: str) -> None:
        for s, d in list(self.live.devices):
            if s == site:
                self._changed_device(s, d)


def epoch(iso: Any, now: float) -> float:
    """Seconds since the epoch of a payload's ISO-8601 timestamp; `now` when it is absent, not
    a timestamp, or later than now.

    Retained and replayed messages carry their own time, which is what the charts must show.
    A time from the future (a wrong clock, a hostile message) would hold back every later
    point of the device's chart (one a second at most) and never age out of the history.
    """
    try:
        at = datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return now
    return min(at, now)


def snapshot_media_type(kind: str) -> str | None:
    """The media type the sense whose evidence is of this kind publishes its snapshots in."""
    return next((s.evidence.media_type for s in SENSES.values() if s.evidence.kind == kind), None)
