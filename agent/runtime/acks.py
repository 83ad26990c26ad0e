"""Operators' acknowledgements: accepted only for alarms this agent has open or saw lately.

Every alarm event the pipelines hand to their sink passes `AlarmWatch`, which remembers the
latest `RECENT_ALARMS` alarm ids. An acknowledgement of any other id is refused (not
stored), and the store of accepted acknowledgements holds one per remembered alarm at most.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from agent.core.alarms import AlarmTransition
from agent.core.samples import Sample, Score
from agent.sinks.base import Sink
from agent.sinks.mqtt.inbound import UNKNOWN_ALARM, AckRequest, RejectedMessage

RECENT_ALARMS = 1024


class Acknowledgements:
    """Alarm ids seen lately, and the acknowledgement accepted for each (bounded)."""

    def __init__(self, capacity: int = RECENT_ALARMS) -> None:
        self.capacity = capacity
        self._recent: OrderedDict[str, str] = OrderedDict()  # alarm id -> its device
        self.accepted: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def seen(self, alarm_id: str, device: str) -> None:
        """An alarm event of `device` went out: its id may be acknowledged from now on, on that
        device's ack topic."""
        self._recent[alarm_id] = device
        self._recent.move_to_end(alarm_id)
        while len(self._recent) > self.capacity:
            forgotten, _ = self._recent.popitem(last=False)
            self.accepted.pop(forgotten, None)

    def accept(self, ack: AckRequest, device: str, open_alarms: Iterable[tuple[str, str]]) -> None:
        """Store the acknowledgement that came on `device`'s topic; RejectedMessage
        (unknown_alarm) for an id not seen, or seen of another device: the broker's ACL, which
        authorises an operator for some devices' topics, then means what it says."""
        for alarm_id, owner in open_alarms:  # open alarms are always acknowledgeable
            if alarm_id not in self._recent:
                self.seen(alarm_id, owner)
        if self._recent.get(ack.id) != device:
            raise RejectedMessage(UNKNOWN_ALARM, f"{ack.id} (on {device[:128]}'s topic)")
        self.accepted[ack.id] = ack.model_dump(include={"id", "by", "at", "note"})
        self.accepted.move_to_end(ack.id)


class AlarmWatch:
    """A sink that tells `Acknowledgements` each alarm id, then hands everything on."""

    def __init__(self, inner: Sink, acks: Acknowledgements) -> None:
        self.inner = inner
        self.acks = acks

    def retain(self, topic: str, payload: bytes) -> None:
        """Hand on."""
        self.inner.retain(topic, payload)

    def alarm(self, transition: AlarmTransition, topic: str, payload: dict[str, Any]) -> None:
        """Remember the alarm's id, then hand on."""
        self.acks.seen(transition.alarm.id, transition.alarm.device)
        self.inner.alarm(transition, topic, payload)

    def remember(self, sample: Sample) -> None:
        """Hand on."""
        self.inner.remember(sample)

    async def snapshot(self, sample: Sample, score: Score) -> None:
        """Hand on."""
        await self.inner.snapshot(sample, score)
