"""Evidence on alarms and live snapshots: the pipeline's side of the evidence store.

`EvidenceSink` (one per device) remembers the samples behind the latest scores (the scores
travel in each alarm's Decision), publishes retained snapshots, and hands each alarm event to
the agent-wide `EvidenceWriter`. The event enters the outbox at once, held: a `kill -9` while
its evidence renders loses nothing (the next run sends it without the files). The writer is a
FIFO that renders and stores a raised/updated alarm's evidence in a worker thread, then
releases the event with its `evidence_files`; the publisher sends events in seq order, so one
waits for those before it. Retention runs after the release, so an alarm never waits for old
files to be deleted.

The disk degrades evidence before it can stop alarms: with the storage filesystem `low`, a
file over `LOW_DISK_MAX_FILE_BYTES` (a camera frame, a long sound clip) is left out; when
`critical`, or once a write failed for want of space, no file is written. The event then
says so in `"evidence_degraded"` (`low_disk`, `disk_full`), and each change of that mode is
logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.config.device import DeviceConfig
from agent.core.alarms import AlarmEvent, AlarmTransition
from agent.core.payload import encode
from agent.core.samples import Modality, Sample, Score
from agent.senses.registry import SENSES
from agent.sinks.disk import StorageWatch, is_disk_full
from agent.sinks.evidence.store import EvidenceStore, StoredEvidence
from agent.sinks.mqtt.outbox import AlarmKey
from agent.sinks.mqtt.publisher import Publisher
from agent.sinks.mqtt.sink import MqttSink, trigger_captured_at
from agent.sinks.mqtt.topics import Topics

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0
LOW_DISK_MAX_FILE_BYTES = 64 * 1024  # with the disk low, larger evidence files are left out


@dataclass(frozen=True, slots=True)
class Capture:
    """What one modality's evidence is drawn from."""

    modality: Modality
    samples: list[Sample]
    score: Score
    source: object  # the sense's config section (the thermal renderer needs its calibration)


@dataclass(frozen=True, slots=True)
class AlarmJob:
    """An alarm event waiting for its evidence before it enters the outbox."""

    seq: int
    topic: str
    payload: dict[str, Any]
    device: str
    alarm_id: str
    captures: list[Capture]
    event: str = ""  # raised, updated or cleared; empty for an event of no alarm's life
    trigger_captured_at: float | None = None  # its trigger sample's capture, to time delivery

    @property
    def key(self) -> AlarmKey | None:
        """Which alarm the event belongs to, and what happened to it."""
        return AlarmKey(self.device, self.alarm_id, self.event) if self.event else None


class EvidenceWriter:
    """Agent-wide FIFO of alarm events: render and store evidence, then queue the event."""

    def __init__(
        self,
        store: EvidenceStore,
        publisher: Publisher,
        topics: Topics,
        storage: StorageWatch | None = None,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.topics = topics
        self.storage = storage
        self._degraded: str | None = None  # the last event's evidence mode, logged on change
        self._jobs: asyncio.Queue[AlarmJob] = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, job: AlarmJob) -> None:
        """Store the event, held, and queue its evidence (called where its seq was taken)."""
        self.publisher.send_event(
            job.seq,
            job.topic,
            encode(job.payload),
            held=True,
            alarm=job.key,
            trigger_captured_at=job.trigger_captured_at,
        )
        self._idle.clear()
        self._jobs.put_nowait(job)

    async def run(self) -> None:
        """Work the queue forever; when cancelled, release what is left without evidence."""
        try:
            while True:
                job = await self._jobs.get()
                try:
                    files, degraded = await asyncio.to_thread(self._store_all, job)
                except asyncio.CancelledError:
                    self._send(job, [])
                    raise
                except Exception:  # never lose the event for its evidence
                    log.exception("evidence failed", extra={"fields": {"alarm_id": job.alarm_id}})
                    files, degraded = [], None
                self._send(job, files, degraded)
                if files:  # published only once their alarm event is released
                    await self._release(files)
                if job.captures:  # the disk cap holds after every alarm, once it is released
                    await asyncio.to_thread(prune, self.store)
                if self._jobs.empty():
                    self._idle.set()
        finally:
            while not self._jobs.empty():
                self._send(self._jobs.get_nowait(), [])

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every submitted event is released; False if the time ran out."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        return self._idle.is_set()

    async def _release(self, files: list[StoredEvidence]) -> None:
        try:
            await asyncio.to_thread(self.store.release, [f.id for f in files])
        except Exception:  # the alarm is out; its files stay on disk, unpublished
            log.exception("evidence not queued for publishing")

    def _send(
        self, job: AlarmJob, files: list[StoredEvidence], degraded: str | None = None
    ) -> None:
        extra: dict[str, Any] = {"evidence_files": [f.reference() for f in files]} if files else {}
        if degraded is not None:
            extra["evidence_degraded"] = degraded
        try:
            self.publisher.complete_event(job.seq, encode({**job.payload, **extra}))
        except Exception:  # the outbox failed to take it: held until a restart releases it,
            # but the writer goes on, or every later alarm would wait for it
            log.exception("alarm event not released", extra={"fields": {
                "alarm_id": job.alarm_id, "seq": job.seq}})  # fmt: skip

    def _mode(self) -> str | None:
        """How the disk limits evidence now: None (not at all), low_disk or disk_full."""
        state = "ok" if self.storage is None else self.storage.state
        return {"ok": None, "low": "low_disk", "critical": "disk_full"}[state]

    def _note_mode(self, mode: str | None, job: AlarmJob) -> None:
        """Log once per change of the evidence mode."""
        if mode == self._degraded:
            return
        self._degraded = mode
        fields = {"device": job.device, "alarm_id": job.alarm_id, "mode": mode or "full"}
        if mode is None:
            log.info("evidence stored in full again", extra={"fields": fields})
        else:
            log.warning(f"evidence degraded: {mode}", extra={"fields": fields})

    def _store_all(self, job: AlarmJob) -> tuple[list[StoredEvidence], str | None]:
        """Render and store each modality's file as the disk allows; a failing one is logged
        and left out. Returns the files and how the disk degraded them (None: not at all)."""
        if not job.captures:
            return [], None
        stored: list[StoredEvidence] = []
        mode = self._mode()
        for capture in job.captures:
            if mode == "disk_full":
                break
            try:
                kind = SENSES[capture.modality].evidence
                data = kind.render(capture.samples, capture.score, capture.source)
                if mode == "low_disk" and len(data) > LOW_DISK_MAX_FILE_BYTES:
                    continue
                stored.append(
                    self.store.put(
                        job.alarm_id,
                        job.device,
                        kind.kind,
                        kind.media_type,
                        kind.extension,
                        self.topics.evidence(job.device, job.alarm_id, job.seq, kind.kind),
                        data,
                    )
                )
            except Exception as exc:  # one bad frame must not cost the alarm its other evidence
                fields = {"device": job.device, "alarm_id": job.alarm_id, "sense": capture.modality}
                if not is_disk_full(exc):
                    log.exception("evidence not stored", extra={"fields": fields})
                    continue
                mode = "disk_full"
                if self.storage is not None:
                    self.storage.report_full("evidence")
        self._note_mode(mode, job)
        return stored, mode


