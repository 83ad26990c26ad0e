"""The evidence store on a real SQLite file and real files: index, publish queue, retention."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.sinks.evidence.store import SCHEMA, EvidenceStore

DAY = 86_400.0


class Clock:
    """A wall clock the test sets, jumps included."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def open_store(tmp_path: Path, clock: Clock, max_bytes: int = 10_000) -> EvidenceStore:
    return EvidenceStore(tmp_path / "outbox.sqlite3", tmp_path / "evidence", 7 * DAY, max_bytes,
                         clock=clock)  # fmt: skip


NAMES: dict[EvidenceStore, dict[str, str]] = {}  # per store: the test's name -> evidence id


def put(store: EvidenceStore, name: str, size: int = 100) -> str:
    topic = "edge/site/pump-01/evidence/a1/image"
    stored = store.put("a1", "pump-01", "image", "image/jpeg", ".jpg", topic, b"x" * size)
    NAMES.setdefault(store, {})[name] = stored.id
    return stored.id


def kept(store: EvidenceStore) -> set[str]:
    """Names (as the test called them) of the files still on disk."""
    on_disk = {p.stem for p in (store.folder / "pump-01").glob("*.jpg")}
    return {name for name, evidence_id in NAMES[store].items() if evidence_id in on_disk}


def test_files_are_named_by_generated_ids_never_by_payload_text(
    tmp_path: Path, clock: Clock
) -> None:
    store = open_store(tmp_path, clock)
    stored = store.put("../../etc/passwd", "pump-01", "sensor", "application/json", ".json",
                       "edge/s/pump-01/evidence/x/sensor", b'{"a": 1}')  # fmt: skip
    (path,) = (tmp_path / "evidence").rglob("*.json")
    assert path == tmp_path / "evidence" / "pump-01" / f"{stored.id}.json"
    assert path.read_bytes() == b'{"a": 1}'
    assert stored.reference() == {
        "id": stored.id,
        "kind": "sensor",
        "media_type": "application/json",
        "topic": "edge/s/pump-01/evidence/x/sensor",
        "size": 8,
    }
    assert len(store) == 1
    assert store.total_bytes() == 8


def test_files_are_published_only_once_released_and_survive_a_restart(
    tmp_path: Path, clock: Clock
) -> None:
    store = open_store(tmp_path, clock)
    first, second = put(store, "first", 10), put(store, "second", 20)
    assert store.next_publish() is None  # the alarm event is not in the outbox yet
    store.release([first, second])
    store.close()

    store = open_store(tmp_path, clock)  # as after a crash or a restart
    pending = store.next_publish()
    assert pending is not None
    assert pending.payload == b"x" * 10
    assert pending.topic.endswith("/evidence/a1/image")
    store.published(pending.counter)
    pending = store.next_publish()
    assert pending is not None and pending.payload == b"x" * 20
    store.published(pending.counter)
    assert store.next_publish() is None
    assert store.pending_publishes() == 0


def test_a_queued_file_deleted_by_retention_is_skipped(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock, max_bytes=150)
    store.release([put(store, "old"), put(store, "new")])
    assert store.prune() == 1
    pending = store.next_publish()
    assert pending is not None
    store.published(pending.counter)
    assert store.next_publish() is None


def test_age_retention_deletes_the_oldest_first(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock)
    for day in range(4):
        put(store, f"day{day}")
        clock.now += DAY
    clock.now += 4.5 * DAY  # day0 is 8.5 days old, day1 7.5, day2 6.5
    assert store.prune() == 2
    assert kept(store) == {"day2", "day3"}
    assert len(store) == 2


def test_disk_cap_deletes_the_oldest_until_the_rest_fits(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock, max_bytes=300)
    put(store, "tiny", 10)
    put(store, "small", 100)
    put(store, "big", 200)
    put(store, "last", 50)
    assert store.prune() == 2
    assert kept(store) == {"big", "last"}  # "tiny" would fit, but it is older than "small"
    assert store.total_bytes() == 250


def test_age_goes_first_then_the_cap_among_the_rest(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock, max_bytes=260)
    put(store, "expired", 10)
    clock.now += 2 * DAY
    put(store, "small", 100)
    put(store, "big", 200)
    put(store, "last", 50)
    clock.now += 5.5 * DAY  # only "expired" is over 7 days old
    assert store.prune() == 2
    assert kept(store) == {"big", "last"}
    assert store.total_bytes() == 250


