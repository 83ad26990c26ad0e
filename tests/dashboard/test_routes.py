"""Route handlers called directly, without a server: what a request may not change."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.requests import Request

from agent.apps.dashboard.app import Dashboard
from agent.apps.dashboard.auth import TokenGate
from agent.apps.dashboard.history_sqlite import SqliteHistory
from agent.apps.dashboard.ingest import Ingest
from agent.apps.dashboard.live import Hub, LiveView
from agent.config.device import BrokerConfig
from agent.sinks.mqtt.link import MqttLink


def get(path_params: dict[str, str]) -> Request:
    return Request({"type": "http", "method": "GET", "path_params": path_params})


async def test_asking_for_a_snapshot_does_not_add_the_device(tmp_path: Path) -> None:
    live = LiveView()
    history, hub = SqliteHistory(tmp_path / "h.sqlite", 1.0), Hub()
    dashboard = Dashboard("edge", live, history, hub, MqttLink(BrokerConfig(), None),
                          TokenGate(None), Ingest("edge", live, history, hub))  # fmt: skip
    response = await dashboard.snapshot(get({"site": "x", "device": "made-up", "kind": "image"}))
    assert response.status_code == 404
    assert json.loads(response.body) == {"error": "no snapshot yet"}
    assert live.devices == {} and live.known_sites == set()
