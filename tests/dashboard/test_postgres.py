"""The dashboard's history on the real PostgreSQL server: migrations, and two dashboard
processes on one database serving the same pages with every message stored once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from agent.apps.dashboard.history import HistoryDatabaseError
from agent.apps.dashboard.ingest import Ingest
from agent.apps.dashboard.live import Hub, LiveView
from tests.dashboard.support import dashboard_process, get_json, poll
from tests.dashboard.test_api import DEVICE, SITE, START, iso, state
from tests.support.postgres import fresh_database

psycopg = pytest.importorskip("psycopg")
history_postgres = pytest.importorskip("agent.apps.dashboard.history_postgres")


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


async def test_migrations_run_once_even_when_two_dashboards_start_together(
    database: str,
) -> None:
    opened = await asyncio.gather(
        *(history_postgres.PostgresHistory.open(database, 7.0) for _ in range(2))
    )
    try:
        async with await psycopg.AsyncConnection.connect(database) as conn:
            rows = await (await conn.execute("SELECT version FROM history_migrations")).fetchall()
        assert rows == [(1,)]
        assert await opened[0].migrate() == []  # nothing left to apply
    finally:
        for history in opened:
            await history.close()


async def test_a_database_migrated_past_this_dashboard_is_refused(database: str) -> None:
    await (await history_postgres.PostgresHistory.open(database, 7.0)).close()
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await conn.execute("INSERT INTO history_migrations (version, name) VALUES (99, 'later')")
    with pytest.raises(HistoryDatabaseError, match="at migration 99, this dashboard knows up to 1"):
        await history_postgres.PostgresHistory.open(database, 7.0)


async def test_an_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(HistoryDatabaseError, match="unreachable"):
        await history_postgres.PostgresHistory.open(
            "postgresql://127.0.0.1:1/nothing?connect_timeout=1", 7.0
        )


async def test_two_dashboards_on_one_database_serve_the_same_history(
    broker: tuple[str, int], topic_prefix: str, tmp_path: Path, database: str
) -> None:
    trend_url = f"/api/devices/{SITE}/{DEVICE}/trend?hours=100000"
    alarm = {"id": "a-1", "seq": 1, "event": "raised", "device": DEVICE, "type": "hot_spot",
             "severity": "major", "score": 0.7, "raised_at": iso(START + 2)}  # fmt: skip
    ack = {"id": "a-1", "by": "ana", "at": iso(START + 3), "note": "checked"}
    folders = [tmp_path / "one", tmp_path / "two"]
    for folder in folders:
        folder.mkdir()
    async with (
        dashboard_process(folders[0], broker[1], topic_prefix, history=database) as one,
        dashboard_process(folders[1], broker[1], topic_prefix, history=database) as two,
        aiomqtt.Client(*broker) as client,
    ):
        base = f"{topic_prefix}/{SITE}"
        await client.publish(f"{base}/status", b"online", qos=1, retain=True)
        for dash in (one, two):  # both subscribed: the retained status reached them
            await poll(dash.url + "/api/overview", lambda o: SITE in o["sites"])
        for second in range(3):
            await client.publish(f"{base}/{DEVICE}/state", state(0.1 * second, second), qos=1)
        await client.publish(f"{base}/{DEVICE}/alarm", json.dumps(alarm).encode(), qos=1)
        await client.publish(f"{base}/{DEVICE}/ack", json.dumps(ack).encode(), qos=1)
        seen = []
        for dash in (one, two):
            await poll(dash.url + "/api/alarms?hours=100000", lambda a: len(a["alarms"]) == 1)
            await poll(dash.url + "/api/alarms/a-1", lambda a: bool(a["acks"]))
            trend = await poll(dash.url + trend_url, lambda t: len(t["points"]) >= 3)
            seen.append((trend, await asyncio.to_thread(get_json, dash.url + "/api/alarms/a-1")))
    (trend_one, alarm_one), (trend_two, alarm_two) = seen
    assert trend_one == trend_two and len(trend_one["points"]) == 3  # stored once, not twice
    assert alarm_one == alarm_two
    assert alarm_one["acks"] == [{"by": "ana", "at": iso(START + 3), "note": "checked"}]
    async with await psycopg.AsyncConnection.connect(database) as conn:
        counts = await (
            await conn.execute("SELECT (SELECT count(*) FROM scores), (SELECT count(*) FROM acks)")
        ).fetchone()
    assert counts == (3, 1)


async def test_while_the_database_is_away_the_live_view_goes_on(database: str) -> None:
    history = await history_postgres.PostgresHistory.open(database, 7.0)
    ingest = Ingest("edge", LiveView(), history, Hub())
    await history.pool.close()  # the database gone, as far as the dashboard can tell
    await ingest.process("edge/plant/pump/state", state(0.5, 0))
    alarm = {"id": "a-1", "seq": 1, "event": "raised", "device": DEVICE, "type": "hot_spot"}
    await ingest.process("edge/plant/pump/alarm", json.dumps(alarm).encode())
    assert ingest.rejected == {}  # not the messages' fault
    assert ingest.history_failures >= 2
    assert [t["device"] for t in ingest.live.overview()["devices"]] == [DEVICE]
