"""The dashboard's history in one SQLite file: the zero-setup default.

Its methods are coroutines for the `History` interface but run their statements at once on
the event loop: a local file and tiny rows cost less than a hand-off to a thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from agent.apps.dashboard.history import (
    ALARM_COLUMNS,
    MAX_ACKS,
    MAX_ALARMS,
    Throttle,
    alarm_columns,
    alarm_filters,
    learned_alarm,
    trend_point,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    site TEXT NOT NULL, device TEXT NOT NULL, at REAL NOT NULL,
    score REAL, modalities TEXT NOT NULL, readings TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS scores_by_device ON scores (site, device, at);
CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, type TEXT,
    severity TEXT, score REAL, event TEXT NOT NULL, seq INTEGER,
    first_at REAL NOT NULL, last_at REAL NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alarms_by_time ON alarms (first_at);
CREATE TABLE IF NOT EXISTS acks (
    alarm_id TEXT NOT NULL, by TEXT, at TEXT, note TEXT, received_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS acks_by_alarm ON acks (alarm_id, received_at);
CREATE TABLE IF NOT EXISTS evidence (
    alarm_id TEXT NOT NULL, kind TEXT NOT NULL, media_type TEXT NOT NULL,
    size INTEGER NOT NULL, data BLOB NOT NULL, received_at REAL NOT NULL,
    PRIMARY KEY (alarm_id, kind));
"""
RETAINED = (
    ("scores", "at"),
    ("alarms", "last_at"),
    ("acks", "received_at"),
    ("evidence", "received_at"),
)


