"""The MQTT topic layout, in one place: <prefix>/<site>/... built, and parsed back."""

from __future__ import annotations

from dataclasses import dataclass

ANY = "+"  # MQTT's single-level wildcard: Topics(prefix, ANY) speaks for every site
SITE_KINDS = ("status", "inspection")
DEVICE_KINDS = ("state", "health", "alarm", "ack", "learn")


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one site."""

    prefix: str
    site: str

    @property
    def base(self) -> str:
        """<prefix>/<site>"""
        return f"{self.prefix}/{self.site}"

    @property
    def everything(self) -> str:
        """Every topic of the site as one pattern, for a person watching with mosquitto_sub."""
        return f"{self.base}/#"

    @property
    def status(self) -> str:
        """Agent availability: retained `online`, `offline` as last will."""
        return f"{self.base}/status"

    @property
    def inspection(self) -> str:
        """Retained summary of the current inspection round."""
        return f"{self.base}/inspection"

    @property
    def fleet(self) -> str:
        """Retained: the bundles the agent runs and its last rollout's outcome."""
        return f"{self.base}/fleet"

    @property
    def acks(self) -> str:
        """Operators' acknowledgements of alarms, for every device."""
        return self.ack(ANY)

    def ack(self, device: str) -> str:
        """An operator's acknowledgement of the device's alarm (contract C3)."""
        return f"{self.base}/{device}/ack"

    @property
    def learns(self) -> str:
        """Requests to relearn a device's normal, for every device."""
        return self.learn(ANY)

    def learn(self, device: str) -> str:
        """A request to relearn the device's normal, e.g. after maintenance."""
        return f"{self.base}/{device}/learn"

    def alarm(self, device: str) -> str:
        """Alarm events, QoS 1, not retained."""
        return f"{self.base}/{device}/alarm"

    def state(self, device: str) -> str:
        """The device's current state, retained."""
        return f"{self.base}/{device}/state"

    def evidence(self, device: str, alarm_id: str, seq: int | str, kind: str) -> str:
        """One evidence file of an alarm's event (its `seq`), QoS 1, not retained (contract C1)."""
        return f"{self.base}/{device}/evidence/{alarm_id}/{seq}/{kind}"

    def snapshot(self, device: str, kind: str) -> str:
        """The latest annotated camera (`image`) or thermal frame, retained (contract C1)."""
        return f"{self.base}/{device}/snapshot/{kind}"

    def health(self, device: str) -> str:
        """The health of the device's sources and models, retained."""
        return f"{self.base}/{device}/health"

    def every_topic(self) -> list[str]:
        """Wildcard subscriptions to every topic above, for a reader of all the agent says (the
        dashboard): built by the same methods the agent publishes with, so they cannot drift."""
        return [
            self.status,
            self.inspection,
            self.state(ANY),
            self.health(ANY),
            self.alarm(ANY),
            self.ack(ANY),
            self.snapshot(ANY, ANY),
            self.evidence(ANY, ANY, ANY, ANY),
        ]


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A parsed topic: `kind` is status, inspection, state, health, alarm, ack, snapshot or
    evidence; `alarm_id`, `seq` (the evidence file's event) and `part` (the snapshot's or
    evidence file's kind) when present."""

    site: str
    kind: str
    device: str | None = None
    alarm_id: str | None = None
    part: str | None = None
    seq: int | None = None


def parse_topic(prefix: str, topic: str) -> TopicInfo | None:
    """What a topic built by Topics says; None for a topic that is not one of ours."""
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
        case [site, device, "evidence", alarm_id, seq, part] if is_seq(seq):
            return TopicInfo(site, "evidence", device, alarm_id=alarm_id, part=part, seq=int(seq))
        case [site, device, "evidence", alarm_id, "+", part]:  # the subscription pattern
            return TopicInfo(site, "evidence", device, alarm_id=alarm_id, part=part)
    return None


def is_seq(text: str) -> bool:
    """An event's sequence number as a topic level: ASCII digits, at most 19 (64-bit)."""
    return 0 < len(text) <= 19 and text.isascii() and text.isdigit()
