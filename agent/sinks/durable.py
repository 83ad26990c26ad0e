"""The agent's durable SQLite database: what it committed survives a crash or a power cut."""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 5.0  # the outbox and the evidence store write to one file from two connections


def connect_durable(path: Path | str, schema: str = "") -> sqlite3.Connection:
    """Open (creating its folder) in WAL mode with full sync, usable from worker threads, and
    run `schema`; on failure (a full disk, say) the connection is closed, the error raised."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(schema)
    except sqlite3.Error:
        db.close()
        raise
    return db
