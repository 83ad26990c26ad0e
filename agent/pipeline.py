"""One device's pipeline: sources → scorers → fusion → alarm lifecycle → publisher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Iterator

from agent.alarms import AlarmTracker
from agent.config import DeviceConfig
from agent.fusion import Decision, fuse
from agent.modalities import Channel
from agent.payload import alarm_payload, encode, state_payload
from agent.publish.publisher import Publisher, raise_lost_cancellation
from agent.publish.topics import Topics
from agent.samples import Modality, Sample, Score
from agent.sources.base import SourceError

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
STATE_EVERY_S = 1.0


class DevicePipeline:
    """Runs every source of one device under supervision and keeps its decision current.

    A failing source or scorer degrades only its own modality: it is dropped from fusion
    (weights renormalised), reported in the device's health, and retried with backoff.
    """

    def __init__(
        self,
        config: DeviceConfig,
        channels: dict[Modality, Channel],
        publisher: Publisher,
        topics: Topics,
        sequence: Iterator[int],
    ) -> None:
        self.config = config
        self.channels = channels
        self.publisher = publisher
        self.topics = topics
        self.tracker = AlarmTracker(config.id, config.alarm, sequence)
        self.scores: dict[Modality, Score] = {}
        self.failed: dict[Modality, str] = {}
        self.health: dict[Modality, str] = {m: "starting" for m in channels}
        self.last_decision: Decision | None = None
        self.processed: Counter[Modality] = Counter()  # samples scored, per modality
        self.latency_ms: deque[float] = deque(maxlen=10_000)  # capture -> decision, per sample
        self._scored = asyncio.Condition()
        self._started_at = time.time()
        self._last_state: tuple[str, float] = ("", 0.0)

    @property
    def device(self) -> str:
        """The device id."""
        return self.config.id

    async def run(self) -> None:
        """Supervise every source and re-decide once a second (staleness, alarm hold)."""
        self._started_at = time.time()
        async with asyncio.TaskGroup() as group:
            for modality, channel in self.channels.items():
                group.create_task(
                    self._supervise(modality, channel), name=f"{self.device}/{modality}"
                )
            group.create_task(self._tick(), name=f"{self.device}/tick")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.decide()

    async def _supervise(self, modality: Modality, channel: Channel) -> None:
        delay = 1.0
        while True:
            raise_lost_cancellation()  # lost in a source that failed, the retry must not start
            try:
                async with contextlib.aclosing(channel.source.stream()) as samples:
                    async for sample in samples:
                        raise_lost_cancellation()  # e.g. pymodbus's wait_for on Python 3.11
                        if self.health[modality] != "ok":
                            self._set_health(modality, "ok")
                        delay = 1.0
                        await self._score(modality, channel, sample)
                self._set_health(modality, "ended", "input ended")
                return
            except SourceError as exc:
                self._set_health(modality, "failed", str(exc))
            except Exception as exc:  # a bug in one source must not take the device down
                log.exception("source crashed", extra={"fields": self._fields(modality)})
                self._set_health(modality, "failed", f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, MAX_BACKOFF_S)

    async def _score(self, modality: Modality, channel: Channel, sample: Sample) -> None:
        try:
            score = await asyncio.to_thread(channel.scorer.score, sample)
        except Exception as exc:  # a model that raises is isolated to its modality
            if self.failed.get(modality) is None:
                log.exception("scorer failed", extra={"fields": self._fields(modality)})
            self.failed[modality] = f"scorer error: {type(exc).__name__}: {exc}"
            self.decide()
            return
        self.failed.pop(modality, None)
        self.processed[modality] += 1
        if score is None:
            return
        self.scores[modality] = score
        async with self._scored:
            self._scored.notify_all()
        decision = self.decide()
        self.latency_ms.append((decision.decided_at - sample.captured_at) * 1000.0)

    def _set_health(self, modality: Modality, state: str, reason: str = "") -> None:
        self.health[modality] = state if not reason else f"{state}: {reason}"
        if state == "ok":
            self.failed.pop(modality, None)
            log.info("source ok", extra={"fields": self._fields(modality)})
        else:
            self.failed[modality] = reason
            log.warning(
                f"source {state}", extra={"fields": {**self._fields(modality), "reason": reason}}
            )
        self.decide()

    def _fields(self, modality: Modality) -> dict[str, str]:
        return {"device": self.device, "modality": str(modality)}

    def decide(self, now: float | None = None) -> Decision:
        """Fuse the latest scores, advance the alarm lifecycle, and publish what changed."""
        now = time.time() if now is None else now
        decision = fuse(
            self.device, self.scores, self.config.fusion, self.channels, now, self.failed
        )
        self.last_decision = decision
        transition = None if self._warming_up(now) else self.tracker.update(decision, now)
        if transition is not None:
            payload = alarm_payload(transition, self.topics.site, self.config.location)
            topic = self.topics.alarm(self.device)
            self.publisher.send_event(transition.seq, topic, encode(payload))
            log.info(
                f"alarm {transition.event}",
                extra={
                    "fields": {
                        "device": self.device,
                        "alarm_id": transition.alarm.id,
                        "seq": transition.seq,
                        "type": transition.alarm.type,
                        "severity": transition.alarm.severity,
                        "score": round(decision.score, 3),
                        "rule": decision.rule,
                    }
                },
            )
        self._publish_state(decision, now)
        return decision

    def _warming_up(self, now: float) -> bool:
        """At start, hold alarms until every live modality has spoken once (or `stale_after_s`).

        Otherwise the first modality to report would carry all the renormalised weight, and an
        alarm would go out before the evidence of the other senses exists.
        """
        if now - self._started_at >= self.config.fusion.stale_after_s:
            return False
        return any(m not in self.scores and m not in self.failed for m in self.channels)

    def _publish_state(self, decision: Decision, now: float) -> None:
        active = self.tracker.active
        health = {str(m): h for m, h in self.health.items()}
        state = state_payload(decision, active.id if active else None, health)
        key = f"{state['state']}|{state['alarm_id']}|{health}"
        last_key, last_at = self._last_state
        if key != last_key or now - last_at >= STATE_EVERY_S:
            self._last_state = (key, now)
            self.publisher.set_retained(self.topics.state(self.device), encode(state))

    async def fresh_scores(self, after: float, timeout_s: float) -> list[Modality]:
        """Wait until every live modality has a score captured after `after`; return the missing."""

        def missing() -> list[Modality]:
            return [
                m
                for m in self.channels
                if not self.health[m].startswith("ended")
                and (m not in self.scores or self.scores[m].captured_at < after)
            ]

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s), self._scored:
                await self._scored.wait_for(lambda: not missing())
        return missing()
