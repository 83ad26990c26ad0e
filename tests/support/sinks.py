"""A Sink that keeps what a pipeline retains and drops the rest, for tests of its states."""

from __future__ import annotations

import json
from typing import Any

from agent.core.alarms import AlarmTransition
from agent.core.samples import Sample, Score


class RetainedSink:
    """Keeps every retained message, in order; alarms, samples and snapshots go nowhere."""

    def __init__(self) -> None:
        self.retained: list[tuple[str, bytes]] = []

    def payloads(self, suffix: str) -> list[dict[str, Any]]:
        """The retained payloads whose topic ends with `suffix` (`/state`, `/health`)."""
        return [json.loads(p) for topic, p in self.retained if topic.endswith(suffix)]

    def retain(self, topic: str, payload: bytes) -> None:
        self.retained.append((topic, payload))

    def alarm(self, transition: AlarmTransition, topic: str, payload: dict[str, Any]) -> None:
        pass

    def remember(self, sample: Sample) -> None:
        pass

    async def snapshot(self, sample: Sample, score: Score) -> None:
        pass
