"""The dashboard's history, the same behaviour in SQLite and in PostgreSQL: what a restarted
dashboard still shows, idempotent writes, retention."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.apps.dashboard.history import MAX_ACKS, History
from agent.apps.dashboard.history_sqlite import SqliteHistory
from tests.support.postgres import fresh_database

DAY = 86400.0
NOW = float(int(time.time() // DAY) * DAY) + 3600.0  # 01:00 UTC today: days are whole
Opener = Callable[[float], Awaitable[History]]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the history (again, for a restart) on one store."""
    if request.param == "sqlite":

        async def sqlite(retention_days: float) -> History:
            return SqliteHistory(tmp_path / "h.sqlite", retention_days)

        yield sqlite
        return
    with fresh_database() as url:
        from agent.apps.dashboard.history_postgres import PostgresHistory

        async def postgresql(retention_days: float) -> History:
            return await PostgresHistory.open(url, retention_days)

        yield postgresql


@pytest.fixture
async def history(store: Opener) -> AsyncIterator[History]:
    opened = await store(30.0)
    yield opened
    await opened.close()


def state(score: float, max_c: float, device: str = "pump") -> dict[str, Any]:
    return {
        "device": device,
        "score": score,
        "modalities": {"image": {"score": 0.1}, "temperature": {"score": score}},
        "readings": {"max_temp_c": max_c, "sensor": {"Current": 3.1}},
    }


def alarm(alarm_id: str, seq: int, event: str, **extra: Any) -> dict[str, Any]:
    base = {"id": alarm_id, "seq": seq, "event": event, "device": "pump", "type": "hot_spot",
            "severity": "major", "score": 0.7}  # fmt: skip
    return {**base, **extra}


async def test_trend_survives_a_restart_and_is_throttled(store: Opener) -> None:
    history = await store(30.0)
    assert await history.add_state("plant", state(0.2, 40.0), at=NOW) is not None
    assert await history.add_state("plant", state(0.9, 80.0), at=NOW + 0.4) is None  # < 1 s
    assert await history.add_state("plant", state(0.5, 60.0), at=NOW + 1.5) is not None
    await history.close()
    reopened = await store(30.0)
    assert await reopened.add_state("plant", state(0.7, 70.0), at=NOW + 2.0) is None  # throttled
    points = await reopened.trend("plant", "pump", since=0.0)
    assert [p["score"] for p in points] == [0.2, 0.5]
    assert points[1]["modalities"] == {"image": 0.1, "temperature": 0.5}
    assert points[1]["readings"]["max_temp_c"] == 60.0
    assert await reopened.trend("plant", "pump", since=NOW + 1.0) == points[1:]
    assert await reopened.trend("plant", "other", since=0.0) == []
    await reopened.close()


async def test_a_point_older_than_the_retention_is_not_kept(history: History) -> None:
    assert await history.add_state("plant", state(0.2, 40.0), at=time.time() - 31 * DAY) is None
    assert await history.trend("plant", "pump", since=0.0) == []


async def test_alarm_events_update_one_row_and_filters_apply(history: History) -> None:
    await history.add_alarm("plant", alarm("a1", 1, "raised"), NOW, NOW)
    await history.add_alarm(
        "plant", alarm("a1", 3, "updated", severity="critical"), NOW + 10, NOW + 10
    )
    await history.add_alarm(
        "plant", alarm("a1", 2, "updated", severity="major"), NOW + 11, NOW + 11
    )
    await history.add_alarm(
        "plant", alarm("b2", 4, "raised", type="inner_race"), NOW + 20, NOW + 20
    )
    rows = await history.alarms()
    assert [r["id"] for r in rows] == ["b2", "a1"]  # newest first
    a1 = rows[1]
    assert (a1["event"], a1["severity"], a1["first_at"]) == ("updated", "critical", NOW)
    assert [r["id"] for r in await history.alarms(type="inner_race")] == ["b2"]
    assert [r["id"] for r in await history.alarms(severity="critical")] == ["a1"]
    assert await history.alarms(device="valve") == []
    assert [r["id"] for r in await history.alarms(since=NOW + 15)] == ["b2"]


