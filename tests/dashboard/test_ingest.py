"""Broker messages into live tiles, history rows and browser events; bad ones are skipped."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError
from starlette.responses import JSONResponse

from agent.apps.dashboard import ingest as ingest_module
from agent.apps.dashboard.history_sqlite import SqliteHistory
from agent.apps.dashboard.ingest import Ingest, sniff_media_type
from agent.apps.dashboard.live import Hub, LiveView, driving_modality
from agent.config.dashboard import DashboardConfig
from agent.core.payload import iso


@pytest.fixture
def ingest(tmp_path: Path) -> Ingest:
    return Ingest("edge", LiveView(), SqliteHistory(tmp_path / "h.sqlite", 1.0), Hub())


def state(device: str, state_name: str, **extra: Any) -> bytes:
    payload = {
        "device": device, "state": state_name, "score": 0.5, "threshold": 0.3,
        "rule": "weighted", "type": "patches", "alarm_id": None,
        "modalities": {
            "image": {"score": 0.9, "weight": 0.4, "stale": False},
            "audio": {"score": 1.0, "weight": 0.2, "stale": False},
            "sensor": {"score": None, "weight": 0.0, "stale": True},
        },
        "readings": {"max_temp_c": 50.0, "sensor": {}},
        "updated_at": iso(time.time()),  # recent: older than the retention is not kept
    }  # fmt: skip
    return json.dumps({**payload, **extra}).encode()


async def test_tiles_follow_state_health_and_site_status(ingest: Ingest) -> None:
    await ingest.process("edge/plant/pump/state", state("pump", "ok"))
    await ingest.process("edge/plant/valve/state", state("valve", "alarm", rule="critical:sensor"))
    tiles = {t["device"]: t for t in ingest.live.overview()["devices"]}
    assert tiles["pump"]["state"] == "ok"
    assert tiles["pump"]["driver"] == "image"  # 0.9 * 0.4 beats 1.0 * 0.2
    assert tiles["valve"]["driver"] == "sensor"
    await ingest.process("edge/plant/pump/health", json.dumps({"state": "degraded"}).encode())
    assert ingest.live.overview()["devices"][0]["state"] == "degraded"
    await ingest.process("edge/plant/status", b"offline")
    assert {t["state"] for t in ingest.live.overview()["devices"]} == {"offline"}
    await ingest.process("edge/plant/status", b"online")
    await ingest.process("edge/plant/pump/state", b"not json")  # skipped, not fatal
    await ingest.process("edge/plant/pump/state", b"[1, 2]")
    assert ingest.live.overview()["devices"][0]["score"] == 0.5
    assert len(await ingest.history.trend("plant", "pump", 0.0)) == 1


async def test_alarm_evidence_and_ack_reach_history_and_listeners(ingest: Ingest) -> None:
    jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    alarm = {"id": "a1", "seq": 1, "event": "raised", "device": "pump", "type": "patches",
             "severity": "major", "score": 0.7}  # fmt: skip
    async with ingest.hub.listen() as events:
        await ingest.process(
            "edge/plant/pump/evidence/a1/3/image", jpeg
        )  # may come before the alarm
        await ingest.process("edge/plant/pump/alarm", json.dumps(alarm).encode())
        await ingest.process("edge/plant/pump/ack", json.dumps({"id": "a1", "by": "ana"}).encode())
        await ingest.process(
            "edge/plant/pump/ack", json.dumps({"id": "unknown", "by": "bo"}).encode()
        )
        received = await events.take(0.0)
    assert [e["type"] for e in received] == ["evidence", "alarm", "ack"]
    assert received[1]["alarm"]["severity"] == "major"
    found = await ingest.history.alarm("a1")
    assert found is not None
    assert found["evidence_files"] == [{"kind": "image", "media_type": "image/jpeg",
                                        "size": len(jpeg)}]  # fmt: skip
    assert found["acks"][0]["by"] == "ana"


async def test_retained_state_keeps_its_own_time_across_restarts(tmp_path: Path) -> None:
    published = float(int(time.time()) - 3600)  # an hour before the dashboard started
    retained = state("pump", "ok", updated_at=iso(published))
    for _ in range(2):  # the dashboard restarts and gets the same retained state again
        history = SqliteHistory(tmp_path / "restart.sqlite", 1.0)
        await Ingest("edge", LiveView(), history, Hub()).process("edge/plant/pump/state", retained)
        await history.close()
    points = await SqliteHistory(tmp_path / "restart.sqlite", 1.0).trend("plant", "pump", 0.0)
    assert [p["at"] for p in points] == [published]


async def test_snapshots_are_kept_in_memory(ingest: Ingest) -> None:
    png = cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes()
    await ingest.process("edge/plant/pump/snapshot/thermal", png)
    media_type, data, _ = ingest.live.device("plant", "pump").snapshots["thermal"]
    assert (media_type, data) == ("image/png", png)


def test_media_types_of_evidence_files() -> None:
    assert sniff_media_type(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "audio/wav"
    assert sniff_media_type(b"\x89PNG\r\n\x1a\n...") == "image/png"
    assert sniff_media_type(b'{"values": {}}') == "application/json"


def test_no_driver_without_fresh_scores() -> None:
    assert driving_modality({"modalities": {"image": {"score": None, "stale": True}}}) is None


def checked(levels: list[dict[str, float]], verdict: str) -> dict[str, object]:
    """A state whose calibration check holds one sense with these levels and verdict."""
    sense = {"judged": 5, "levels": [{"expected": 0.05, **lv} for lv in levels], "verdict": verdict}
    return {"device": "pump", "calibration_check": {"senses": {"audio": sense}}}


VALID_ALARM = {"id": "a1", "seq": 1, "event": "raised", "device": "pump", "score": 0.7}
HOSTILE = {
    "alarm without event": ("alarm", {k: v for k, v in VALID_ALARM.items() if k != "event"}),
    "alarm id null": ("alarm", {**VALID_ALARM, "id": None}),
    "alarm id an object": ("alarm", {**VALID_ALARM, "id": {"x": 1}}),
    "seq beyond SQLite": ("alarm", {**VALID_ALARM, "seq": 2**70}),
    "ack by an object": ("ack", {"id": "a1", "by": {"x": 1}}),
    "state score an object": ("state", {"device": "pump", "score": {"x": 1}}),
    "check without levels": ("state", checked([], "higher")),
    "check verdict unknown": ("state", checked([{"decades": 2, "reached": 1}], "<b>x</b>")),
    "learned reason too long": ("state", {"device": "pump", "learned_reason": "x" * 2001}),
    "learned at a number": ("state", {"device": "pump", "learned_at": 1.5}),
}


@pytest.mark.parametrize(
    ("topic_kind", "payload", "reason"),
    [
        *[(kind, json.dumps(body).encode(), "invalid") for kind, body in HOSTILE.values()],
        ("state", b"[" * 100_000, "too_deep"),
        ("ack", b"[" * 100_000, "too_deep"),
        ("state", b'{"device": "pump", "score": NaN}', "not_json"),
        ("state", b'{"device": "pump", "readings": {"x": "\\ud800"}}', "not_json"),
        ("alarm", b'{"id": "a\\udfff", "event": "raised"}', "not_json"),
        ("state", b'{"device": "pump", "readings": {"x": 1e999}}', "not_json"),
    ],
    ids=[
        *HOSTILE,
        "nested state",
        "nested ack",
        "NaN score",
        "lone surrogate",
        "surrogate id",
        "number too large",
    ],
)
async def test_a_hostile_message_is_refused_and_ingestion_goes_on(
    ingest: Ingest, topic_kind: str, payload: bytes, reason: str
) -> None:
    await ingest.process(f"edge/plant/pump/{topic_kind}", payload)
    assert ingest.rejected == {(topic_kind, reason): 1}
    await ingest.process("edge/plant/pump/state", state("pump", "alarm"))
    assert ingest.live.overview()["devices"][0]["state"] == "alarm"
    assert len(await ingest.history.trend("plant", "pump", 0.0)) == 1
    await ingest.process("edge/plant/pump/alarm", json.dumps(VALID_ALARM).encode())
    assert await ingest.history.alarm("a1") is not None


async def test_text_with_a_lone_surrogate_is_refused_and_the_api_still_renders(
    ingest: Ingest,
) -> None:
    """Found by tools/fuzz.py: JSON may escape half a surrogate pair ("\\ud800"), which no
    UTF-8 text holds. Taken in, it made /api/overview fail on every request while the state
    was retained, and SQLite refused the alarm as a handler error."""
    await ingest.process("edge/plant/pump/state", state("pump", "ok", rule="\ud800"))
    assert ingest.rejected == {("state", "not_json"): 1}
    await ingest.process("edge/plant/pump/state", state("pump", "ok", type="\U0001f600"))  # a pair
    assert ingest.rejected == {("state", "not_json"): 1}
    overview = json.loads(bytes(JSONResponse(ingest.live.overview()).body))
    assert overview["devices"][0]["type"] == "😀"


@pytest.mark.parametrize("device", [None, "absent"])
async def test_an_alarm_or_state_without_device_takes_the_topics(
    ingest: Ingest, device: str
) -> None:
    """Found by tools/fuzz.py: `device` may be null or left out, but the history's alarm row
    needs one; SQLite refused the row and the alarm was lost as a handler error."""
    alarm: dict[str, Any] = {**VALID_ALARM, "device": None}
    current: dict[str, Any] = {**json.loads(state("pump", "ok")), "device": None}
    if device == "absent":
        del alarm["device"], current["device"]
    await ingest.process("edge/plant/pump/alarm", json.dumps(alarm).encode())
    await ingest.process("edge/plant/pump/state", json.dumps(current).encode())
    assert ingest.rejected == {}
    found = await ingest.history.alarm("a1")
    assert found is not None
    assert found["device"] == "pump"
    assert len(await ingest.history.trend("plant", "pump", 0.0)) == 1


async def test_a_body_naming_another_device_is_stored_as_the_topics(ingest: Ingest) -> None:
    """The live view keys by topic: a body naming a new device each time would otherwise
    add a history device (and a throttle entry) per message past `max_devices`."""
    for k in range(5):
        renamed = {**json.loads(state("pump", "ok")), "device": f"invented-{k}",
                   "updated_at": iso(time.time() - 60 + 2 * k)}  # fmt: skip
        await ingest.process("edge/plant/pump/state", json.dumps(renamed).encode())
    assert ingest.rejected == {}
    assert len(await ingest.history.trend("plant", "pump", 0.0)) == 5
    assert await ingest.history.trend("plant", "invented-0", 0.0) == []


async def test_a_time_from_the_future_does_not_hold_back_the_chart(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by tools/fuzz.py: one state dated 9999 made every later one look older than the
    chart's last point, so the device's chart stopped, even across restarts (the point was
    stored, and never aged out)."""
    now = float(int(time.time()))
    clock = SimpleNamespace(time=lambda: now)
    monkeypatch.setattr(ingest_module, "time", clock)
    future = state("pump", "ok", updated_at="9999-12-31T00:00:00Z")
    await ingest.process("edge/plant/pump/state", future)
    alarm = {**VALID_ALARM, "raised_at": "9999-12-31T00:00:00Z"}
    await ingest.process("edge/plant/pump/alarm", json.dumps(alarm).encode())
    clock.time = lambda: now + 10.0
    later = state("pump", "alarm", updated_at=iso(now + 5.0))
    await ingest.process("edge/plant/pump/state", later)
    points = await ingest.history.trend("plant", "pump", 0.0)
    assert [p["at"] for p in points] == [now, now + 5.0]
    found = await ingest.history.alarm("a1")
    assert found is not None
    assert found["first_at"] == now


