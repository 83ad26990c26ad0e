"""Alarm events wait for their evidence but keep their order, and a bad file costs only itself."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from agent.config.decision import FusionConfig
from agent.config.device import BrokerConfig, DeviceConfig
from agent.core.alarms import Alarm, AlarmEvent, AlarmTransition
from agent.core.fusion import fuse
from agent.core.samples import Modality, Sample, Score
from agent.senses.registry import default_weights
from agent.sinks.evidence.recorder import EvidenceSink, EvidenceWriter
from agent.sinks.evidence.store import EvidenceStore
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.outbox import Outbox
from agent.sinks.mqtt.publisher import Publisher
from agent.sinks.mqtt.topics import Topics
from tests.support.tasks import running


def device(tmp_path: Path) -> DeviceConfig:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"never loaded")
    return DeviceConfig.model_validate(
        {
            "id": "pump-01",
            "sources": {
                "camera": {"uri": "cam.avi", "detector": {"model": model}},
                "microphone": {"file": model, "classifier": {"model": model}},
            },
            "fusion": {"weights": {"image": 0.5, "audio": 0.5}},
        }
    )


def observed(modality: Modality, data: np.ndarray, **meta: object) -> tuple[Sample, Score]:
    now = time.time()
    sample = Sample("pump-01", modality, now, data, dict(meta))
    return sample, Score("pump-01", modality, 0.9, "x", {"detections": []}, now, now)


def transition(event: AlarmEvent, seq: int, scores: dict[Modality, Score]) -> AlarmTransition:
    config = FusionConfig(weights=default_weights())
    decision = fuse("pump-01", scores, config, scores, time.time())
    alarm = Alarm("a1", "pump-01", time.time(), "x", "major", 0.9, time.time())
    return AlarmTransition(event, seq, alarm, decision)


async def test_events_enter_the_outbox_in_seq_order_with_the_files_that_rendered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    topics = Topics("edge", "plant")
    outbox = Outbox(":memory:")
    publisher = Publisher(MqttLink(BrokerConfig(), topics.status), outbox)  # never connected
    store = EvidenceStore(tmp_path / "db.sqlite3", tmp_path / "evidence", 3600.0, 10**7)
    writer = EvidenceWriter(store, publisher, topics)
    evidence = EvidenceSink(device(tmp_path), writer, 5.0)
    image = observed("image", np.zeros((40, 60, 3), np.uint8))
    audio = observed("audio", np.zeros(800, np.float32))  # no sample_rate: cannot render
    for sample, _ in (image, audio):
        evidence.remember(sample)
    scores = {"image": image[1], "audio": audio[1]}

    evidence.alarm(transition(AlarmEvent.RAISED, 7, scores), topics.alarm("pump-01"), {"n": 7})
    evidence.alarm(transition(AlarmEvent.CLEARED, 8, scores), topics.alarm("pump-01"), {"n": 8})
    assert len(outbox) == 2  # durable at once, before any rendering
    held = outbox.head()
    assert held is not None and held.seq == 7 and held.held
    with caplog.at_level(logging.ERROR):
        async with running(writer.run()):
            assert await writer.drain(10)

    raised = outbox.head()
    assert raised is not None and raised.seq == 7 and not raised.held
    (reference,) = json.loads(raised.payload)["evidence_files"]
    assert reference["kind"] == "image"
    assert reference["topic"] == "edge/plant/pump-01/evidence/a1/7/image"
    assert "evidence not stored" in caplog.text  # the audio file, and only it
    outbox.acknowledged(7)
    cleared = outbox.head()
    assert cleared is not None and cleared.seq == 8
    assert json.loads(cleared.payload) == {"n": 8}  # a cleared alarm has no new evidence
    queued = store.next_publish()
    assert queued is not None and queued.topic == reference["topic"]
    assert len(queued.payload) == reference["size"]


def remembered_image(
    tmp_path: Path,
) -> tuple[Topics, Outbox, EvidenceWriter, EvidenceSink, tuple[Sample, Score]]:
    """An evidence sink on an in-memory outbox (never connected) that has seen one frame."""
    topics = Topics("edge", "plant")
    outbox = Outbox(":memory:")
    publisher = Publisher(MqttLink(BrokerConfig(), topics.status), outbox)
    store = EvidenceStore(tmp_path / "db.sqlite3", tmp_path / "evidence", 3600.0, 10**7)
    writer = EvidenceWriter(store, publisher, topics)
    evidence = EvidenceSink(device(tmp_path), writer, 5.0)
    image = observed("image", np.zeros((40, 60, 3), np.uint8))
    evidence.remember(image[0])
    return topics, outbox, writer, evidence, image


async def test_events_still_queued_at_shutdown_go_out_without_evidence(tmp_path: Path) -> None:
    topics, outbox, writer, evidence, image = remembered_image(tmp_path)
    for seq in (1, 2, 3):
        event = transition(AlarmEvent.UPDATED, seq, {"image": image[1]})
        evidence.alarm(event, topics.alarm("pump-01"), {"n": seq})
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)  # the writer takes the first job and starts rendering
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    seqs = []
    while (entry := outbox.head()) is not None:
        assert not entry.held  # released, not left waiting for a render that will not come
        assert json.loads(entry.payload) == {"n": entry.seq}  # as it was, without evidence
        seqs.append(entry.seq)
        outbox.acknowledged(entry.seq)
    assert seqs == [1, 2, 3]


async def test_an_event_the_outbox_fails_to_release_does_not_stop_the_writer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics, outbox, writer, evidence, image = remembered_image(tmp_path)
    complete = outbox.complete
    failures = [sqlite3.OperationalError("disk I/O error")]

    def fails_once(seq: int, payload: bytes) -> None:
        if failures:
            raise failures.pop()
        complete(seq, payload)

    monkeypatch.setattr(outbox, "complete", fails_once)
    for seq in (1, 2):
        event = transition(AlarmEvent.UPDATED, seq, {"image": image[1]})
        evidence.alarm(event, topics.alarm("pump-01"), {"n": seq})
    with caplog.at_level(logging.ERROR):
        async with running(writer.run()):
            assert await writer.drain(10)
    assert "alarm event not released" in caplog.text
    first = outbox.head()
    assert first is not None and (first.seq, first.held) == (1, True)  # until a restart
    outbox.acknowledged(1)
    second = outbox.head()
    assert second is not None and (second.seq, second.held) == (2, False)  # the writer went on
