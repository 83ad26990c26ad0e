"""A fifth sense added as one folder (tests/toy_sense/) and one registry line goes end to end:
config, fusion, the alarm on a real broker, its evidence file, and the dashboard's API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema
import pytest

from agent.apps.dashboard.server import DashboardSettings, serve
from agent.config.dashboard import DashboardConfig
from agent.config.loader import parse_config
from agent.senses.registry import SENSES
from agent.senses.schema import alarm_schema
from tests.dashboard.support import get_json, poll
from tests.support.mqtt import Collector, free_port, subscribe
from tests.support.tasks import agent_running
from tests.toy_sense import VIBRATION

pytestmark = pytest.mark.slow


@pytest.fixture
def vibration_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SENSES, VIBRATION.name, VIBRATION)  # the one registry line


def raised_with_file(seen: Collector) -> dict[str, Any] | None:
    for alarm in seen.json("/alarm"):
        files = alarm.get("evidence_files") or []
        arrived = all(any(t == f["topic"] for t, _, _ in seen.messages) for f in files)
        if alarm["event"] == "raised" and files and arrived:
            return alarm
    return None


async def test_a_sense_added_in_one_folder_alarms_with_evidence_and_shows_on_the_dashboard(
    vibration_registered: None, tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    config = parse_config({
        "site": "plant",
        "broker": {"host": broker[0], "port": broker[1], "topic_prefix": topic_prefix},
        "inspection": {"enabled": False},
        "storage": {"dir": str(tmp_path / "state")},
        "devices": [{
            "id": "fan-01",
            "sources": {"accelerometer": {"rms": [2.0], "rate_hz": 10}},
            "alarm": {"min_hold_s": 0},
        }],
    })  # fmt: skip
    assert config.devices[0].fusion.weights["vibration"] == 0.25  # the registry's default
    dashboard = DashboardSettings(
        broker=config.broker.model_copy(update={"client_id": None}),
        dashboard=DashboardConfig(port=free_port(), history_file=tmp_path / "dash.sqlite"),
        storage=config.storage,
    )
    url = f"http://127.0.0.1:{dashboard.dashboard.port}"
    stop = asyncio.Event()
    server = asyncio.create_task(serve(dashboard, stop))
    try:
        async with aiomqtt.Client(*broker) as client:  # the dashboard listens once it has this
            await client.publish(f"{topic_prefix}/plant/status", b"online", qos=1, retain=True)
        await poll(url + "/api/overview", lambda o: "plant" in o["sites"])
        async with subscribe(*broker, f"{topic_prefix}/#") as seen:
            async with agent_running(config):
                await seen.wait_for(lambda c: raised_with_file(c) is not None, 30)
            alarm = raised_with_file(seen)
        assert alarm is not None
        jsonschema.validate(alarm, alarm_schema())
        assert alarm["type"] == "imbalance"
        assert alarm["modalities"]["vibration"]["weight"] == 1.0
        (file,) = alarm["evidence_files"]
        assert (file["kind"], file["media_type"]) == ("vibration", "application/json")
        published = next(p for t, p, _ in seen.messages if t == file["topic"])
        assert json.loads(published) == {"rms": 2.0, "score": 1.0}
        states = seen.json("/fan-01/state")
        assert states[-1]["readings"]["vibration_rms"] == 2.0

        senses = await asyncio.to_thread(get_json, url + "/api/senses")
        assert [s["name"] for s in senses["senses"]][-1] == "vibration"
        alarm_ids = lambda answer: [a["id"] for a in answer["alarms"]]  # noqa: E731
        await poll(url + "/api/alarms?hours=1", lambda a: alarm["id"] in alarm_ids(a))
        overview = await poll(
            url + "/api/overview", lambda o: any(t["device"] == "fan-01" for t in o["devices"])
        )
        (tile,) = [t for t in overview["devices"] if t["device"] == "fan-01"]
        assert tile["driver"] == "vibration"
        assert set(tile["modalities"]) == {"vibration"}
    finally:
        stop.set()
        await server