async def test_an_integer_where_a_number_is_meant_is_stored_as_a_float(ingest: Ingest) -> None:
    """Found by tools/fuzz.py: a score of 10**30 passed validation (a float field takes an
    integer) but not SQLite's INTEGER, and the alarm was lost as a handler error."""
    alarm = {**VALID_ALARM, "score": 10**30, "future_field": {"kept": 2**70}}
    await ingest.process("edge/plant/pump/alarm", json.dumps(alarm).encode())
    await ingest.process("edge/plant/pump/state", state("pump", "ok", score=10**30))
    assert ingest.rejected == {}
    found = await ingest.history.alarm("a1")
    assert found is not None
    assert found["score"] == 1e30
    assert found["payload"]["future_field"] == {"kept": 2**70}  # unknown fields as they came
    assert "severity" not in found["payload"]  # no defaults added
    assert (await ingest.history.trend("plant", "pump", 0.0))[0]["score"] == 1e30


async def test_oversize_messages_are_refused_unread_and_counted(tmp_path: Path) -> None:
    history = SqliteHistory(tmp_path / "h.sqlite", 1.0)
    ingest = Ingest("edge", LiveView(), history, Hub(), max_message_bytes=4096,
                    max_media_bytes=64 * 1024)  # fmt: skip
    jpeg = b"\xff\xd8\xff" + bytes(64 * 1024)
    await ingest.process("edge/plant/pump/evidence/a1/3/image", jpeg)
    await ingest.process("edge/plant/pump/snapshot/image", jpeg)
    await ingest.process("edge/plant/pump/state", state("pump", "ok", readings={"x": "y" * 5000}))
    await ingest.process("edge/plant/status", b"online" * 20)
    assert ingest.rejected == {("evidence", "too_large"): 1, ("snapshot", "too_large"): 1,
                               ("state", "too_large"): 1, ("status", "too_large"): 1}  # fmt: skip
    assert await history.evidence("a1", "image") is None
    assert ingest.live.overview()["devices"] == []
    await ingest.process("edge/plant/pump/snapshot/image", jpeg[:1024])  # within the limit: kept
    await ingest.process("edge/plant/pump/snapshot/../../x", jpeg[:1024])  # not a topic of ours
    await ingest.process("edge/plant/pump/snapshot/made-up", jpeg[:1024])  # not a registered kind
    assert ingest.live.overview()["devices"][0]["snapshots"] == ["image"]
    assert ingest.rejected[("snapshot", "invalid")] == 1


