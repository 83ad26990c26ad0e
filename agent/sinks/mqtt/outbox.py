"""The durable outbox: every alarm event is on disk before it is published.

SQLite in WAL mode with full sync. An event leaves the outbox only when the broker has
acknowledged it (QoS 1 PUBACK), so a broker outage, a lost network or a `kill -9` loses
nothing: what is left is published, in order, when the agent runs again. The highest
sequence number ever stored is kept too, so numbering continues across restarts.

An event may be stored `held` while its evidence is still being rendered: it is durable at
once but not published (nor anything after it) until `complete` gives its final payload.
A held event left by a previous run is released as it was stored: its render died with it.

A write the database refuses (`database or disk is full`, or any other SQLite error) never
reaches the caller: the event, or the change to it, is kept in memory (at most
`MEMORY_EVENTS` events), published from there like any other, and written to the database
by `retry()` (the storage watch calls it at every check) and by every later write, in seq
order, once the disk has room again. Nothing decided is lost unless the agent dies while
the disk is full, or more than `MEMORY_EVENTS` events pile up in memory.

Beside the queue, `alarms` keeps per device the last event of its latest alarm (kept after
the event is delivered), written in the same transaction as the event: on start, the agent
restores from it the alarms a previous run left open (`open_alarms`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent.sinks.disk import is_disk_full
from agent.sinks.durable import connect_durable

log = logging.getLogger(__name__)

MEMORY_EVENTS = 10_000  # events kept in memory while the database refuses writes (~30 MB)

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


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One stored event; `attempts` counts publishes that were not acknowledged."""

    seq: int
    topic: str
    payload: bytes
    attempts: int
    held: bool = False
    alarm: AlarmKey | None = None  # an alarm's event: also its device's latest, when stored


