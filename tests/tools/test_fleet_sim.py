"""The fleet simulator publishes what agents publish: the dashboard takes every message."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from agent.apps.dashboard.history_sqlite import SqliteHistory
from agent.apps.dashboard.ingest import Ingest
from agent.apps.dashboard.live import Hub, LiveView
from agent.senses.schema import alarm_schema
from tests.support.mqtt import subscribe
from tools.fleet_sim import SimOptions, run_agents


async def test_simulated_agents_publish_real_payloads_on_real_topics(
    broker: tuple[str, int], topic_prefix: str, tmp_path: Path
) -> None:
    options = SimOptions(broker, topic_prefix, devices=2, duration_s=4.0, state_hz=2.0,
                         alarms_per_device_hour=20_000.0, fault_s=1.0, evidence_bytes=1000,
                         seed=1)  # fmt: skip
    async with subscribe(*broker, f"{topic_prefix}/#") as seen:
        counts = await run_agents([0, 1], options)
        await seen.wait_for(lambda c: len(c.messages) >= sum(counts.values()), 10)
    assert counts["state"] >= 2 * 2 * 6 and counts["alarm"] >= 2 and counts["evidence"] >= 1
    ingest = Ingest(topic_prefix, LiveView(), SqliteHistory(tmp_path / "h.sqlite", 1.0), Hub())
    for topic, payload, _ in seen.messages:
        if topic.endswith("/alarm"):
            jsonschema.validate(json.loads(payload), alarm_schema())
        await ingest.process(topic, payload)
    assert ingest.rejected == {}
    tiles = ingest.live.overview()["devices"]
    assert {(t["site"], t["device"]) for t in tiles} == {
        (f"sim-{a:02d}", f"dev-{d:02d}") for a in range(2) for d in range(2)
    }
    assert {t["state"] for t in tiles} <= {"ok", "alarm", "offline"}
    assert len(await ingest.history.alarms()) >= 1
