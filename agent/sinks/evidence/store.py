"""The evidence store: alarm evidence files on disk, indexed in the agent's SQLite database.

Files live under `<dir>/<device>/<id><ext>`, the id generated here (never payload text). The
index (same database file as the outbox, its own connection; WAL allows both) keeps each
file's size and an insertion counter, and doubles as a durable queue of files still to be
published, so evidence crosses broker outages and restarts like alarms do, without taking
alarm sequence numbers.

Retention deletes the oldest first, always in insertion order: files older than the
retention period, then more until the total fits the disk cap. Timestamps are kept monotonic
in insertion order (a stamp from the future, left by a clock that jumped back, is pulled
back to now), so a jumping wall clock can shorten or lengthen how long files are kept, but
never reorders deletion nor lets the disk cap be exceeded.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.config.device import StorageConfig
from agent.sinks.durable import connect_durable

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS evidence (
    counter INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    alarm_id TEXT NOT NULL,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    media_type TEXT NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    topic TEXT NOT NULL,
    to_publish INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS evidence_to_publish ON evidence (to_publish, counter);
CREATE INDEX IF NOT EXISTS evidence_created_at ON evidence (created_at);
"""


# by the index, reading only expired rows (left to itself, SQLite walks back from the newest)
NEWEST_BEFORE = (
    "SELECT coalesce(max(counter), 0) FROM evidence INDEXED BY evidence_created_at"
    " WHERE created_at < ?"
)
TOTAL_BYTES_AFTER = "SELECT coalesce(sum(size), 0) FROM evidence WHERE counter > ?"
# after counter ?, oldest first: the file whose deletion frees (with those before it) ? bytes
FIRST_TO_FREE = """
SELECT min(counter) FROM (
    SELECT counter, sum(size) OVER (ORDER BY counter) AS freed FROM evidence WHERE counter > ?
) WHERE freed >= ?
"""


@dataclass(frozen=True, slots=True)
class StoredEvidence:
    """One file in the store, as the alarm payload references it (contract C1)."""

    id: str
    kind: str
    media_type: str
    topic: str
    size: int

    def reference(self) -> dict[str, object]:
        """The entry of the alarm's `evidence_files` list."""
        return {
            "id": self.id,
            "kind": self.kind,
            "media_type": self.media_type,
            "topic": self.topic,
            "size": self.size,
        }


@dataclass(frozen=True, slots=True)
class PendingPublish:
    """A stored file still to be published; `counter` orders and identifies it."""

    counter: int
    topic: str
    payload: bytes


