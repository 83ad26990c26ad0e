"""The durable outbox: every alarm event is on disk before it is published.

SQLite in WAL mode with full sync. An event leaves the outbox only when the broker has
acknowledged it (QoS 1 PUBACK), so a broker outage, a lost network or a `kill -9` loses
nothing: what is left is published, in order, when the agent runs again. The highest
sequence number ever stored is kept too, so numbering continues across restarts.

An event may be stored `held` while its evidence is still being rendered: it is durable at
once but not published (nor anything after it) until `complete` gives its final payload.
A held event left by a previous run is released as it was stored: its render died with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One stored event; `attempts` counts publishes that were not acknowledged."""

    seq: int
    topic: str
    payload: bytes
    attempts: int
    held: bool = False


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

    def add(self, seq: int, topic: str, payload: bytes, held: bool = False) -> None:
        """Store an event and remember its sequence number, in one transaction."""
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
