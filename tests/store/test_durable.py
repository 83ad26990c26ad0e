"""A corrupt database file is moved aside and replaced: the agent goes on storing alarms."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from agent.sinks.durable import CACHE_KIB, connect_durable
from agent.sinks.evidence.store import EvidenceStore
from agent.sinks.mqtt.outbox import Outbox


def not_a_database(path: Path) -> None:
    path.write_bytes(b"\x00garbage" * 2048)
    path.with_name(path.name + "-wal").write_bytes(b"stale log")


def damaged_pages(path: Path) -> None:
    """A file whose header and schema read fine but whose table pages are overwritten."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, payload BLOB)")
    db.executemany("INSERT INTO outbox (payload) VALUES (?)", [(b"x" * 500,)] * 200)
    db.commit()
    db.close()
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [not_a_database, damaged_pages])
def test_a_corrupt_outbox_is_moved_aside_and_a_new_one_stores_events(
    tmp_path: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite3"
    damage(path)  # type: ignore[operator]
    original = path.read_bytes()

    with caplog.at_level(logging.ERROR, logger="agent.sinks.durable"):
        outbox = Outbox(path)
    outbox.add(1, "t/alarm", b'{"seq": 1}')
    assert outbox.in_memory == 0  # stored in the new file, not waiting in memory
    outbox.close()

    moved = sorted(tmp_path.glob("outbox.sqlite3.corrupt-*"))
    assert [p.read_bytes() for p in moved if not p.name.endswith(("-wal", "-shm"))] == [original]
    assert [r.getMessage() for r in caplog.records] == [
        "database corrupt, moved aside and started anew"
    ]
    stored = sqlite3.connect(path)
    assert stored.execute("SELECT seq FROM outbox").fetchall() == [(1,)]
    stored.close()


def test_the_evidence_index_on_a_corrupt_file_starts_anew_and_stores(tmp_path: Path) -> None:
    database = tmp_path / "outbox.sqlite3"
    not_a_database(database)
    store = EvidenceStore(database, tmp_path / "evidence", retention_s=3600.0, max_bytes=2**20)
    assert store.total_bytes() == 0
    assert list(tmp_path.glob("outbox.sqlite3.corrupt-*"))


def test_an_error_that_is_not_corruption_is_raised_and_nothing_is_moved(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.mkdir()  # SQLite cannot open it: not a corrupt file, nothing to move aside
    with pytest.raises(sqlite3.OperationalError):
        connect_durable(path, "CREATE TABLE t (a)")
    assert path.is_dir() and not list(tmp_path.glob("*.corrupt-*"))


def test_the_page_cache_is_capped(tmp_path: Path) -> None:
    """Left at SQLite's 2 MiB per connection it filled over a day of a soak, slowly raising
    RSS; the agent's files are small and hot."""
    db = connect_durable(tmp_path / "outbox.sqlite3", "CREATE TABLE t (a)")
    assert db.execute("PRAGMA cache_size").fetchone() == (-CACHE_KIB,)
    db.close()
