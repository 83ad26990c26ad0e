"""The Sink seam: what a device pipeline hands on, and to whom it does not need to know.

A pipeline holds one Sink. `MqttSink` sends states and alarm events through the durable outbox;
`EvidenceSink` (agent/sinks/evidence/recorder.py) keeps the samples behind each score, renders
an alarm's evidence files, publishes live snapshots, and hands everything else to the MQTT sink
it wraps. The MQTT publisher sends queued evidence files through `FileQueue`, so neither
package imports the other's modules.
"""

from __future__ import annotations

from typing import Any, Protocol

from agent.core.alarms import AlarmTransition
from agent.core.samples import Sample, Score


class Sink(Protocol):
    """Where one device's decisions go."""

    def retain(self, topic: str, payload: bytes) -> None:
        """The device's latest state or health: replaces the previous value on that topic."""

    def alarm(self, transition: AlarmTransition, topic: str, payload: dict[str, Any]) -> None:
        """An alarm event (raised, updated, cleared): delivered once, in seq order."""

    def remember(self, sample: Sample) -> None:
        """A sample that was just scored, before the decision it feeds."""

    async def snapshot(self, sample: Sample, score: Score) -> None:
        """After the decision: a chance to publish a live view of the sample."""


class QueuedFile(Protocol):
    """An evidence file waiting to be published."""

    @property
    def counter(self) -> int: ...

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


class FileQueue(Protocol):
    """Files the publisher sends after the alarm events, one per pass (the evidence store)."""

    @property
    def queued(self) -> bool: ...

    def next_publish(self) -> QueuedFile | None: ...

    def published(self, counter: int) -> None: ...
