"""The MQTT topic layout, in one place: <prefix>/<site>/..."""

from __future__ import annotations

from dataclasses import dataclass

ANY = "+"  # MQTT's single-level wildcard: Topics(prefix, ANY) speaks for every site


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
    def status(self) -> str:
        """Agent availability: retained `online`, `offline` as last will."""
        return f"{self.base}/status"

    @property
    def inspection(self) -> str:
        """Retained summary of the current inspection round."""
        return f"{self.base}/inspection"

    @property
    def acks(self) -> str:
        """Operators' acknowledgements of alarms, for every device."""
        return self.ack(ANY)

    def ack(self, device: str) -> str:
        """An operator's acknowledgement of the device's alarm (contract C3)."""
        return f"{self.base}/{device}/ack"

    def alarm(self, device: str) -> str:
        """Alarm events, QoS 1, not retained."""
        return f"{self.base}/{device}/alarm"

    def state(self, device: str) -> str:
        """The device's current state, retained."""
        return f"{self.base}/{device}/state"

    def evidence(self, device: str, alarm_id: str, kind: str) -> str:
        """One evidence file of an alarm, QoS 1, not retained (contract C1)."""
        return f"{self.base}/{device}/evidence/{alarm_id}/{kind}"

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
            self.evidence(ANY, ANY, ANY),
        ]