class Outbox:
    """A FIFO of events keyed by their sequence number, in one SQLite file (or `:memory:`).

    Events the database could not take wait in memory, after every stored one (their seq is
    higher), until `retry` writes them; `on_full` hears of each write refused for want of space.
    """

    def __init__(self, path: Path | str, on_full: Callable[[str], None] | None = None) -> None:
        self._path = path
        self.on_full = on_full
        self._writable = True
        try:
            self._db = _open_writable(path)
        except (sqlite3.Error, OSError) as exc:  # a disk full already, most likely
            self._writable = False
            self._db = _open_read_only(path)
            log.error(
                "outbox database cannot be opened for writing, events kept in memory until it can",
                extra={
                    "fields": {"path": str(path), "error": str(exc), "disk_full": is_disk_full(exc)}
                },
            )
            if is_disk_full(exc) and on_full is not None:
                on_full("outbox")
        self._memory: list[OutboxEntry] = []  # not yet stored, oldest first
        self._changes: dict[int, OutboxEntry] = {}  # stored events changed in memory only
        self._acked: set[int] = set()  # stored events acknowledged, their deletion pending
        self._last_seq = self._stored_last_seq()
        self._failing = ""  # the last refused write's error, logged once per episode
        self.dropped = 0  # events refused because memory was full too
        self.restored = len(self)  # events left by a previous run

    @property
    def in_memory(self) -> int:
        """Events (or changes to them) that wait in memory for the database."""
        return len(self._memory) + len(self._changes) + len(self._acked)

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
        self._last_seq = max(self._last_seq, seq)
        entry = OutboxEntry(seq, topic, payload, 0, held, alarm)
        if not self.retry() or not self._write(self._insert, entry):
            if len(self._memory) >= MEMORY_EVENTS:
                self.dropped += 1
                log.error("outbox full in memory too, event lost", extra={"fields": {"seq": seq}})
                return
            self._memory.append(entry)

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
        self._change(seq, lambda e: replace(e, payload=payload, held=False))

    def head(self) -> OutboxEntry | None:
        """The oldest event not yet acknowledged."""
        for row in self._rows():
            if row[0] in self._acked:
                continue
            entry = OutboxEntry(row[0], row[1], bytes(row[2]), row[3], bool(row[4]))
            return self._changes.get(entry.seq, entry)
        return self._memory[0] if self._memory else None

    def failed(self, seq: int) -> None:
        """Count an attempt the broker did not acknowledge."""
        self._change(seq, lambda e: replace(e, attempts=e.attempts + 1))

    def acknowledged(self, seq: int) -> None:
        """The broker has it: forget the event."""
        if self._memory and self._memory[0].seq == seq:
            self._memory.pop(0)
            return
        self._memory = [e for e in self._memory if e.seq != seq]
        self._changes.pop(seq, None)
        self._acked.add(seq)
        self.retry()

    def last_seq(self) -> int:
        """The highest sequence number ever stored (or decided) here, 0 for a new outbox."""
        return self._last_seq

    def _stored_last_seq(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        return 0 if row is None else int(row[0])

    def __len__(self) -> int:
        stored = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        return stored - len(self._acked) + len(self._memory)

    def retry(self) -> bool:
        """Write what waits in memory, oldest first; True when nothing waits any more."""
        if not self._writable and not self._reopen():
            return False
        for seq in sorted(self._acked):
            if not self._write(self._delete, seq):
                return False
            self._acked.discard(seq)
        for seq, entry in sorted(self._changes.items()):
            if not self._write(self._update, entry):
                return False
            del self._changes[seq]
        while self._memory:
            if not self._write(self._insert, self._memory[0]):
                return False
            self._memory.pop(0)
        return True

    def close(self) -> None:
        """Flush and close the database."""
        if not self.retry():
            log.error("outbox closed with events it could not store", extra={"fields": {
                "in_memory": self.in_memory, "error": self._failing}})  # fmt: skip
        self._db.close()

    def _rows(self) -> list[tuple[int, str, bytes, int, int]]:
        """The oldest stored rows: enough to skip those acknowledged but not yet deleted."""
        return self._db.execute(
            "SELECT seq, topic, payload, attempts, held FROM outbox ORDER BY seq LIMIT ?",
            (len(self._acked) + 1,),
        ).fetchall()

    def _change(self, seq: int, change: Callable[[OutboxEntry], OutboxEntry]) -> None:
        """Apply a change to an event in memory, or in the database (or in memory, if refused)."""
        for index, entry in enumerate(self._memory):
            if entry.seq == seq:
                self._memory[index] = change(entry)
                return
        current = self._changes.get(seq) or self._stored(seq)
        if current is None:
            return
        changed = change(current)
        if seq in self._changes or not self._write(self._update, changed):
            self._changes[seq] = changed

    def _stored(self, seq: int) -> OutboxEntry | None:
        row = self._db.execute(
            "SELECT seq, topic, payload, attempts, held FROM outbox WHERE seq = ?", (seq,)
        ).fetchone()
        return (
            None
            if row is None
            else OutboxEntry(row[0], row[1], bytes(row[2]), row[3], bool(row[4]))
        )

    def _reopen(self) -> bool:
        """Open the database for writing at last (space came back); True when it is."""
        try:
            db = _open_writable(self._path)
        except (sqlite3.Error, OSError):
            return False
        self._db.close()
        self._db, self._writable = db, True
        self._last_seq = max(self._last_seq, self._stored_last_seq())
        log.info("outbox database open for writing", extra={"fields": {"path": str(self._path)}})
        return True

    def _write(self, write: Callable[[object], None], item: object) -> bool:
        """Run one write; False (logged once, reported) when the database refuses it."""
        if not self._writable:
            return False
        try:
            write(item)
        except (sqlite3.Error, OSError) as exc:
            if not self._failing:
                full = is_disk_full(exc)
                log.error(
                    "outbox write failed, events kept in memory until it works",
                    extra={"fields": {"error": str(exc), "disk_full": full, "pending": len(self)}},
                )
                if full and self.on_full is not None:
                    self.on_full("outbox")
            self._failing = str(exc)
            return False
        if self._failing:
            self._failing = ""
            log.info("outbox writes again", extra={"fields": {"in_memory": self.in_memory}})
        return True

    def _insert(self, item: object) -> None:
        assert isinstance(item, OutboxEntry)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO outbox (seq, topic, payload, attempts, held) VALUES (?, ?, ?, ?, ?)",
                (item.seq, item.topic, item.payload, item.attempts, item.held),
            )
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('last_seq', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                (item.seq,),
            )
            if (alarm := item.alarm) is not None:
                self._db.execute(
                    "INSERT INTO alarms (device, alarm_id, event, seq, payload)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(device) DO UPDATE SET"
                    " alarm_id = excluded.alarm_id, event = excluded.event,"
                    " seq = excluded.seq, payload = excluded.payload WHERE excluded.seq > seq",
                    (alarm.device, alarm.alarm_id, alarm.event, item.seq, item.payload),
                )

    def _update(self, item: object) -> None:
        assert isinstance(item, OutboxEntry)
        self._db.execute(
            "UPDATE outbox SET payload = ?, attempts = ?, held = ? WHERE seq = ?",
            (item.payload, item.attempts, item.held, item.seq),
        )

    def _delete(self, item: object) -> None:
        self._db.execute("DELETE FROM outbox WHERE seq = ?", (item,))


