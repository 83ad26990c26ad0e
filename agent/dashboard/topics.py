"""Which topics the dashboard reads, and what a topic says about site, device and kind."""

from __future__ import annotations

from dataclasses import dataclass

SITE_KINDS = ("status", "inspection")
DEVICE_KINDS = ("state", "health", "alarm", "ack")


def subscriptions(prefix: str) -> list[str]:
    """Every site under the prefix: one dashboard serves all agents that report there."""
    site_level = [f"{prefix}/+/{kind}" for kind in SITE_KINDS]
    device_level = [f"{prefix}/+/+/{kind}" for kind in DEVICE_KINDS]
    return [*site_level, *device_level, f"{prefix}/+/+/snapshot/+", f"{prefix}/+/+/evidence/+/+"]


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


def ack_topic(prefix: str, site: str, device: str) -> str:
    """Where an operator's acknowledgement goes (contract C3)."""
    return f"{prefix}/{site}/{device}/ack"
