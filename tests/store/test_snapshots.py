"""Retained live snapshots: the annotated frame reaches the broker, at most once per interval."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from agent.config.device import BrokerConfig, DeviceConfig
from agent.core.samples import Sample, Score
from agent.senses.registry import SENSES
from agent.sinks.evidence.recorder import EvidenceSink, EvidenceWriter
from agent.sinks.evidence.store import EvidenceStore
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.outbox import Outbox
from agent.sinks.mqtt.publisher import Publisher
from agent.sinks.mqtt.topics import Topics
from tests.support.mqtt import Collector, subscribe
from tests.support.tasks import running


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def frame_sample(grey: int) -> tuple[Sample, Score]:
    now = time.time()
    frame = np.full((60, 80, 3), grey, dtype=np.uint8)
    evidence = {"detections": [{"class": "dent", "confidence": 0.7, "box": [5, 5, 30, 30]}]}
    return (
        Sample("cam-01", "image", now, frame),
        Score("cam-01", "image", 0.7, "dent", evidence, now, now),
    )


def latest(seen: Collector, topic: str) -> bytes | None:
    values = [p for t, p, _ in seen.messages if t == topic]
    return values[-1] if values else None


async def test_snapshot_is_published_retained_at_most_once_per_interval(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    topics = Topics(topic_prefix, "plant")
    link = MqttLink(BrokerConfig(host=broker[0], port=broker[1]), topics.status)
    publisher = Publisher(link, Outbox(":memory:"))
    store = EvidenceStore(tmp_path / "db.sqlite3", tmp_path / "evidence", 3600.0, 10**6)
    model = tmp_path / "det.onnx"
    model.write_bytes(b"never loaded: the test renders, it does not detect")
    device = DeviceConfig.model_validate(
        {"id": "cam-01", "sources": {"camera": {"uri": "unused.avi", "detector": {"model": model}}},
         "fusion": {"weights": {"image": 1.0}}}
    )  # fmt: skip
    clock = Clock()
    evidence = EvidenceSink(device, EvidenceWriter(store, publisher, topics), 5.0, clock)
    topic = topics.snapshot("cam-01", "image")
    first, skipped, later = frame_sample(40), frame_sample(120), frame_sample(200)
    expected = [SENSES["image"].evidence.render([s], score, None) for s, score in (first, later)]

    async with subscribe(*broker, topic) as seen, running(link.run(), publisher.run()):
        await evidence.snapshot(*first)
        await seen.wait_for(lambda c: latest(c, topic) == expected[0], 10)
        clock.now += 4.0
        await evidence.snapshot(*skipped)  # within the interval: not rendered, not sent
        clock.now += 1.0
        await evidence.snapshot(*later)
        await seen.wait_for(lambda c: latest(c, topic) == expected[1], 10)
        await asyncio.sleep(0.3)
    assert [p for t, p, _ in seen.messages if t == topic] == expected

    async with subscribe(*broker, topic) as fresh:  # a dashboard opened later sees the last one
        await fresh.wait_for(lambda c: latest(c, topic) is not None, 10)
    assert fresh.messages == [(topic, expected[1], True)]