async def test_the_default_media_limit_refuses_ten_megabytes(ingest: Ingest) -> None:
    await ingest.process("edge/plant/pump/evidence/a1/3/image", b"\xff\xd8\xff" + bytes(10 * 2**20))
    assert ingest.rejected == {("evidence", "too_large"): 1}
    assert await ingest.history.evidence("a1", "image") is None


async def test_invented_devices_past_the_limit_are_refused_and_known_ones_still_update(
    tmp_path: Path,
) -> None:
    """Anyone who may publish can name new devices in topics; each one would be kept in memory
    for good, so past the limit a new one is refused like any other bad message."""
    history = SqliteHistory(tmp_path / "h.sqlite", 1.0)
    ingest = Ingest("edge", LiveView(max_devices=3), history, Hub())
    for n in range(5):
        await ingest.process(f"edge/plant/dev-{n}/state", state(f"dev-{n}", "ok"))
    await ingest.process("edge/plant/dev-9/health", json.dumps({"state": "ok"}).encode())
    png = cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes()
    await ingest.process("edge/plant/dev-9/snapshot/thermal", png)
    assert ingest.rejected == {("state", "too_many"): 2, ("health", "too_many"): 1,
                               ("snapshot", "too_many"): 1}  # fmt: skip
    assert sorted(d for _, d in ingest.live.devices) == ["dev-0", "dev-1", "dev-2"]
    assert await history.trend("plant", "dev-4", 0.0) == []  # refused before it changed anything
    await ingest.process("edge/plant/dev-0/state", state("dev-0", "alarm"))
    await ingest.process("edge/plant/dev-2/snapshot/thermal", png)
    await ingest.process("edge/plant/dev-9/alarm", json.dumps(VALID_ALARM).encode())  # history only
    assert sum(ingest.rejected.values()) == 4
    tiles = {t["device"]: t for t in ingest.live.overview()["devices"]}
    assert tiles["dev-0"]["state"] == "alarm"
    assert tiles["dev-2"]["snapshots"] == ["thermal"]
    assert await history.alarm("a1") is not None


