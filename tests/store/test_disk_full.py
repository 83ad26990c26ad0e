"""A full disk never silences the agent: alarms, states and health go on, evidence degrades,
and what was decided while the disk was full reaches the broker, in seq order, once space
returns. The agent test runs on a real 600 KiB tmpfs (skipped where mounting is not allowed);
the others inject SQLite's `database or disk is full` where the real calls are made.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from agent.config.device import BrokerConfig, DeviceConfig
from agent.config.loader import parse_config
from agent.core.alarms import AlarmTransition, sequence_from
from agent.core.samples import Sample, Score
from agent.runtime.agent import Agent
from agent.runtime.channels import build_channels
from agent.runtime.pipeline import DevicePipeline
from agent.senses.schema import alarm_schema
from agent.sinks.disk import StorageWatch, is_disk_full
from agent.sinks.evidence.recorder import LOW_DISK_MAX_FILE_BYTES, AlarmJob, Capture, EvidenceWriter
from agent.sinks.evidence.store import EvidenceStore
from agent.sinks.mqtt import outbox as outbox_module
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.outbox import AlarmKey, Outbox
from agent.sinks.mqtt.publisher import Publisher
from agent.sinks.mqtt.topics import Topics
from tests.support.mqtt import Collector, subscribe
from tests.support.proxy import cuttable_proxy
from tests.support.tasks import eventually, running
from tests.support.thermal_frames import frame_with_spot, infrared_source

HOT, COLD = frame_with_spot(28.0, 120.0), frame_with_spot(28.0, None)
WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN")


class FullDisk:
    """A SQLite connection whose writes fail with SQLite's own error while `full` is set."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.full = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.full and sql.split()[0].upper() in WRITES:
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __enter__(self) -> sqlite3.Connection:
        return self.db.__enter__()

    def __exit__(self, *exc: object) -> Any:
        return self.db.__exit__(*exc)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_the_outbox_keeps_what_the_disk_refuses_and_stores_it_when_space_returns(
    tmp_path: Path,
) -> None:
    reported: list[str] = []
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.on_full = reported.append
    disk = FullDisk(outbox._db)
    outbox._db = disk  # type: ignore[assignment]
    outbox.add(1, "a", b"1")
    disk.full = True
    outbox.add(2, "a", b"2-held", held=True)  # raised on the code as found
    outbox.add(3, "a", b"3")
    outbox.complete(2, b"2")
    assert reported == ["outbox"]
    assert [len(outbox), outbox.last_seq()] == [3, 3]
    head = outbox.head()
    assert head is not None and head.seq == 1
    outbox.acknowledged(1)  # its deletion waits too
    head = outbox.head()
    assert head is not None and (head.seq, head.payload, head.held) == (2, b"2", False)
    outbox.acknowledged(2)  # delivered from memory while the disk is full
    disk.full = False
    assert outbox.retry()
    assert outbox.in_memory == 0
    outbox.close()
    again = Outbox(tmp_path / "outbox.sqlite3")
    head = again.head()
    assert head is not None and (head.seq, head.payload) == (3, b"3")
    assert [len(again), again.last_seq()] == [1, 3]


class RefusingSink:
    """A sink whose alarm and snapshot writes hit a full disk; states are kept."""

    def __init__(self) -> None:
        self.retained: list[tuple[str, bytes]] = []
        self.alarms_refused = 0

    def retain(self, topic: str, payload: bytes) -> None:
        self.retained.append((topic, payload))

    def alarm(self, transition: AlarmTransition, topic: str, payload: dict[str, Any]) -> None:
        self.alarms_refused += 1
        raise sqlite3.OperationalError("database or disk is full")

    def remember(self, sample: Sample) -> None:
        pass

    async def snapshot(self, sample: Sample, score: Score) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


async def test_a_sink_that_raises_neither_fails_the_source_nor_stops_the_device(
    tmp_path: Path,
) -> None:
    config = DeviceConfig.model_validate({
        "id": "pump-01",
        "sources": {"infrared": infrared_source(tmp_path / "ir", [HOT, COLD], fps=10)},
        "fusion": {"weights": {"temperature": 1.0}},
        "alarm": {"min_hold_s": 0},
    })  # fmt: skip
    sink = RefusingSink()
    pipeline = DevicePipeline(
        config, build_channels(config), sink, Topics("p", "s"), sequence_from(1)
    )
    task = asyncio.create_task(pipeline.run())
    try:
        await eventually(lambda: sink.alarms_refused >= 3, 20)
        states_before = sum(t.endswith("/state") for t, _ in sink.retained)
        await asyncio.sleep(1.5)
        assert not task.done()
        assert sum(t.endswith("/state") for t, _ in sink.retained) > states_before
        status = pipeline.status()  # the code as found blamed the source for the sink's error
        assert status.sources["temperature"].state == "ok", status.sources
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_disk_full_errors_are_recognised() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert not is_disk_full(sqlite3.OperationalError("no such table: x"))
    assert not is_disk_full(ValueError("disk is full"))