def _open_writable(path: Path | str) -> sqlite3.Connection:
    """The outbox's database, its tables made or brought up to date."""
    db = connect_durable(path, SCHEMA)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
        if "held" not in columns:  # an outbox written before events could be held
            db.execute("ALTER TABLE outbox ADD COLUMN held INTEGER NOT NULL DEFAULT 0")
        db.execute("UPDATE outbox SET held = 0")
    except sqlite3.Error:
        db.close()
        raise
    return db


def _open_read_only(path: Path | str) -> sqlite3.Connection:
    """A copy in memory of what a previous run stored, read where the file cannot be written
    (a full disk), so its events are published and its numbering goes on; empty when there is
    no file or it cannot be read.

    The write-ahead log a crash left behind is read with the file (SQLite needs the log's
    shared-memory file, which that crash left too): without it the events of the run's last
    moments, and its last number, would be missing, and the numbering would start again below
    it. Where the log cannot be read, the file is read alone (immutable), and said. At most
    MEMORY_EVENTS events are read (the oldest); the rest wait in the file until it opens.
    """
    db = sqlite3.connect("file::memory:", uri=True, isolation_level=None, check_same_thread=False)
    db.executescript(SCHEMA)
    if str(path) == ":memory:" or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return db
    uri = Path(path).resolve().as_uri()
    errors = []
    for query in ("mode=ro", "mode=ro&immutable=1"):  # with the log, then the file alone
        try:
            _copy_stored(db, f"{uri}?{query}")
        except sqlite3.Error as exc:
            errors.append(str(exc))
            continue
        if errors and _log_left(path):
            log.error("outbox's write-ahead log unreadable, events a crash left in it are not "
                      "restored and event numbers may repeat until the file opens",
                      extra={"fields": {"path": str(path), "error": errors[0]}})  # fmt: skip
        return db
    log.error("outbox database unreadable, a previous run's events are not restored",
              extra={"fields": {"path": str(path), "error": errors[-1]}})  # fmt: skip
    return db


def _copy_stored(db: sqlite3.Connection, uri: str) -> None:
    """Copy the stored events, numbering and open alarms of the database at `uri` into `db`
    (all or nothing)."""
    db.execute("ATTACH DATABASE ? AS old", (uri,))
    try:
        with db:
            db.execute("BEGIN")
            db.execute(
                "INSERT INTO outbox SELECT seq, topic, payload, attempts, 0 FROM old.outbox"
                " ORDER BY seq LIMIT ?",
                (MEMORY_EVENTS,),
            )
            db.execute("INSERT INTO meta SELECT key, value FROM old.meta")
            db.execute(
                "INSERT INTO alarms SELECT device, alarm_id, event, seq, payload FROM old.alarms"
            )
    finally:
        with contextlib.suppress(sqlite3.Error):
            db.execute("DETACH DATABASE old")


def _log_left(path: Path | str) -> bool:
    """Whether a write-ahead log with content lies beside the database."""
    log_file = Path(f"{path}-wal")
    return log_file.is_file() and log_file.stat().st_size > 0