async def test_invented_sites_past_the_limit_are_refused_and_known_ones_still_update(
    ingest: Ingest,
) -> None:
    ingest.live.max_sites = 2
    await ingest.process("edge/plant/status", b"online")
    await ingest.process("edge/yard/pump/state", state("pump", "ok"))
    await ingest.process("edge/made-up/status", b"online")
    await ingest.process("edge/made-up/inspection", b"{}")
    await ingest.process("edge/made-up/pump/state", state("pump", "ok"))
    assert ingest.rejected == {("status", "too_many"): 1, ("inspection", "too_many"): 1,
                               ("state", "too_many"): 1}  # fmt: skip
    await ingest.process("edge/plant/status", b"offline")
    await ingest.process("edge/yard/inspection", b'{"round": 1}')
    await ingest.process("edge/plant/valve/state", state("valve", "ok"))  # a new device, known site
    assert sum(ingest.rejected.values()) == 3
    overview = ingest.live.overview()
    assert overview["sites"] == {"plant": "offline"}
    assert overview["inspections"] == {"yard": {"round": 1}}
    assert {(t["site"], t["device"], t["state"]) for t in overview["devices"]} == {
        ("yard", "pump", "ok"),
        ("plant", "valve", "offline"),
    }


async def test_snapshots_past_their_memory_budget_drop_the_oldest(tmp_path: Path) -> None:
    """Every device's latest snapshot of each kind is held in memory; without a budget the
    devices allowed times their kinds times the largest file would be tens of gigabytes."""
    history = SqliteHistory(tmp_path / "h.sqlite", 1.0)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8)
    png = cv2.imencode(".png", noise)[1].tobytes()  # incompressible: ~4 KiB
    live = LiveView(snapshot_memory_bytes=3 * len(png))
    ingest = Ingest("edge", live, history, Hub())
    for n in range(3):
        await ingest.process(f"edge/plant/dev-{n}/snapshot/thermal", png)
    await ingest.process("edge/plant/dev-0/snapshot/thermal", png)  # replaces its own: no drop
    assert (live.snapshot_bytes, live.snapshots_dropped) == (3 * len(png), 0)
    await ingest.process("edge/plant/dev-3/snapshot/thermal", png)  # the oldest (dev-1's) goes
    held = {t["device"]: t["snapshots"] for t in live.overview()["devices"]}
    assert held == {"dev-0": ["thermal"], "dev-1": [], "dev-2": ["thermal"], "dev-3": ["thermal"]}
    assert (live.snapshot_bytes, live.snapshots_dropped) == (3 * len(png), 1)
    assert sum(ingest.rejected.values()) == 0  # dropping is not refusing


def test_the_snapshot_budget_must_hold_one_snapshot() -> None:
    with pytest.raises(ValidationError, match="snapshot_memory_bytes"):
        DashboardConfig(max_media_bytes=8 * 2**20, snapshot_memory_bytes=2**20)


async def test_messages_are_stored_in_order_and_past_the_backlog_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "MAX_BACKLOG", 2)
    ingest = Ingest("edge", LiveView(), SqliteHistory(tmp_path / "h.sqlite", 1.0), Hub())
    alarm = json.dumps(VALID_ALARM).encode()
    ingest.handle("edge/plant/pump/alarm", alarm)  # the broker link hands over, never waits
    ingest.handle("edge/plant/pump/ack", json.dumps({"id": "a1", "by": "ana"}).encode())
    ingest.handle("edge/plant/pump/state", state("pump", "ok"))  # a slow database: no room
    assert ingest.rejected == {("state", "backlog"): 1}
    running = asyncio.create_task(ingest.run())
    try:
        await asyncio.wait_for(ingest.drained(), 5)
        found = await ingest.history.alarm("a1")
        assert found is not None and [a["by"] for a in found["acks"]] == ["ana"]
    finally:
        running.cancel()
