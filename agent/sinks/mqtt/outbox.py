"""The durable outbox: every alarm event is on disk before it is published.

SQLite in WAL mode with full sync. An event leaves the outbox only when the broker has
acknowledged it (QoS 1 PUBACK), so a broker outage, a lost network or a `kill -9` loses
nothing: what is left is published, in order, when the agent runs again. The highest
sequence number ever stored is kept too, so numbering continues across restarts.

An event may be stored `held` while its evidence is still being rendered: it is durable at
once but not published (nor anything after it) until `complete` gives its final payload.
A held event left by a previous run is released as it was stored: its render died with it.

Beside the queue, `alarms` keeps per device the last event of its latest alarm (kept after
the event is delivered), written in the same transaction as the event: on start, the agent
restores from it the alarms a previous run left open (`open_alarms`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.sinks.durable import connect_durable

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alarms (
    device TEXT PRIMARY KEY,
    alarm_id TEXT NOT NULL,
    event TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One stored event; `attempts` counts publishes that were not acknowledged."""

    seq: int
    topic: str
    payload: bytes
    attempts: int
    held: bool = False


@dataclass(frozen=True, slots=True)
class AlarmKey:
    """Which alarm an event belongs to, and what happened to it (`raised`, `updated`, …)."""

    device: str
    alarm_id: str
    event: str


@dataclass(frozen=True, slots=True)
class LastAlarmEvent:
    """A device's latest alarm event as stored: its sequence number and payload."""

    device: str
    alarm_id: str
    event: str
    seq: int
    payload: dict[str, Any]


class Outbox:
    """A FIFO of events keyed by their sequence number, in one SQLite file (or `:memory:`)."""

    def __init__(self, path: Path | str) -> None:
        self._db = connect_durable(path)
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "held" not in columns:  # an outbox written before events could be held
            self._db.execute("ALTER TABLE outbox ADD COLUMN held INTEGER NOT NULL DEFAULT 0")
        self._db.execute("UPDATE outbox SET held = 0")
        self.restored = len(self)  # events left by a previous run

    def add(
        self,
        seq: int,
        topic: str,
        payload: bytes,
        held: bool = False,
        alarm: AlarmKey | None = None,
    ) -> None:
        """Store an event and remember its sequence number (and, for an alarm's event, that it
        is its device's latest), in one transaction."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO outbox (seq, topic, payload, held) VALUES (?, ?, ?, ?)",
                (seq, topic, payload, held),
            )
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('last_seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                (seq,),
            )
            if alarm is not None:
                self._db.execute(
                    "INSERT INTO alarms (device, alarm_id, event, seq, payload)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(device) DO UPDATE SET"
                    " alarm_id = excluded.alarm_id, event = excluded.event,"
                    " seq = excluded.seq, payload = excluded.payload WHERE excluded.seq > seq",
                    (alarm.device, alarm.alarm_id, alarm.event, seq, payload),
                )

    def open_alarms(self) -> dict[str, LastAlarmEvent]:
        """Per device, the latest event of an alarm left open (its last event not `cleared`)."""
        rows = self._db.execute(
            "SELECT device, alarm_id, event, seq, payload FROM alarms WHERE event != 'cleared'"
        )
        found = {}
        for device, alarm_id, event, seq, payload in rows:
            try:
                parsed = json.loads(bytes(payload))
            except ValueError:  # unreadable: nothing to restore it from
                continue
            if isinstance(parsed, dict):
                found[device] = LastAlarmEvent(device, alarm_id, event, seq, parsed)
        return found

    def complete(self, seq: int, payload: bytes) -> None:
        """A held event's final payload: it may go out now."""
        self._db.execute("UPDATE outbox SET payload = ?, held = 0 WHERE seq = ?", (payload, seq))

    def head(self) -> OutboxEntry | None:
        """The oldest event not yet acknowledged."""
        row = self._db.execute(
            "SELECT seq, topic, payload, attempts, held FROM outbox ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return OutboxEntry(row[0], row[1], bytes(row[2]), row[3], bool(row[4]))

    def failed(self, seq: int) -> None:
        """Count an attempt the broker did not acknowledge."""
        self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def acknowledged(self, seq: int) -> None:
        """The broker has it: forget the event."""
        self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def last_seq(self) -> int:
        """The highest sequence number ever stored here, 0 for a new outbox."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        return 0 if row is None else int(row[0])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        """Flush and close the database."""
        self._db.close()