class EvidenceStore:
    """Files plus index; thread-safe, since renderers store from worker threads."""

    def __init__(
        self,
        database: Path,
        folder: Path,
        retention_s: float,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.retention_s = retention_s
        self.max_bytes = max_bytes
        self.clock = clock
        self._database = database
        self._lock = threading.Lock()
        self._closed_by: str | None = None  # why the index is not open for writing, if it is not
        try:
            self._db = self._open()
        except (sqlite3.Error, OSError) as exc:  # a disk full already, most likely
            self._closed_by = str(exc)
            self._db = connect_durable(":memory:", SCHEMA)
            log.error(
                "evidence index cannot be opened, no evidence is stored until it can",
                extra={"fields": {"path": str(database), "error": self._closed_by}},
            )
        self._queued = self.pending_publishes() > 0  # a previous run's queue, from the database

    def _open(self) -> sqlite3.Connection:
        self.folder.mkdir(parents=True, exist_ok=True)
        return connect_durable(self._database, SCHEMA)

    def _writable(self) -> None:
        """Open the index for writing now if it could not be before (space came back);
        the reason it still cannot be, as the error a write would have met."""
        if self._closed_by is None:
            return
        try:
            db = self._open()
        except (sqlite3.Error, OSError) as exc:
            raise sqlite3.OperationalError(f"evidence index not open: {exc}") from exc
        self._adopt(db)

    def _adopt(self, db: sqlite3.Connection) -> None:
        """Write to `db` from now on, unless another thread opened the index meanwhile."""
        with self._lock:
            if self._closed_by is None:
                db.close()
                return
            self._db.close()
            self._db, self._closed_by = db, None
        log.info("evidence index open", extra={"fields": {"path": str(self._database)}})

    @property
    def queued(self) -> bool:
        """False only while no file waits to be published, so the publisher need not ask.

        Set by `release`, cleared by `next_publish` finding none, both under the lock: it may
        be True for a moment too long (one query finds nothing), never False too soon.
        """
        return self._queued

    def put(
        self,
        alarm_id: str,
        device: str,
        kind: str,
        media_type: str,
        extension: str,
        topic: str,
        data: bytes,
    ) -> StoredEvidence:
        """Write a file (atomically: temp file, then rename) and index it, not yet published."""
        self._writable()
        evidence_id = uuid.uuid4().hex
        relative = Path(device) / f"{evidence_id}{extension}"
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        try:
            partial.write_bytes(data)
            with self._lock, self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO evidence (id, alarm_id, device, kind, media_type, file, size,"
                    " created_at, topic) VALUES (?, ?, ?, ?, ?, ?, ?,"
                    " max(?, coalesce((SELECT max(created_at) FROM evidence), 0)), ?)",
                    (evidence_id, alarm_id, device, kind, media_type, str(relative), len(data),
                     self.clock(), topic),
                )  # fmt: skip
        except BaseException:  # a full disk leaves no half-written file behind
            partial.unlink(missing_ok=True)
            raise
        partial.replace(path)  # after indexing: a crash leaves a row without a file, swept
        return StoredEvidence(evidence_id, kind, media_type, topic, len(data))

    def release(self, ids: list[str]) -> None:
        """Queue these files for publishing (once their alarm event is in the outbox)."""
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE evidence SET to_publish = 1 WHERE id = ?", [(i,) for i in ids]
            )
            self._queued = True

    def next_publish(self) -> PendingPublish | None:
        """The oldest file queued for publishing; one whose file is gone is skipped, logged."""
        while True:
            with self._lock:
                row = self._db.execute(
                    "SELECT counter, topic, file FROM evidence WHERE to_publish = 1"
                    " ORDER BY counter LIMIT 1"
                ).fetchone()
                if row is None:
                    self._queued = False
                    return None
            try:
                return PendingPublish(row[0], row[1], (self.folder / row[2]).read_bytes())
            except OSError as exc:
                fields = {"file": row[2], "error": str(exc)}
                log.warning("evidence file unreadable, not published", extra={"fields": fields})
                self.published(row[0])

    def published(self, counter: int) -> None:
        """The broker has it."""
        with self._lock:
            self._db.execute("UPDATE evidence SET to_publish = 0 WHERE counter = ?", (counter,))

    def pending_publishes(self) -> int:
        """Files queued and not yet acknowledged by the broker."""
        with self._lock:
            return self._scalar("SELECT count(*) FROM evidence WHERE to_publish = 1")

    def total_bytes(self) -> int:
        """The size of every indexed file."""
        with self._lock:
            return self._scalar(TOTAL_BYTES_AFTER, 0)

    def __len__(self) -> int:
        with self._lock:
            return self._scalar("SELECT count(*) FROM evidence")

    def prune(self) -> int:
        """Apply retention and the disk cap, oldest first; return how many files were deleted."""
        now = self.clock()
        with self._lock:
            self._db.execute("UPDATE evidence SET created_at = ? WHERE created_at > ?", (now, now))
            last_doomed = self._last_doomed(now)
            doomed = self._db.execute(
                "SELECT file FROM evidence WHERE counter <= ?", (last_doomed,)
            ).fetchall()
            for (file,) in doomed:  # files first: a crash leaves rows without files, swept
                (self.folder / file).unlink(missing_ok=True)
            self._db.execute("DELETE FROM evidence WHERE counter <= ?", (last_doomed,))
            kept = self._scalar(TOTAL_BYTES_AFTER, last_doomed) if doomed else 0
        if doomed:
            fields = {"deleted": len(doomed), "kept_bytes": kept}
            log.info("evidence pruned", extra={"fields": fields})
        return len(doomed)

    def _last_doomed(self, now: float) -> int:
        """The newest file retention deletes, by counter (every older one goes too; 0: none).

        The newest one past the retention period, unless the files after it still exceed the
        disk cap: then the oldest of those go until the rest fits. All in SQL, on indexes.
        """
        expired = self._scalar(NEWEST_BEFORE, now - self.retention_s)
        excess = self._scalar(TOTAL_BYTES_AFTER, expired) - self.max_bytes
        return self._scalar(FIRST_TO_FREE, expired, excess) if excess > 0 else expired

    def _scalar(self, query: str, *parameters: float) -> int:
        """The single number a query answers (the caller holds the lock)."""
        return int(self._db.execute(query, parameters).fetchone()[0])

    def sweep(self) -> int:
        """At start: forget rows whose file is gone, delete unfinished files; return the count.

        A file becomes visible only after its row is written, and is deleted before its row,
        so a crash at any point leaves one of these, never a file the disk cap does not count.
        Files the store did not write (other runs' evidence, notes) are never touched.
        """
        with self._lock:
            rows = self._db.execute("SELECT counter, file FROM evidence").fetchall()
            missing = [(c,) for c, file in rows if not (self.folder / file).is_file()]
            self._db.executemany("DELETE FROM evidence WHERE counter = ?", missing)
        partials = list(self.folder.glob("*/.*.partial"))
        for partial in partials:
            partial.unlink(missing_ok=True)
        return len(missing) + len(partials)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def open_evidence_store(storage: StorageConfig, database: Path) -> EvidenceStore:
    """The store for this config, cleaned up after a crash and pruned, ready to use."""
    config = storage.evidence
    store = EvidenceStore(database, storage.evidence_dir(), config.retention_s, config.max_bytes)
    store.sweep()
    store.prune()
    return store
