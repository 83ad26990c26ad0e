"""What a topic the dashboard reads says about site, device and kind."""

from __future__ import annotations

from dataclasses import dataclass

SITE_KINDS = ("status", "inspection")
DEVICE_KINDS = ("state", "health", "alarm", "ack")


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A parsed topic: `kind` is status, inspection, state, health, alarm, ack, snapshot or
    evidence; `alarm_id` and `part` (the snapshot's or evidence file's kind) when present."""

    site: str
    kind: str
    device: str | None = None
    alarm_id: str | None = None
    part: str | None = None


def parse_topic(prefix: str, topic: str) -> TopicInfo | None:
    """None for a topic that is not one of ours."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    match parts:
        case [site, kind] if kind in SITE_KINDS:
            return TopicInfo(site, kind)
        case [site, device, kind] if kind in DEVICE_KINDS:
            return TopicInfo(site, kind, device)
        case [site, device, "snapshot", part]:
            return TopicInfo(site, "snapshot", device, part=part)
        case [site, device, "evidence", alarm_id, part]:
            return TopicInfo(site, "evidence", device, alarm_id=alarm_id, part=part)
    return None
