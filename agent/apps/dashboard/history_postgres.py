"""The dashboard's history on PostgreSQL (psycopg 3, async), shared by dashboard processes.

The schema comes from the package's `migrations/NNNN_name.sql`, applied in order at start
under an advisory lock (two dashboards starting together migrate once) and recorded in
`history_migrations`; a database migrated further than this dashboard knows is refused.

Trend points live in one partition of `scores` per UTC day, made when a point first needs it
and dropped whole once the retention has passed it. Every write is idempotent (a trend point
is keyed by device and time, an acknowledgement by alarm, operator and time, an alarm event
applies only when its `seq` is not older), so several dashboards subscribed to the same
broker store each message once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from agent.apps.dashboard.history import (
    ALARM_COLUMNS,
    MAX_ACKS,
    MAX_ALARMS,
    HistoryDatabaseError,
    Throttle,
    alarm_columns,
    alarm_filters,
    learned_alarm,
    trend_point,
)

log = logging.getLogger(__name__)

DAY_S = 86400.0
MIGRATION_LOCK = 0x65646765_0001  # advisory lock ids: "edge" + what they guard
PRUNE_LOCK = 0x65646765_0002
MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
PARTITION = re.compile(r"^scores_(\d{4})_(\d{2})_(\d{2})$")
POOL_SIZE = 4  # ingestion and the pages' queries, side by side
CONNECT_TIMEOUT_S = 10.0
RETAINED = (("alarms", "last_at"), ("acks", "received_at"), ("evidence", "received_at"))


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, SQL) of every migration the package ships, in order."""
    found = []
    for entry in resources.files("agent.apps.dashboard").joinpath("migrations").iterdir():
        match = MIGRATION_FILE.match(entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text()))
    return sorted(found)


def partition_name(day: int) -> str:
    """The partition of the UTC day `day` (days since the epoch)."""
    return datetime.fromtimestamp(day * DAY_S, UTC).strftime("scores_%Y_%m_%d")