class SqliteHistory:
    """One SQLite file."""

    def __init__(self, path: Path, retention_days: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.retention_s = retention_days * 86400.0
        self.db = sqlite3.connect(path)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        self._throttle = Throttle()

    async def close(self) -> None:
        """Flush and close the file."""
        self.db.close()

    async def add_state(self, site: str, state: dict[str, Any], at: float) -> dict[str, Any] | None:
        """One trend point from a device's state; None when throttled or past the retention."""
        key = (site, str(state.get("device")))
        if at < time.time() - self.retention_s:
            return None  # it would be pruned at once
        if not self._throttle.known(key):  # e.g. the retained state after a restart: stored
            row = self.db.execute("SELECT MAX(at) FROM scores WHERE site = ? AND device = ?", key)
            self._throttle.seed(key, row.fetchone()[0])
        if not self._throttle.admits(key, at):
            return None
        point = trend_point(state, at)
        with self.db:
            self.db.execute(
                "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                (*key, at, point["score"], json.dumps(point["modalities"]),
                 json.dumps(point["readings"])),
            )  # fmt: skip
        return point

    async def trend(self, site: str, device: str, since: float) -> list[dict[str, Any]]:
        """Trend points of one device since a time, oldest first."""
        rows = self.db.execute(
            "SELECT at, score, modalities, readings FROM scores"
            " WHERE site = ? AND device = ? AND at >= ? ORDER BY at",
            (site, device, since),
        )
        return [
            {"at": r["at"], "score": r["score"], "modalities": json.loads(r["modalities"]),
             "readings": json.loads(r["readings"])}
            for r in rows
        ]  # fmt: skip

    async def add_alarm(
        self, site: str, payload: dict[str, Any], first_at: float, last_at: float
    ) -> None:
        """An alarm event: the first creates the row, later ones update it (by `id`)."""
        with self.db:
            self.db.execute(
                "INSERT INTO alarms VALUES (:id, :site, :device, :type, :severity, :score,"
                " :event, :seq, :first_at, :last_at, :payload) ON CONFLICT (id) DO UPDATE SET"
                " type = :type, severity = :severity, score = :score, event = :event,"
                " seq = :seq, last_at = :last_at, payload = :payload WHERE :seq >= alarms.seq",
                alarm_columns(site, payload, first_at, last_at),
            )

    async def alarms(self, since: float = 0.0, **filters: str | None) -> list[dict[str, Any]]:
        """Alarms first seen since a time, newest first, filtered by device/type/severity."""
        where, params = alarm_filters(since, filters, "?")
        rows = self.db.execute(
            f"SELECT * FROM alarms WHERE {where} ORDER BY first_at DESC LIMIT {MAX_ALARMS}",
            params,
        ).fetchall()
        return [self._alarm_row(r) for r in rows]

    async def alarm(self, alarm_id: str) -> dict[str, Any] | None:
        """One alarm with its latest payload, its acknowledgements and its evidence files."""
        row = self.db.execute("SELECT * FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        if row is None:
            return None
        evidence = self.db.execute(
            "SELECT kind, media_type, size FROM evidence WHERE alarm_id = ? ORDER BY kind",
            (alarm_id,),
        )
        return {
            **self._alarm_row(row),
            "payload": json.loads(row["payload"]),
            "evidence_files": [dict(e) for e in evidence],
        }

    def _alarm_row(self, row: sqlite3.Row) -> dict[str, Any]:
        acks = self.db.execute(
            "SELECT by, at, note FROM acks WHERE alarm_id = ? ORDER BY received_at LIMIT ?",
            (row["id"], MAX_ACKS),
        )
        return {**{k: row[k] for k in ALARM_COLUMNS}, "last_at": row["last_at"],
                "learned": learned_alarm(row["payload"]),
                "acks": [dict(a) for a in acks]}  # fmt: skip

    async def add_ack(self, ack: dict[str, Any], at: float) -> bool:
        """An operator's acknowledgement as seen on the broker, once, up to MAX_ACKS an alarm."""
        alarm_id, by, when = str(ack["id"]), ack.get("by"), ack.get("at")
        with self.db:
            kept = self.db.execute(
                "INSERT INTO acks SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM acks"
                " WHERE alarm_id = ? AND by IS ? AND at IS ?)"
                " AND (SELECT count(*) FROM acks WHERE alarm_id = ?) < ?",
                (alarm_id, by, when, ack.get("note"), at, alarm_id, by, when, alarm_id, MAX_ACKS),
            )
            return kept.rowcount == 1

    async def add_evidence(
        self, alarm_id: str, kind: str, media_type: str, data: bytes, at: float
    ) -> None:
        """An evidence file; published once per alarm and kind, so a repeat replaces it."""
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO evidence VALUES (?, ?, ?, ?, ?, ?)",
                (alarm_id, kind, media_type, len(data), data, at),
            )

    async def evidence(self, alarm_id: str, kind: str) -> tuple[str, bytes] | None:
        """(media type, bytes) of one evidence file."""
        row = self.db.execute(
            "SELECT media_type, data FROM evidence WHERE alarm_id = ? AND kind = ?",
            (alarm_id, kind),
        ).fetchone()
        return None if row is None else (row["media_type"], bytes(row["data"]))

    async def stats(self, since: float) -> dict[str, list[dict[str, Any]]]:
        """Alarms per device and per type per UTC day, since a time."""

        def per(column: str) -> list[dict[str, Any]]:
            rows = self.db.execute(
                f"SELECT date(first_at, 'unixepoch') AS day, {column} AS name, COUNT(*) AS n"
                f" FROM alarms WHERE first_at >= ? GROUP BY day, name ORDER BY day, name",
                (since,),
            )
            return [dict(r) for r in rows]

        return {"per_device": per("device"), "per_type": per("type")}

    async def prune(self, now: float | None = None) -> int:
        """Delete everything older than the retention; returns the rows deleted."""
        cutoff = (time.time() if now is None else now) - self.retention_s
        with self.db:
            deleted = sum(
                self.db.execute(f"DELETE FROM {table} WHERE {column} < ?", (cutoff,)).rowcount
                for table, column in RETAINED
            )
        return deleted