def prune(store: EvidenceStore) -> None:
    """Apply retention; a failure is logged and retried next time, never raised at alarms."""
    try:
        store.prune()
    except Exception:
        log.exception("evidence retention failed")


async def keep_retention(store: EvidenceStore, every_s: float = RETENTION_EVERY_S) -> None:
    """Apply retention periodically (the agent also prunes at start and after each alarm)."""
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(prune, store)


class EvidenceSink:
    """A Sink that keeps one device's samples behind its scores, publishes its snapshots and
    has its alarms' evidence drawn before the event goes out; states go to the MQTT sink."""

    def __init__(
        self,
        device: DeviceConfig,
        writer: EvidenceWriter,
        snapshot_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mqtt = MqttSink(writer.publisher)
        self.device = device
        self.writer = writer
        self.snapshot_interval_s = snapshot_interval_s
        self.clock = clock
        self._samples: dict[Modality, deque[Sample]] = {}
        self._last_snapshot: dict[Modality, float] = {}

    def retain(self, topic: str, payload: bytes) -> None:
        """States and health are published as they are."""
        self.mqtt.retain(topic, payload)

    def remember(self, sample: Sample) -> None:
        """Keep a scored sample (as many as its sense's evidence draws on): the alarm's
        decision holds its score, so evidence pairs the two when an alarm comes."""
        if sample.modality not in self._samples:
            size = SENSES[sample.modality].evidence.window
            self._samples[sample.modality] = deque(maxlen=size)
        self._samples[sample.modality].append(sample)

    def alarm(self, transition: AlarmTransition, topic: str, payload: dict[str, Any]) -> None:
        """Hand an alarm event to the writer; raised and updated ones get evidence."""
        captures = []
        if transition.event is not AlarmEvent.CLEARED:
            captures = [
                Capture(m, list(self._samples[m]), score, self._source(m))
                for m, score in transition.decision.scores.items()
                if m in self._samples
            ]
        self.writer.submit(
            AlarmJob(
                transition.seq,
                topic,
                payload,
                self.device.id,
                transition.alarm.id,
                captures,
                str(transition.event),
                trigger_captured_at(transition),
            )
        )

    async def snapshot(self, sample: Sample, score: Score) -> None:
        """Publish the annotated camera / thermal frame, retained, at most once per interval."""
        modality = sample.modality
        kind = SENSES[modality].evidence
        if not kind.snapshot:
            return
        now = self.clock()
        last = self._last_snapshot.get(modality)
        if last is not None and now - last < self.snapshot_interval_s:
            return
        self._last_snapshot[modality] = now
        try:
            data = await asyncio.to_thread(kind.render, [sample], score, self._source(modality))
        except Exception:  # a snapshot is a convenience: log it, never stop the modality
            fields = {"device": self.device.id, "kind": kind.kind}
            log.exception("snapshot failed", extra={"fields": fields})
            return
        writer = self.writer
        writer.publisher.set_retained(writer.topics.snapshot(self.device.id, kind.kind), data)

    def _source(self, modality: Modality) -> object:
        return self.device.sources.configured().get(modality)
