"""The agent's durable SQLite database: what it committed survives a crash or a power cut.

A database file SQLite calls corrupt or not a database at all (a power cut on a card that
lies about its writes, a file overwritten by hand) is moved aside, with its -wal and -shm,
to `<name>.corrupt-<UTC time>` and a new one is made in its place: the agent goes on storing
what it decides, and the broken file stays for whoever wants to look into it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

log = logging.getLogger(__name__)

# SQLite's page cache per connection (its default, 2 MiB, filled slowly over a day as the
# evidence index grew: a climb in RSS that soaks took for a leak); the files are small and hot
CACHE_KIB = 256
BUSY_TIMEOUT_S = 5.0  # the outbox and the evidence store write to one file from two connections
CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
SIDE_FILES = ("", "-wal", "-shm")


def connect_durable(path: Path | str, schema: str = "") -> sqlite3.Connection:
    """Open (creating its folder) in WAL mode with full sync, usable from worker threads, check
    a file's integrity (SQLite's quick check: the agent's file is small) and run `schema`; a
    corrupt file is moved aside and replaced by a new one; on any other failure
    (a full disk, say) the connection is closed, the error raised."""
    try:
        return _connect(path, schema)
    except sqlite3.DatabaseError as exc:
        if str(path) == ":memory:" or not _is_corrupt(exc):
            raise
        moved = quarantine(Path(path))
        log.error(
            "database corrupt, moved aside and started anew",
            extra={"fields": {"path": str(path), "moved_to": str(moved), "error": str(exc)}},
        )
        return _connect(path, schema)


class CorruptDatabase(sqlite3.DatabaseError):
    """SQLite's integrity check found damage that opening the file did not show."""


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    return isinstance(exc, CorruptDatabase) or getattr(exc, "sqlite_errorcode", 0) in CORRUPT_CODES


def quarantine(path: Path) -> Path:
    """Move the database and its -wal and -shm aside under one new name; that name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in SIDE_FILES:
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.replace(target.with_name(target.name + suffix))
    return target


def _connect(path: Path | str, schema: str) -> sqlite3.Connection:
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        if str(path) != ":memory:":  # before anything writes to the file
            (verdict,) = db.execute("PRAGMA quick_check(1)").fetchone()
            if verdict != "ok":
                raise CorruptDatabase(verdict)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        db.executescript(schema)
    except sqlite3.Error:
        db.close()
        raise
    return db
