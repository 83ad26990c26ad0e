"""Inspection rounds: every device in turn gets fresh samples of every modality, scored and fused.

Like a patrol robot's round, but the sensors stay put: a round records per device how long it
took from the first fresh capture to the decision, and publishes progress retained on
<prefix>/<site>/inspection so a dashboard can show it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.config.device import InspectionConfig
from agent.core.payload import encode, iso
from agent.runtime.pipeline import DevicePipeline
from agent.sinks.mqtt.publisher import Publisher
from agent.sinks.mqtt.topics import Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InspectionRecord:
    """One device's inspection within a round."""

    device: str
    started_at: str | None
    duration_s: float
    result: str  # "ok", "alarm", "incomplete" or "learning" (it learns its own normal)
    score: float
    missing: list[str]


@dataclass
class InspectionRound:
    """A round in progress or done."""

    round: int
    started_at: float
    devices_total: int
    records: list[InspectionRecord] = field(default_factory=list)
    finished_at: float | None = None

    def summary(self) -> dict[str, Any]:
        """The retained progress message."""
        return {
            "round": self.round,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "devices_done": len(self.records),
            "devices_total": self.devices_total,
            "devices": [asdict(r) for r in self.records],
        }


async def inspect_device(pipeline: DevicePipeline, timeout_s: float) -> InspectionRecord:
    """Wait for fresh scores of every modality, then decide; time first capture → decision.

    A device that learns its own normal scores only hard limits meanwhile: it is reported as
    `learning` at once, not waited for."""
    requested = time.time()
    learning = pipeline.status().learning is not None
    missing = [] if learning else await pipeline.fresh_scores(requested, timeout_s)
    decision = pipeline.decide()
    first_capture = decision.captured_at if decision.captured_at is not None else requested
    if learning:
        result = "learning"
    elif missing:
        result = "incomplete"
    else:
        result = "alarm" if pipeline.status().active_alarm is not None else "ok"
    return InspectionRecord(
        device=pipeline.device,
        started_at=iso(first_capture),
        duration_s=round(decision.decided_at - max(first_capture, requested), 3),
        result=result,
        score=round(decision.score, 4),
        missing=[str(m) for m in missing],
    )


class InspectionScheduler:
    """Runs a round every `interval_s`, devices one after another."""

    def __init__(
        self,
        config: InspectionConfig,
        pipelines: list[DevicePipeline],
        publisher: Publisher,
        topics: Topics,
    ) -> None:
        self.config = config
        self.pipelines = pipelines
        self.publisher = publisher
        self.topics = topics
        self.rounds_done = 0
        self.rounds_failed = 0
        self.current: InspectionRound | None = None

    async def run(self) -> None:
        """Rounds forever, each starting `interval_s` after the previous one started; a round
        that fails is logged and counted (`rounds_failed`), and the next one runs all the same."""
        while True:
            started = time.monotonic()
            try:
                await self.run_round()
            except Exception:  # a bug in one round must not end the rounds
                self.rounds_failed += 1
                log.exception("inspection round failed", extra={"fields": {
                    "round": self.rounds_done + 1, "failed": self.rounds_failed}})  # fmt: skip
            await asyncio.sleep(max(0.0, self.config.interval_s - (time.monotonic() - started)))

    async def run_round(self) -> InspectionRound:
        """Inspect every device once and publish progress after each.

        `pipelines` is the agent's list, which a reload edits in place while a round runs: the
        round goes through the devices it started with, each on its pipeline of the moment, and
        drops one a reload removed. A device added meanwhile waits for the next round.
        """
        devices = [pipeline.device for pipeline in self.pipelines]
        current = InspectionRound(
            round=self.rounds_done + 1, started_at=time.time(), devices_total=len(devices)
        )
        self.current = current
        self._publish(current)
        for device in devices:
            record = await self._inspect(device)
            if record is None:
                current.devices_total -= 1
            else:
                current.records.append(record)
                fields = asdict(record) | {"round": current.round}
                log.info("device inspected", extra={"fields": fields})
            self._publish(current)
        current.finished_at = time.time()
        self.rounds_done = current.round
        self._publish(current)
        return current

    async def _inspect(self, device: str) -> InspectionRecord | None:
        """Inspect on the current pipeline, again if a reload replaced it meanwhile (the stopped
        one would only time out); None once a reload removed the device."""
        while (pipeline := self._pipeline_of(device)) is not None:
            record = await inspect_device(pipeline, self.config.device_timeout_s)
            if self._pipeline_of(device) is pipeline:
                return record
        return None

    def _pipeline_of(self, device: str) -> DevicePipeline | None:
        return next((p for p in self.pipelines if p.device == device), None)

    def _publish(self, current: InspectionRound) -> None:
        self.publisher.set_retained(self.topics.inspection, encode(current.summary()))