async def test_a_learned_devices_alarm_is_marked_in_the_list(history: History) -> None:
    """Its senses carry their calibrated thresholds: the list shows its score in decades."""
    learned = {"audio": {"score": 0.9999999, "weight": 1.0, "stale": False, "threshold": 0.99999}}
    shipped = {"audio": {"score": 0.7, "weight": 1.0, "stale": False, "threshold": None}}
    await history.add_alarm("plant", alarm("a1", 1, "raised", modalities=learned), NOW, NOW)
    await history.add_alarm("plant", alarm("b2", 2, "raised", modalities=shipped), NOW, NOW)
    await history.add_alarm("plant", alarm("c3", 3, "raised"), NOW, NOW)
    assert {r["id"]: r["learned"] for r in await history.alarms()} == {
        "a1": True,
        "b2": False,
        "c3": False,
    }
    one = await history.alarm("a1")
    assert one is not None and one["learned"] is True


async def test_an_ack_is_kept_once_and_an_alarm_keeps_at_most_max_acks(history: History) -> None:
    """A flood of acknowledgements for one alarm (anyone may publish on the ack topic) must not
    grow its row, and every page's copy of it, without end."""
    await history.add_alarm("plant", alarm("a1", 1, "raised"), NOW, NOW)
    ack = {"id": "a1", "by": "ana", "at": "2024-10-04T00:01:00Z"}
    assert [await history.add_ack(ack, NOW) for _ in range(3)] == [True, False, False]
    kept = [await history.add_ack({"id": "a1", "by": f"op-{k}"}, NOW + k) for k in range(MAX_ACKS)]
    assert kept == [True] * (MAX_ACKS - 1) + [False]
    found = await history.alarm("a1")
    assert found is not None and len(found["acks"]) == MAX_ACKS
    assert found["acks"][0]["by"] == "ana"  # the first ones are kept


async def test_acks_evidence_and_statistics(history: History) -> None:
    day = NOW - 3600.0 - DAY  # yesterday, midnight UTC
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(day))
    today = time.strftime("%Y-%m-%d", time.gmtime(day + DAY))
    await history.add_alarm("plant", alarm("a1", 1, "raised"), day + 10, day + 10)
    await history.add_alarm("plant", alarm("b2", 2, "raised", type="ball"), day + 20, day + 20)
    await history.add_alarm("plant", alarm("c3", 3, "raised", device="valve"), day + DAY, day + DAY)
    ack = {"id": "a1", "by": "ana", "at": "2024-10-04T00:01:00Z", "note": "ok"}
    await history.add_ack(ack, day)
    await history.add_ack({"id": "b2"}, day)  # no operator named
    await history.add_evidence("a1", "image", "image/jpeg", b"\xff\xd8\xffjpeg", day)
    found = await history.alarm("a1")
    assert found is not None
    assert found["acks"] == [{"by": "ana", "at": "2024-10-04T00:01:00Z", "note": "ok"}]
    assert found["evidence_files"] == [{"kind": "image", "media_type": "image/jpeg", "size": 7}]
    assert found["payload"] == alarm("a1", 1, "raised")
    unnamed = await history.alarm("b2")
    assert unnamed is not None and unnamed["acks"] == [{"by": None, "at": None, "note": None}]
    assert await history.evidence("a1", "image") == ("image/jpeg", b"\xff\xd8\xffjpeg")
    assert await history.evidence("a1", "audio") is None
    assert await history.alarm("nope") is None
    stats = await history.stats(since=0.0)
    assert stats["per_device"] == [
        {"day": yesterday, "name": "pump", "n": 2},
        {"day": today, "name": "valve", "n": 1},
    ]
    assert {"day": yesterday, "name": "ball", "n": 1} in stats["per_type"]


async def test_retention_deletes_what_is_older(store: Opener) -> None:
    history = await store(1.0)
    new = time.time()
    old = new - 0.5 * DAY
    await history.add_state("plant", state(0.2, 40.0), at=old)
    await history.add_state("plant", state(0.3, 40.0), at=new)
    await history.add_alarm("plant", alarm("old", 1, "raised"), old, old)
    await history.add_evidence("old", "image", "image/jpeg", b"x", old)
    await history.add_ack({"id": "old", "by": "ana"}, old)
    await history.add_alarm("plant", alarm("new", 2, "raised"), new, new)
    assert await history.prune(now=new + 0.6 * DAY) == 4
    assert [r["id"] for r in await history.alarms()] == ["new"]
    assert [p["at"] for p in await history.trend("plant", "pump", since=0.0)] == [new]
    assert await history.evidence("old", "image") is None
    assert await history.prune(now=new + 0.6 * DAY) == 0
    assert await history.prune(now=new + 3 * DAY) == 2  # whole days: a partition dropped
    assert await history.trend("plant", "pump", since=0.0) == []
    assert await history.add_state("plant", state(0.4, 40.0), at=new + 2.0) is not None  # day anew
    await history.close()
