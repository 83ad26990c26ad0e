"""The MQTT sink: states as retained messages, alarm events through the durable outbox."""

from __future__ import annotations

from typing import Any

from agent.core.alarms import AlarmTransition
from agent.core.payload import encode
from agent.core.samples import Sample, Score
from agent.sinks.mqtt.outbox import AlarmKey
from agent.sinks.mqtt.publisher import Publisher


def alarm_key(transition: AlarmTransition) -> AlarmKey:
    """The outbox's note of which alarm an event belongs to."""
    alarm = transition.alarm
    return AlarmKey(alarm.device, alarm.id, str(transition.event))


def trigger_captured_at(transition: AlarmTransition) -> float | None:
    """When the sample that triggered the event was captured (None: no sample behind it)."""
    trigger = transition.decision.trigger
    return None if trigger is None else trigger.captured_at


class MqttSink:
    """A Sink that publishes; it keeps no samples and draws no evidence."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def retain(self, topic: str, payload: bytes) -> None:
        """Retained, re-sent after every reconnection."""
        self.publisher.set_retained(topic, payload)

    def alarm(self, transition: AlarmTransition, topic: str, payload: dict[str, Any]) -> None:
        """Into the outbox at once, without evidence files."""
        self.publisher.send_event(
            transition.seq,
            topic,
            encode(payload),
            alarm=alarm_key(transition),
            trigger_captured_at=trigger_captured_at(transition),
        )

    def remember(self, sample: Sample) -> None:
        """Nothing to keep."""

    async def snapshot(self, sample: Sample, score: Score) -> None:
        """No live views without the evidence sink."""
