"""Route handlers called directly, without a server: what a request may not change."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from agent.apps.dashboard.app import Dashboard
from agent.apps.dashboard.auth import TokenGate
from agent.apps.dashboard.history_sqlite import SqliteHistory
from agent.apps.dashboard.ingest import Ingest
from agent.apps.dashboard.live import Hub, LiveView
from agent.config.device import BrokerConfig
from agent.sinks.mqtt.link import MqttLink


def answer(response: Response) -> Any:
    """A JSON response's body, decoded."""
    return json.loads(bytes(response.body))


def get(path_params: dict[str, str]) -> Request:
    return Request({"type": "http", "method": "GET", "path_params": path_params})


async def test_asking_for_a_snapshot_does_not_add_the_device(tmp_path: Path) -> None:
    live = LiveView()
    history, hub = SqliteHistory(tmp_path / "h.sqlite", 1.0), Hub()
    dashboard = Dashboard("edge", live, history, hub, MqttLink(BrokerConfig(), None),
                          TokenGate(None), Ingest("edge", live, history, hub))  # fmt: skip
    response = await dashboard.snapshot(get({"site": "x", "device": "made-up", "kind": "image"}))
    assert response.status_code == 404
    assert answer(response) == {"error": "no snapshot yet"}
    assert live.devices == {} and live.known_sites == set()


def post(path_params: dict[str, str], body: bytes) -> Request:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path_params": path_params, "headers": []}
    return Request(scope, receive)


async def test_a_relearn_request_names_a_known_device_and_is_checked(tmp_path: Path) -> None:
    """Checked before anything is published: a device the dashboard has not seen, a name
    missing, a duration out of range (or given to a rollback), an unknown action or field are
    refused, naming why."""
    live = LiveView()
    history, hub = SqliteHistory(tmp_path / "h.sqlite", 1.0), Hub()
    dashboard = Dashboard("edge", live, history, hub, MqttLink(BrokerConfig(), None),
                          TokenGate(None), Ingest("edge", live, history, hub))  # fmt: skip
    pump = {"site": "plant", "device": "pump"}
    unknown = await dashboard.relearn(post(pump, b'{"by": "ana"}'))
    assert (unknown.status_code, answer(unknown)) == (404, {"error": "unknown device"})
    live.device("plant", "pump")
    for body, word in [(b'{"note": "x"}', "by"), (b'{"by": "ana", "duration_s": -5}', "duration_s"),
                       (b'{"by": "ana", "when": "now"}', "when"), (b"not json", "not JSON"),
                       (b'{"by": "ana", "action": "forget"}', "action"),
                       (b'{"by": "ana", "action": "rollback", "duration_s": 60}', "duration_s"),
                       ]:  # fmt: skip
        refused = await dashboard.relearn(post(pump, body))
        assert refused.status_code == 422 and word in answer(refused)["error"]


async def test_a_trend_reaches_back_a_day_at_most(tmp_path: Path) -> None:
    """Asked for a week (or `inf`), a trend would build every point of the retention, up to
    600,000 a device, on the event loop."""
    live = LiveView()
    history, hub = SqliteHistory(tmp_path / "h.sqlite", 7.0), Hub()
    dashboard = Dashboard("edge", live, history, hub, MqttLink(BrokerConfig(), None),
                          TokenGate(None), Ingest("edge", live, history, hub))  # fmt: skip
    now = time.time()
    for hours_ago in (30.0, 2.0):
        state = {"device": "pump", "score": 0.1, "modalities": {}, "readings": {}}
        await history.add_state("plant", state, now - hours_ago * 3600.0)
    pump = {"site": "plant", "device": "pump"}
    for asked in ("100", "inf"):
        request = Request({"type": "http", "method": "GET", "path_params": pump,
                           "query_string": f"hours={asked}".encode()})  # fmt: skip
        points = answer(await dashboard.trend(request))["points"]
        assert [round((now - p["at"]) / 3600.0) for p in points] == [2]