def test_the_watch_judges_free_space_and_holds_critical_after_a_failed_write(
    tmp_path: Path,
) -> None:
    free = {"bytes": 500 * 1024 * 1024}

    class Usage:
        def __init__(self, _: Path) -> None:
            self.free = free["bytes"]

    watch = StorageWatch(tmp_path, tmp_path / "db", 256 * 2**20, 64 * 2**20, usage=Usage)
    seen: list[str] = []
    watch.listeners.append(lambda status: seen.append(status.state))
    assert watch.check().state == "ok"
    free["bytes"] = 100 * 2**20
    assert watch.check().state == "low"
    free["bytes"] = 10 * 2**20
    assert watch.check().state == "critical"
    free["bytes"] = 300 * 2**20
    watch.check()
    watch.report_full("evidence")  # a quota, say: the free space lies
    assert watch.check().state == "critical"
    free["bytes"] += 1
    assert watch.check().state == "ok"
    assert seen == ["ok", "low", "critical", "ok", "critical", "ok"]
    assert set(watch.status.files) == {"db", "db-wal", "db-shm"}


def captures() -> list[Capture]:
    """A camera frame of noise (a JPEG far over the low-disk cap) and two register readings
    (a JSON document far under it)."""
    now = time.time()
    frame = np.random.default_rng(1).integers(0, 256, (480, 640, 3), np.uint8)
    readings = [{"pressure": 4.2 + i / 10} for i in range(2)]
    image = Sample("pump-01", "image", now, frame, {})
    sensor = [Sample("pump-01", "sensor", now + i, r, {}) for i, r in enumerate(readings)]
    return [
        Capture(
            "image",
            [image],
            Score("pump-01", "image", 0.9, "x", {"detections": []}, now, now),
            None,
        ),
        Capture("sensor", sensor, Score("pump-01", "sensor", 0.9, "pressure", {}, now, now), None),
    ]


async def test_on_a_low_disk_only_the_large_evidence_is_left_out_until_space_returns(
    tmp_path: Path,
) -> None:
    free = {"bytes": 100 * 2**20}  # between critical (64 MiB) and min (256 MiB): low

    class Usage:
        def __init__(self, _: Path) -> None:
            self.free = free["bytes"]

    watch = StorageWatch(tmp_path, None, 256 * 2**20, 64 * 2**20, usage=Usage)
    assert watch.check().state == "low"
    topics = Topics("edge", "plant")
    outbox = Outbox(":memory:")
    publisher = Publisher(MqttLink(BrokerConfig(), topics.status), outbox)  # never connected
    store = EvidenceStore(tmp_path / "db.sqlite3", tmp_path / "evidence", 3600.0, 10**8)
    writer = EvidenceWriter(store, publisher, topics, watch)
    topic = topics.alarm("pump-01")

    async def raised(seq: int) -> dict[str, Any]:
        writer.submit(AlarmJob(seq, topic, {"seq": seq}, "pump-01", "a1", captures(), "raised"))
        async with running(writer.run()):
            assert await writer.drain(10)
        entry = outbox.head()
        assert entry is not None and entry.seq == seq and not entry.held
        outbox.acknowledged(seq)
        return dict(json.loads(entry.payload))

    low = await raised(1)
    assert low["evidence_degraded"] == "low_disk"
    assert [f["kind"] for f in low["evidence_files"]] == ["sensor"]
    assert low["evidence_files"][0]["size"] < LOW_DISK_MAX_FILE_BYTES

    free["bytes"] = 300 * 2**20
    assert watch.check().state == "ok"
    full = await raised(2)
    assert "evidence_degraded" not in full
    sizes = {f["kind"]: f["size"] for f in full["evidence_files"]}
    assert set(sizes) == {"image", "sensor"}
    assert sizes["image"] > LOW_DISK_MAX_FILE_BYTES  # the frame really was over the cap
    queued = []  # what the store kept, in order: the low-disk event's sensor file, then both
    while (pending := store.next_publish()) is not None:
        queued.append(pending.topic.removeprefix("edge/plant/pump-01/evidence/a1/"))
        store.published(pending.counter)
    assert queued == ["1/sensor", "2/image", "2/sensor"]
    assert len(store) == 3


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 600 KiB filesystem (tmpfs); skipped where this user may not mount one."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the filesystem refuses another byte."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def alarms(seen: Collector) -> list[dict[str, Any]]:
    return seen.json("/alarm")


