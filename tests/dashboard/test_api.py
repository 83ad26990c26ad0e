"""The dashboard process over a real broker: what it learns from MQTT, through its JSON API,
and that a restart keeps the history."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest

from tests.dashboard.support import dashboard_process, get_json, poll

SITE, DEVICE = "plant", "pump"
# an hour ago, on a whole second: well inside the dashboard's retention on any day the test runs
START = float(int(time.time()) - 3600)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def state(score: float, second: int) -> bytes:
    return json.dumps({
        "device": DEVICE, "state": "ok", "score": score, "threshold": 0.3, "rule": "none",
        "type": "none", "alarm_id": None,
        "modalities": {"temperature": {"score": score, "weight": 1.0, "stale": False}},
        "readings": {"max_temp_c": 40.0 + second, "sensor": {"Current": 3.0}},
        "updated_at": iso(START + second),
    }).encode()  # fmt: skip


async def test_history_and_live_state_come_from_the_broker_and_survive_a_restart(
    broker: tuple[str, int], topic_prefix: str, tmp_path: Path
) -> None:
    trend_url = f"/api/devices/{SITE}/{DEVICE}/trend?hours=100000"
    alarm = {"id": "a-1", "seq": 1, "event": "raised", "device": DEVICE, "type": "hot_spot",
             "severity": "major", "score": 0.7,
             "raised_at": iso(START + 2)}  # fmt: skip
    async with dashboard_process(tmp_path, broker[1], topic_prefix) as dash:
        async with aiomqtt.Client(*broker) as client:
            base = f"{topic_prefix}/{SITE}"
            await client.publish(f"{base}/status", b"online", qos=1, retain=True)
            # retained, so it arrives whenever the dashboard subscribes: then it listens
            await poll(dash.url + "/api/overview", lambda o: SITE in o["sites"])
            for second in range(3):
                await client.publish(f"{base}/{DEVICE}/state", state(0.1 * second, second), qos=1)
            await client.publish(f"{base}/{DEVICE}/alarm", json.dumps(alarm).encode(), qos=1)
        trend = await poll(dash.url + trend_url, lambda t: len(t["points"]) == 3)
        assert [p["readings"]["max_temp_c"] for p in trend["points"]] == [40.0, 41.0, 42.0]
        overview = await asyncio.to_thread(get_json, dash.url + "/api/overview")
        assert [t["device"] for t in overview["devices"]] == [DEVICE]
        await poll(dash.url + "/api/alarms?hours=100000", lambda a: len(a["alarms"]) == 1)

    async with dashboard_process(tmp_path, broker[1], topic_prefix) as restarted:
        trend = await asyncio.to_thread(get_json, restarted.url + trend_url)
        assert len(trend["points"]) == 3
        alarms = await asyncio.to_thread(get_json, restarted.url + "/api/alarms?hours=100000")
        assert [a["id"] for a in alarms["alarms"]] == ["a-1"]
        stats = await asyncio.to_thread(get_json, restarted.url + "/api/stats?days=100000")
        day = iso(START + 2)[:10]
        assert stats["per_type"] == [{"day": day, "name": "hot_spot", "n": 1}]


async def test_refused_messages_are_served_to_signed_in_operators(
    broker: tuple[str, int], topic_prefix: str, tmp_path: Path
) -> None:
    """A dashboard that drops messages says so: its refusal counts, by topic kind and reason,
    are in the API behind the token like the rest."""
    token = "s3cret-token-for-tests"
    async with dashboard_process(tmp_path, broker[1], topic_prefix, token) as dash:
        url = dash.url + "/api/ingest"
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(get_json, url)
        refused.value.close()  # it holds the response's socket
        assert refused.value.code == 401
        assert await asyncio.to_thread(get_json, url, token) == {
            "rejected": [],
            "history_failures": 0,
        }
        async with aiomqtt.Client(*broker) as client:
            # retained, so it arrives whenever the dashboard subscribes
            topic = f"{topic_prefix}/{SITE}/{DEVICE}/state"
            await client.publish(topic, b"not json", qos=1, retain=True)
        served = await poll(url, lambda answer: bool(answer["rejected"]), token=token)
    assert served == {
        "rejected": [{"topic_kind": "state", "reason": "not_json", "count": 1}],
        "history_failures": 0,
    }
