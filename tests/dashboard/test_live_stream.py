"""Each open page gets what it shows: the overview every tile, a device's page its own points;
a page behind gets the latest tiles, not every step, and is dropped only for other events."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from starlette.requests import Request

from agent.apps.dashboard.app import Dashboard
from agent.apps.dashboard.auth import TokenGate
from agent.apps.dashboard.history_sqlite import SqliteHistory
from agent.apps.dashboard.ingest import Ingest
from agent.apps.dashboard.live import SUBSCRIBER_BACKLOG, Hub, Interest, LiveView
from agent.config.device import BrokerConfig
from agent.core.payload import iso
from agent.sinks.mqtt.link import MqttLink


@pytest.fixture
def ingest(tmp_path: Path) -> Ingest:
    return Ingest("edge", LiveView(), SqliteHistory(tmp_path / "h.sqlite", 1.0), Hub())


def state(device: str, score: float, at: float) -> bytes:
    return json.dumps({"device": device, "state": "ok", "score": score, "threshold": 0.5,
                       "modalities": {}, "updated_at": iso(at)}).encode()  # fmt: skip


async def test_points_go_only_to_the_page_of_their_device(ingest: Ingest) -> None:
    now = time.time()
    async with (
        ingest.hub.listen() as overview,
        ingest.hub.listen(Interest(("plant", "pump"))) as pump_page,
        ingest.hub.listen(Interest(("plant", "fan"))) as fan_page,
    ):
        for i in range(3):
            for device in ("pump", "fan"):
                await ingest.process(
                    f"edge/plant/{device}/state", state(device, 0.1 * i, now - 3 + i)
                )
        alarm = {"id": "a1", "seq": 1, "event": "raised", "device": "fan", "score": 0.9}
        await ingest.process("edge/plant/fan/alarm", json.dumps(alarm).encode())
        seen = {name: await page.take(0.0) for name, page in
                (("overview", overview), ("pump", pump_page), ("fan", fan_page))}  # fmt: skip
    kinds = {name: [e["type"] for e in events] for name, events in seen.items()}
    assert kinds["overview"] == ["alarm", "device", "device"]  # one tile each, the latest
    assert kinds["pump"] == ["point", "point", "point", "alarm", "device"]  # alarms go to all
    assert kinds["fan"] == kinds["pump"]
    assert [e["point"]["score"] for e in seen["pump"][:3]] == [0.0, 0.1, 0.2]
    assert {e["tile"]["device"]: e["tile"]["score"] for e in seen["overview"][1:]} == {
        "pump": 0.2, "fan": 0.2}  # fmt: skip
    assert seen["pump"][-1]["tile"]["device"] == "pump"


async def test_a_page_behind_keeps_up_on_tiles_and_is_dropped_only_past_its_backlog(
    ingest: Ingest,
) -> None:
    now = time.time()
    async with ingest.hub.listen() as overview:
        for i in range(5 * SUBSCRIBER_BACKLOG):  # a busy fleet, the page not reading
            await ingest.process(f"edge/plant/d{i % 40}/state", state(f"d{i % 40}", 0.5, now))
        assert ingest.hub.attached(overview)
        tiles = await overview.take(0.0)
        assert len(tiles) == 40 and all(e["type"] == "device" for e in tiles)
        for i in range(SUBSCRIBER_BACKLOG + 1):  # alarms are each kept: past the backlog, dropped
            alarm = {"id": f"a{i}", "seq": i + 1, "event": "raised", "device": "d0", "score": 0.9}
            await ingest.process("edge/plant/d0/alarm", json.dumps(alarm).encode())
        assert not ingest.hub.attached(overview)


async def test_a_page_waits_for_its_next_event_or_the_timeout() -> None:
    hub = Hub()
    async with hub.listen() as page:
        started = time.monotonic()
        assert await page.take(0.05) == []
        assert time.monotonic() - started >= 0.05
        hub.publish({"type": "inspection", "site": "plant", "inspection": {}})
        assert [e["type"] for e in await page.take(5.0)] == ["inspection"]


@pytest.mark.parametrize(
    "query", [b"site=plant", b"device=pump", b"site=plant&device=" + b"x" * 300]
)
async def test_a_device_stream_needs_both_names_within_bounds(tmp_path: Path, query: bytes) -> None:
    live, hub = LiveView(), Hub()
    history = SqliteHistory(tmp_path / "h.sqlite", 1.0)
    dashboard = Dashboard("edge", live, history, hub, MqttLink(BrokerConfig(), None),
                          TokenGate(None), Ingest("edge", live, history, hub))  # fmt: skip
    request = Request({"type": "http", "method": "GET", "query_string": query, "headers": []})
    response = await dashboard.events(request)
    assert response.status_code == 422