def health(seen: Collector) -> list[dict[str, Any]]:
    return seen.json("/health")


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def test_on_a_full_disk_the_agent_goes_on_and_loses_nothing(
    tmp_path: Path, small_disk: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    device = {
        "id": "pump-01",
        "sources": {"infrared": infrared_source(tmp_path / "ir", [HOT] * 4 + [COLD] * 4, fps=8)},
        "fusion": {"weights": {"temperature": 1.0}},
        "alarm": {"min_hold_s": 0, "update_interval_s": 3600},
    }
    async with cuttable_proxy(*broker) as proxy, subscribe(*broker, f"{topic_prefix}/#") as seen:
        config = parse_config({
            "site": "plant",
            "broker": {"host": "127.0.0.1", "port": proxy.port, "topic_prefix": topic_prefix,
                       "ack_timeout_s": 2},
            "inspection": {"enabled": False},
            "storage": {"dir": str(small_disk), "min_free_mb": 0.3, "critical_free_mb": 0.1,
                        "check_interval_s": 0.2},
            "metrics": {"port": 0},
            "devices": [device],
        })  # fmt: skip
        agent = Agent(config)  # its database is on the small disk
        filler = fill(small_disk)
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        try:
            # full disk, broker up: alarms still flow, their evidence flagged, health says so
            await seen.wait_for(lambda c: len(alarms(c)) >= 3, 30)
            assert not task.done()
            for event in alarms(seen):
                jsonschema.validate(event, alarm_schema())
            raised = [a for a in alarms(seen) if a["event"] == "raised"]
            assert raised and all(a.get("evidence_degraded") == "disk_full" for a in raised)
            assert not any(a.get("evidence_files") for a in raised)
            await seen.wait_for(
                lambda c: any(h.get("storage", {}).get("state") == "critical" for h in health(c)),
                10,
            )
            metrics = await asyncio.to_thread(scrape, agent.metrics.url)  # type: ignore[union-attr]
            assert 'edge_agent_storage_state{edge_agent_storage_state="critical"} 1.0' in metrics
            assert "edge_agent_disk_free_bytes" in metrics
            assert 'edge_agent_storage_bytes{file="outbox.sqlite3-wal"}' in metrics
            states = len(seen.json("/state"))
            await asyncio.sleep(2)
            assert len(seen.json("/state")) >= states + 2  # the device keeps talking

            # broker away too: events are decided on a full disk and kept in memory
            await proxy.cut()
            decided = agent.outbox.last_seq()
            await eventually(lambda: agent.outbox.last_seq() >= decided + 2, 20)
            assert agent.outbox.in_memory > 0

            # space returns: they are written down, then delivered when the broker is back
            filler.unlink()
            # the outbox retries its database on its own clock and the storage watch measures
            # on its own: either may see the space first
            await eventually(
                lambda: agent.outbox.in_memory == 0 and agent.storage.state == "ok", 10
            )
            stored = sqlite3.connect(small_disk / "outbox.sqlite3")
            assert stored.execute("SELECT count(*) FROM outbox").fetchone()[0] >= 2
            stored.close()
            await proxy.restore()
            last = agent.outbox.last_seq()
            await seen.wait_for(
                lambda c: {a["seq"] for a in alarms(c)} >= set(range(1, last + 1)), 30
            )
            await seen.wait_for(
                lambda c: any(a.get("evidence_files") for a in alarms(c) if a["seq"] > last), 30
            )
            assert health(seen)[-1]["storage"]["state"] == "ok"
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    seqs = [a["seq"] for a in alarms(seen)]
    firsts = list(dict.fromkeys(seqs))  # de-duplicated, in arrival order
    assert firsts == sorted(firsts) == list(range(1, max(seqs) + 1))
    later = [a for a in alarms(seen) if a["seq"] > last and a["event"] == "raised"]
    assert later and all("evidence_degraded" not in a for a in later), later
    assert json.loads(json.dumps(later[0]))["evidence_files"]


async def test_an_agent_started_on_a_full_disk_runs_and_writes_down_once_space_returns(
    tmp_path: Path, small_disk: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    """A restart on a disk already full (systemd restarts the agent; the disk stays full):
    the outbox and the evidence index cannot even be opened. The previous run's undelivered
    events are read from the file and published, numbering goes on after them, alarms flow
    with their evidence flagged, and once space returns everything is written down and the
    evidence comes back."""
    topic = f"{topic_prefix}/plant/pump-00/note"
    previous = Outbox(small_disk / "outbox.sqlite3")
    for seq in (1, 2):
        previous.add(seq, topic, json.dumps({"seq": seq}).encode())
    previous.close()
    camera = infrared_source(tmp_path / "ir", [HOT] * 4 + [COLD] * 4, fps=8)
    filler = fill(small_disk)
    config = parse_config({
        "site": "plant",
        "broker": {"host": broker[0], "port": broker[1], "topic_prefix": topic_prefix},
        "inspection": {"enabled": False},
        "storage": {"dir": str(small_disk), "min_free_mb": 0.3, "critical_free_mb": 0.1,
                    "check_interval_s": 0.2},
        "devices": [{
            "id": "pump-01",
            "sources": {"infrared": camera},
            "fusion": {"weights": {"temperature": 1.0}},
            "alarm": {"min_hold_s": 0, "update_interval_s": 3600},
        }],
    })  # fmt: skip
    async with subscribe(*broker, f"{topic_prefix}/#") as seen:
        agent = Agent(config)
        assert agent.outbox.last_seq() == 2 and len(agent.outbox) == 2
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        try:
            await seen.wait_for(lambda c: len(alarms(c)) >= 3, 30)
            assert [e["seq"] for e in seen.json("/pump-00/note")] == [1, 2]
            raised = [a for a in alarms(seen) if a["event"] == "raised"]
            assert raised and all(a.get("evidence_degraded") == "disk_full" for a in raised)
            assert min(a["seq"] for a in alarms(seen)) == 3
            assert agent.storage.state == "critical"

            filler.unlink()
            # the outbox retries its database on its own clock and the storage watch measures
            # on its own: either may see the space first
            await eventually(
                lambda: agent.outbox.in_memory == 0 and agent.storage.state == "ok", 10
            )
            last = agent.outbox.last_seq()
            await seen.wait_for(
                lambda c: any(a.get("evidence_files") for a in alarms(c) if a["seq"] > last), 30
            )
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    stored = sqlite3.connect(small_disk / "outbox.sqlite3")
    assert stored.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0] > last
    stored.close()
    seqs = list(dict.fromkeys(a["seq"] for a in alarms(seen)))
    assert seqs == list(range(3, max(seqs) + 1))


def test_an_outbox_opened_on_a_full_disk_reads_the_file_and_writes_it_once_space_returns(
    small_disk: Path,
) -> None:
    path = small_disk / "outbox.sqlite3"
    previous = Outbox(path)
    previous.add(1, "t/alarm", b'{"seq": 1}', alarm=AlarmKey("pump-01", "a1", "raised"))
    previous.add(2, "t/alarm", b'{"seq": 2}', held=True)  # its render died with that run
    previous.close()
    filler = fill(small_disk)

    outbox = Outbox(path)
    assert outbox.last_seq() == 2 and len(outbox) == 2
    assert set(outbox.open_alarms()) == {"pump-01"}
    outbox.acknowledged(1)
    head = outbox.head()
    assert head is not None and (head.seq, head.held) == (2, False)
    outbox.add(3, "t/alarm", b'{"seq": 3}')
    assert not outbox.retry() and outbox.in_memory == 2  # the deletion of 1, event 3

    filler.unlink()
    assert outbox.retry() and outbox.in_memory == 0
    outbox.close()
    stored = sqlite3.connect(path)
    assert stored.execute("SELECT seq, held FROM outbox ORDER BY seq").fetchall() == [
        (2, 0),
        (3, 0),
    ]
    stored.close()


CRASHED_RUN = """import os, sys
from agent.sinks.mqtt.outbox import AlarmKey, Outbox
outbox = Outbox(sys.argv[1])
for seq in range(1, 6):
    outbox.add(seq, "t/alarm", b"{}", alarm=AlarmKey("pump-01", "a1", "raised"))
outbox.acknowledged(1)
os._exit(0)  # killed: no close, so what it stored is still in the write-ahead log
"""


def test_an_outbox_a_crash_left_is_read_whole_where_it_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The events and the last number a killed run left in the write-ahead log are read
    too: without them the numbering would start again below numbers already used."""
    path = tmp_path / "outbox.sqlite3"
    subprocess.run([sys.executable, "-c", CRASHED_RUN, str(path)], check=True)
    assert Path(f"{path}-wal").stat().st_size > 0

    def refused(path: Path | str) -> sqlite3.Connection:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(outbox_module, "_open_writable", refused)
    outbox = Outbox(path)
    assert not outbox.retry()  # read, not opened for writing
    assert outbox.last_seq() == 5 and len(outbox) == 4
    assert set(outbox.open_alarms()) == {"pump-01"}


def test_an_outbox_that_cannot_be_opened_at_all_starts_empty_in_memory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    outbox = Outbox(tmp_path / "file" / "outbox.sqlite3")  # its folder cannot be made
    assert outbox.last_seq() == 0 and len(outbox) == 0
    outbox.add(1, "t", b"{}")
    head = outbox.head()
    assert head is not None and head.seq == 1 and outbox.in_memory == 1