def test_cap_and_order_hold_when_the_clock_jumps_backwards(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock, max_bytes=250)
    put(store, "before_jump")
    clock.now -= 365 * DAY  # NTP corrects a clock that ran a year ahead
    put(store, "after1")
    put(store, "after2")
    store.prune()
    # by timestamp "before_jump" is the newest; by insertion it is the oldest, and goes first
    assert kept(store) == {"after1", "after2"}

    put(store, "after3", 50)
    clock.now += 6 * DAY
    store.prune()
    assert kept(store) == {"after1", "after2", "after3"}  # nothing expires early...
    clock.now += 2 * DAY
    store.prune()
    assert kept(store) == set()  # ...nor survives retention after the jump


def test_expiry_follows_insertion_when_the_clock_jumps_forwards(
    tmp_path: Path, clock: Clock
) -> None:
    store = open_store(tmp_path, clock)
    put(store, "before")
    clock.now += 30 * DAY  # a clock that jumps a month ahead
    put(store, "after")
    store.prune()
    assert kept(store) == {"after"}
    clock.now -= 30 * DAY  # and back again
    put(store, "back")
    store.prune()
    assert kept(store) == {"after", "back"}
    assert store.total_bytes() == 200


def test_sweep_repairs_what_a_crash_leaves_and_keeps_foreign_files(
    tmp_path: Path, clock: Clock
) -> None:
    store = open_store(tmp_path, clock)
    put(store, "gone")
    put(store, "fine")
    (store.folder / "pump-01" / f"{NAMES[store]['gone']}.jpg").unlink()
    partial = store.folder / "pump-01" / ".0123.jpg.partial"
    partial.write_bytes(b"half")
    foreign = store.folder / "pump-01" / "3-raised.json"
    foreign.write_text("{}")
    assert store.sweep() == 2
    assert len(store) == 1
    assert kept(store) == {"fine"}
    assert not partial.exists()
    assert foreign.exists()


def table_reads(store: EvidenceStore, action: Callable[[], object]) -> list[str]:
    """How each statement `action` runs reads the evidence table, as SQLite plans it."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        action()
    finally:
        store._db.set_trace_callback(None)
    return [
        step[3]
        for sql in statements
        if sql.split()[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE"}
        for step in store._db.execute(f"EXPLAIN QUERY PLAN {sql}")
        if " evidence" in step[3]
    ]


def test_put_and_prune_read_the_table_by_its_indexes_only(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock, max_bytes=250)
    put(store, "expired")
    clock.now += 8 * DAY
    put(store, "over_cap")
    put(store, "kept1")
    reads = table_reads(store, lambda: put(store, "kept2")) + table_reads(store, store.prune)
    assert kept(store) == {"kept1", "kept2"}  # by age, then by the cap: every query ran
    # SEARCH by an index; a SCAN reads every row, even `SCAN evidence USING COVERING INDEX`
    assert [r for r in reads if not r.startswith("SEARCH")] == []
    assert len(reads) >= 8


# the evidence table as the release before the created_at index wrote it
CREATED_AT_INDEX = "CREATE INDEX IF NOT EXISTS evidence_created_at ON evidence (created_at);"
assert CREATED_AT_INDEX in SCHEMA
UNINDEXED_SCHEMA = SCHEMA.replace(CREATED_AT_INDEX, "")


def test_a_database_from_before_the_index_gains_it_and_keeps_its_files(
    tmp_path: Path, clock: Clock
) -> None:
    database, folder = tmp_path / "outbox.sqlite3", tmp_path / "evidence" / "pump-01"
    folder.mkdir(parents=True)
    with sqlite3.connect(database) as old:
        old.executescript(UNINDEXED_SCHEMA)
        for name in ("old1", "old2"):
            (folder / f"{name}.jpg").write_bytes(b"x" * 100)
            old.execute(
                "INSERT INTO evidence (id, alarm_id, device, kind, media_type, file, size,"
                " created_at, topic, to_publish) VALUES (?, 'a0', 'pump-01', 'image',"
                " 'image/jpeg', ?, 100, ?, 't', 1)",
                (name, f"pump-01/{name}.jpg", clock.now),
            )
    old.close()

    store = open_store(tmp_path, clock, max_bytes=250)
    indexes = {row[1] for row in store._db.execute("PRAGMA index_list(evidence)")}
    assert "evidence_created_at" in indexes
    NAMES[store] = {"old1": "old1", "old2": "old2"}
    assert store.pending_publishes() == 2
    put(store, "new")
    assert store.prune() == 1  # the cap goes by insertion order across the upgrade
    assert kept(store) == {"old2", "new"}