def partition_day(name: str) -> int | None:
    """The day a partition holds, from its name; None for another table."""
    match = PARTITION.match(name)
    if match is None:
        return None
    start = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
    return int(start.timestamp() // DAY_S)


Pool = AsyncConnectionPool[psycopg.AsyncConnection[DictRow]]
Connection = psycopg.AsyncConnection[DictRow]


class PostgresHistory:
    """A pool of connections to one PostgreSQL database; `open()` makes one ready."""

    def __init__(self, pool: Pool, retention_days: float) -> None:
        self.pool = pool
        self.retention_s = retention_days * DAY_S
        self._throttle = Throttle()
        self._partitions: set[int] = set()

    @classmethod
    async def open(cls, url: str, retention_days: float) -> PostgresHistory:
        """Connect, migrate, and return the history; HistoryDatabaseError when it cannot."""
        pool: Pool = AsyncConnectionPool(
            url,
            connection_class=psycopg.AsyncConnection[DictRow],
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            name="dashboard-history",
            kwargs={"autocommit": True, "row_factory": dict_row},
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            await pool.close()
            raise HistoryDatabaseError(f"history database unreachable: {exc}") from exc
        history = cls(pool, retention_days)
        try:
            await history.migrate()
        except BaseException:
            await pool.close()
            raise
        return history

    async def migrate(self) -> list[int]:
        """Apply the migrations the database lacks, in order; the versions applied now."""
        known = migrations()
        applied: list[int] = []
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS history_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = await (await conn.execute("SELECT version FROM history_migrations")).fetchall()
            done = {row["version"] for row in rows}
            newest = max((v for v, _, _ in known), default=0)
            if done and max(done) > newest:
                raise HistoryDatabaseError(
                    f"history database is at migration {max(done)}, this dashboard knows up to "
                    f"{newest}: run the newer dashboard, or point this one at another database"
                )
            for version, name, script in known:
                if version in done:
                    continue
                await conn.execute(script.encode())  # trusted SQL of the package
                await conn.execute(
                    "INSERT INTO history_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
                applied.append(version)
        if applied:
            log.info("history database migrated", extra={"fields": {"applied": applied}})
        return applied

    async def close(self) -> None:
        """Close every connection."""
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A connection of the pool; HistoryDatabaseError when the database is away (down,
        unreachable, the connection lost mid-query)."""
        try:
            async with self.pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:  # PoolTimeout and PoolClosed are ones too
            raise HistoryDatabaseError(f"history database: {str(exc).strip()[:200]}") from exc

    async def add_state(self, site: str, state: dict[str, Any], at: float) -> dict[str, Any] | None:
        """One trend point from a device's state; None when throttled or past the retention."""
        key = (site, str(state.get("device")))
        if at < time.time() - self.retention_s:
            return None  # it would be pruned at once, and would make a partition for nothing
        async with self._connection() as conn:
            if not self._throttle.known(key):
                row = await (
                    await conn.execute(
                        "SELECT max(at) AS last FROM scores WHERE site = %s AND device = %s", key
                    )
                ).fetchone()
                self._throttle.seed(key, row["last"] if row else None)
            if not self._throttle.admits(key, at):
                return None
            point = trend_point(state, at)
            await self._partition_for(conn, at)
            await conn.execute(
                "INSERT INTO scores VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (*key, at, point["score"], json.dumps(point["modalities"]),
                 json.dumps(point["readings"])),
            )  # fmt: skip
        return point

    async def _partition_for(self, conn: Connection, at: float) -> None:
        """Make the day's partition unless this process knows it is there."""
        day = int(at // DAY_S)
        if day in self._partitions:
            return
        statement = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF scores FOR VALUES FROM ({}) TO ({})"
        ).format(
            sql.Identifier(partition_name(day)), sql.Literal(day * DAY_S),
            sql.Literal((day + 1) * DAY_S),
        )  # fmt: skip
        # another dashboard may make it between our check and our CREATE
        with contextlib.suppress(psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
            await conn.execute(statement)
        self._partitions.add(day)

    async def trend(self, site: str, device: str, since: float) -> list[dict[str, Any]]:
        """Trend points of one device since a time, oldest first."""
        async with self._connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT at, score, modalities, readings FROM scores"
                    " WHERE site = %s AND device = %s AND at >= %s ORDER BY at",
                    (site, device, since),
                )
            ).fetchall()
        return [
            {"at": r["at"], "score": r["score"], "modalities": json.loads(r["modalities"]),
             "readings": json.loads(r["readings"])}
            for r in rows
        ]  # fmt: skip

    async def add_alarm(
        self, site: str, payload: dict[str, Any], first_at: float, last_at: float
    ) -> None:
        """An alarm event: the first creates the row, later ones update it (by `id`)."""
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO alarms VALUES (%(id)s, %(site)s, %(device)s, %(type)s, %(severity)s,"
                " %(score)s, %(event)s, %(seq)s, %(first_at)s, %(last_at)s, %(payload)s)"
                " ON CONFLICT (id) DO UPDATE SET type = excluded.type,"
                " severity = excluded.severity, score = excluded.score, event = excluded.event,"
                " seq = excluded.seq, last_at = excluded.last_at, payload = excluded.payload"
                " WHERE excluded.seq >= alarms.seq",
                alarm_columns(site, payload, first_at, last_at),
            )

    async def alarms(self, since: float = 0.0, **filters: str | None) -> list[dict[str, Any]]:
        """Alarms first seen since a time, newest first, filtered by device/type/severity."""
        where, params = alarm_filters(since, filters, "%s")
        query = f"SELECT * FROM alarms WHERE {where} ORDER BY first_at DESC LIMIT {MAX_ALARMS}"
        async with self._connection() as conn:
            rows = await (await conn.execute(query.encode(), params)).fetchall()
            return [await self._alarm_row(conn, r) for r in rows]

    async def alarm(self, alarm_id: str) -> dict[str, Any] | None:
        """One alarm with its latest payload, its acknowledgements and its evidence files."""
        async with self._connection() as conn:
            row = await (
                await conn.execute("SELECT * FROM alarms WHERE id = %s", (alarm_id,))
            ).fetchone()
            if row is None:
                return None
            evidence = await (
                await conn.execute(
                    "SELECT kind, media_type, size FROM evidence WHERE alarm_id = %s ORDER BY kind",
                    (alarm_id,),
                )
            ).fetchall()
            return {
                **await self._alarm_row(conn, row),
                "payload": json.loads(row["payload"]),
                "evidence_files": [dict(e) for e in evidence],
            }

    async def _alarm_row(self, conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
        acks = await (
            await conn.execute(
                "SELECT nullif(by, '') AS by, nullif(at, '') AS at, note FROM acks"
                " WHERE alarm_id = %s ORDER BY received_at LIMIT %s",
                (row["id"], MAX_ACKS),
            )
        ).fetchall()
        return {**{k: row[k] for k in ALARM_COLUMNS}, "last_at": row["last_at"],
                "learned": learned_alarm(row["payload"]),
                "acks": [dict(a) for a in acks]}  # fmt: skip

    async def add_ack(self, ack: dict[str, Any], at: float) -> bool:
        """An operator's acknowledgement as seen on the broker (once, however many see it), up
        to MAX_ACKS an alarm."""
        alarm_id = str(ack["id"])
        async with self._connection() as conn:
            kept = await conn.execute(
                "INSERT INTO acks SELECT %s, %s, %s, %s, %s"
                " WHERE (SELECT count(*) FROM acks WHERE alarm_id = %s) < %s"
                " ON CONFLICT DO NOTHING",
                (alarm_id, ack.get("by") or "", ack.get("at") or "", ack.get("note"), at,
                 alarm_id, MAX_ACKS),
            )  # fmt: skip
            return kept.rowcount == 1

    async def add_evidence(
        self, alarm_id: str, kind: str, media_type: str, data: bytes, at: float
    ) -> None:
        """An evidence file; published once per alarm and kind, so a repeat replaces it."""
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO evidence VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (alarm_id, kind)"
                " DO UPDATE SET media_type = excluded.media_type, size = excluded.size,"
                " data = excluded.data, received_at = excluded.received_at",
                (alarm_id, kind, media_type, len(data), data, at),
            )

    async def evidence(self, alarm_id: str, kind: str) -> tuple[str, bytes] | None:
        """(media type, bytes) of one evidence file."""
        async with self._connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT media_type, data FROM evidence WHERE alarm_id = %s AND kind = %s",
                    (alarm_id, kind),
                )
            ).fetchone()
        return None if row is None else (row["media_type"], bytes(row["data"]))

    async def stats(self, since: float) -> dict[str, list[dict[str, Any]]]:
        """Alarms per device and per type per UTC day, since a time."""
        result = {}
        async with self._connection() as conn:
            for key, column in (("per_device", "device"), ("per_type", "type")):
                rows = await (
                    await conn.execute(
                        sql.SQL(
                            "SELECT to_char(to_timestamp(first_at) AT TIME ZONE 'UTC',"
                            " 'YYYY-MM-DD') AS day, {} AS name, count(*) AS n FROM alarms"
                            " WHERE first_at >= %s GROUP BY day, name ORDER BY day, name"
                        ).format(sql.Identifier(column)),
                        (since,),
                    )
                ).fetchall()
                result[key] = [dict(r) for r in rows]
        return result

    async def prune(self, now: float | None = None) -> int:
        """Drop the days of trend points past the retention, delete what else is older; the
        rows deleted."""
        cutoff = (time.time() if now is None else now) - self.retention_s
        deleted = 0
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (PRUNE_LOCK,))
            parts = await (
                await conn.execute(
                    "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c"
                    " ON c.oid = i.inhrelid WHERE i.inhparent = 'scores'::regclass"
                )
            ).fetchall()
            for part in parts:
                day = partition_day(part["name"])
                if day is None or (day + 1) * DAY_S > cutoff:
                    continue
                table = sql.Identifier(part["name"])
                count = await (
                    await conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(table))
                ).fetchone()
                deleted += int(count["n"]) if count else 0
                await conn.execute(sql.SQL("DROP TABLE {}").format(table))
                self._partitions.discard(day)
            for table_name, column in (("scores", "at"), *RETAINED):
                result = await conn.execute(
                    sql.SQL("DELETE FROM {} WHERE {} < %s").format(
                        sql.Identifier(table_name), sql.Identifier(column)
                    ),
                    (cutoff,),
                )
                deleted += result.rowcount
        return deleted
