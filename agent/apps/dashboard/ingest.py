"""Turns each MQTT message into live state, history rows and events for the browsers."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from agent.apps.dashboard.history import History
from agent.apps.dashboard.live import Hub, LiveView
from agent.senses.registry import SENSES
from agent.sinks.mqtt.topics import TopicInfo, parse_topic

log = logging.getLogger(__name__)

MAGIC_MEDIA_TYPES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"RIFF", "audio/wav"),
)


def sniff_media_type(data: bytes) -> str:
    """The media type of an evidence file from its first bytes; JSON otherwise (C1's kinds)."""
    for magic, media_type in MAGIC_MEDIA_TYPES:
        if data.startswith(magic):
            return media_type
    return "application/json"


class Ingest:
    """The one place where broker messages change what the dashboard shows."""

    def __init__(self, prefix: str, live: LiveView, history: History, hub: Hub) -> None:
        self.prefix = prefix
        self.live = live
        self.history = history
        self.hub = hub

    def handle(self, topic: str, payload: bytes) -> None:
        """Route one message; a malformed one is logged and skipped, never fatal."""
        info = parse_topic(self.prefix, topic)
        if info is None or not payload:  # an empty payload clears a retained message
            return
        try:
            self._route(info, payload, time.time())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("skipped a malformed message", extra={"fields": {"topic": topic,
                        "error": f"{type(exc).__name__}: {exc}"}})  # fmt: skip

    def _route(self, info: TopicInfo, payload: bytes, now: float) -> None:
        if info.kind == "status":
            self.live.site_status[info.site] = payload.decode().strip()
            self._changed_site(info.site)
        elif info.kind == "inspection":
            self.live.inspections[info.site] = json_object(payload)
            self.hub.publish({"type": "inspection", "site": info.site,
                              "inspection": self.live.inspections[info.site]})  # fmt: skip
        elif info.kind == "snapshot":
            device = self.live.device(info.site, str(info.device))
            media_type = snapshot_media_type(str(info.part)) or sniff_media_type(payload)
            device.snapshots[str(info.part)] = (media_type, payload, now)
            self.hub.publish({"type": "snapshot", "site": info.site, "device": info.device,
                              "kind": info.part, "at": now})  # fmt: skip
        elif info.kind == "evidence":
            self.history.add_evidence(
                str(info.alarm_id), str(info.part), sniff_media_type(payload), payload, now
            )
            self.hub.publish({"type": "evidence", "id": info.alarm_id, "kind": info.part})
        else:
            self._route_json(info, json_object(payload), now)

    def _route_json(self, info: TopicInfo, message: dict[str, Any], now: float) -> None:
        device = str(info.device)
        if info.kind == "state":
            self.live.device(info.site, device).state = message
            point = self.history.add_state(
                info.site, message, epoch(message.get("updated_at"), now)
            )
            if point is not None:
                self.hub.publish({"type": "point", "site": info.site, "device": device,
                                  "point": point})  # fmt: skip
            self._changed_device(info.site, device)
        elif info.kind == "health":
            self.live.device(info.site, device).health = message
            self._changed_device(info.site, device)
        elif info.kind == "alarm":
            raised_at = epoch(message.get("raised_at"), now)
            self.history.add_alarm(
                info.site, message, raised_at, epoch(message.get("decided_at"), now)
            )
            self.hub.publish({"type": "alarm", "alarm": self.history.alarm(str(message["id"]))})
        elif info.kind == "ack":
            self.history.add_ack(message, now)
            alarm = self.history.alarm(str(message["id"]))
            if alarm is not None:
                self.hub.publish({"type": "ack", "alarm": alarm})

    def _changed_device(self, site: str, device: str) -> None:
        self.hub.publish({"type": "device", "tile": self.live.tile(self.live.device(site, device))})

    def _changed_site(self, site: str) -> None:
        for s, d in list(self.live.devices):
            if s == site:
                self._changed_device(s, d)


def epoch(iso: Any, default: float) -> float:
    """Seconds since the epoch of a payload's ISO-8601 timestamp; `default` when absent.

    Retained and replayed messages carry their own time, which is what the charts must show.
    """
    try:
        return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


def json_object(payload: bytes) -> dict[str, Any]:
    """A JSON object from a payload; anything else is a ValueError naming what came."""
    value = json.loads(payload)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def snapshot_media_type(kind: str) -> str | None:
    """The media type the sense whose evidence is of this kind publishes its snapshots in."""
    return next((s.evidence.media_type for s in SENSES.values() if s.evidence.kind == kind), None)
