"""The agent's evidence at a real Mosquitto: files stored, referenced, published, and kept in
bounds; through a broker outage, a restart, and a full disk cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cv2
import jsonschema
import numpy as np
import pytest
import soundfile

from agent.config.device import AgentConfig
from agent.config.loader import parse_config
from agent.senses.schema import alarm_schema
from agent.senses.sensor.config import RegisterConfig
from agent.senses.temperature.thermal_image import false_colour_png
from tests.support.audio_files import knock_model, knocking, write_audio
from tests.support.modbus_server import modbus_tcp_server
from tests.support.mqtt import Collector, MosquittoProcess, subscribe
from tests.support.onnx_models import brightness_detector
from tests.support.tasks import agent_running, eventually
from tests.support.thermal_frames import CENTI_KELVIN, frame_with_spot, infrared_source
from tests.support.video_files import write_flat_video

pytestmark = pytest.mark.slow

HOT, COLD = frame_with_spot(28.0, 120.0), frame_with_spot(28.0, None)
REGISTERS = [RegisterConfig(name="pressure", address=0, data_type="float32", unit="bar", high=3.0)]


def infrared(folder: Path, frames: list[np.ndarray], fps: float = 4) -> dict[str, Any]:
    return infrared_source(folder / "ir", frames, fps, scorer={"warn_c": 60, "limit_c": 90})


def thermal_only(tmp_path: Path, frames: list[np.ndarray], fps: float = 4) -> dict[str, Any]:
    """A device watched by its thermal camera alone."""
    return {
        "id": "pump-01",
        "sources": {"infrared": infrared(tmp_path, frames, fps)},
        "fusion": {"weights": {"temperature": 1.0}},
        "alarm": {"min_hold_s": 0, "update_interval_s": 3600},
    }


def agent_config(
    tmp_path: Path, broker: tuple[str, int], prefix: str, device: dict[str, Any], **evidence: Any
) -> AgentConfig:
    return parse_config(
        {
            "site": "plant",
            "broker": {"host": broker[0], "port": broker[1], "topic_prefix": prefix,
                       "ack_timeout_s": 2},
            "inspection": {"enabled": False},
            "storage": {"dir": str(tmp_path / "state"), "evidence": evidence},
            "devices": [device],
        }
    )  # fmt: skip


def raised(seen: Collector) -> list[dict[str, Any]]:
    return [a for a in seen.json("/alarm") if a["event"] == "raised"]


def payloads(seen: Collector, topic: str) -> list[bytes]:
    return [p for t, p, _ in seen.messages if t == topic]


def files_arrived(seen: Collector, alarm: dict[str, Any]) -> bool:
    return all(payloads(seen, f["topic"]) for f in alarm.get("evidence_files", []))


def first_raised_with_files(seen: Collector) -> dict[str, Any] | None:
    alarms = [a for a in raised(seen) if a.get("evidence_files") and files_arrived(seen, a)]
    return alarms[0] if alarms else None


async def evidence_arrives(seen: Collector, seconds: float) -> None:
    """Until a raised alarm and all its files are in; on timeout, say what did arrive."""
    try:
        await seen.wait_for(lambda c: first_raised_with_files(c) is not None, seconds)
    except TimeoutError:
        alarms = [(a["seq"], a["event"], a.get("evidence_files")) for a in seen.json("/alarm")]
        topics = sorted({t for t, _, _ in seen.messages})
        pytest.fail(f"no raised alarm with all its files: alarms {alarms}, topics {topics}")


def decode_image(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


async def test_alarm_evidence_is_stored_referenced_and_published(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    rate = 16_000
    device: dict[str, Any] = {
        "id": "pump-01",
        "sources": {
            "camera": {
                "uri": str(write_flat_video(tmp_path / "cam.avi", 230)),
                "fps": 4,
                "loop": True,
                "detector": {"model": str(brightness_detector(tmp_path / "det.onnx",
                                                               ["scratches", "patches"]))},
            },
            "infrared": infrared(tmp_path, [HOT]),
            "microphone": {
                "file": str(write_audio(tmp_path / "mic.wav", knocking(2.0, rate), rate)),
                "loop": True,
                "window_s": 0.5,
                "classifier": {"model": str(knock_model(tmp_path / "sound.onnx")),
                               "class_names": ["normal", "knocking"], "sample_rate": rate},
            },
            "modbus": {"host": "127.0.0.1", "port": 0, "poll_hz": 10,
                       "registers": [r.model_dump(exclude_defaults=True) for r in REGISTERS]},
        },
    }  # fmt: skip
    async with (
        modbus_tcp_server(REGISTERS, {"pressure": 3.6}) as plc,
        subscribe(*broker, f"{topic_prefix}/#") as seen,
    ):
        device["sources"]["modbus"]["port"] = plc.port
        config = agent_config(tmp_path, broker, topic_prefix, device, snapshot_interval_s=1)
        async with agent_running(config):
            await evidence_arrives(seen, 60)
        alarm = first_raised_with_files(seen)
    assert alarm is not None

    jsonschema.validate(alarm, alarm_schema())
    files = {f["kind"]: f for f in alarm["evidence_files"]}
    assert set(files) == {"image", "thermal", "audio", "sensor"}
    base = f"{topic_prefix}/plant/pump-01/evidence/{alarm['id']}"
    alarm_at = next(i for i, (t, p, _) in enumerate(seen.messages) if b'"raised"' in p)
    for kind, reference in files.items():
        assert reference["topic"] == f"{base}/{alarm['seq']}/{kind}"
        (payload,) = payloads(seen, reference["topic"])  # published once
        assert len(payload) == reference["size"]
        stored = tmp_path / "state" / "evidence" / "pump-01"
        (on_disk,) = stored.glob(f"{reference['id']}.*")
        assert on_disk.read_bytes() == payload
        arrived_at = next(i for i, (t, _, _) in enumerate(seen.messages) if t == reference["topic"])
        assert arrived_at > alarm_at  # the alarm event goes first
        assert not next(r for t, _, r in seen.messages if t == reference["topic"])  # not retained

    assert files["image"]["media_type"] == "image/jpeg"
    assert decode_image(payloads(seen, files["image"]["topic"])[0]).shape == (72, 96, 3)
    assert files["thermal"]["media_type"] == "image/png"
    assert decode_image(payloads(seen, files["thermal"]["topic"])[0]).shape[0] == 240
    sound, sound_rate = soundfile.read(io.BytesIO(payloads(seen, files["audio"]["topic"])[0]))
    assert (sound_rate, len(sound)) == (rate, rate // 2)
    window = json.loads(payloads(seen, files["sensor"]["topic"])[0])["window"]
    assert window and all(abs(r["values"]["pressure"] - 3.6) < 1e-5 for r in window)

    async with subscribe(*broker, f"{topic_prefix}/plant/pump-01/snapshot/#") as snapshots:
        await snapshots.wait_for(lambda c: len(c.messages) == 2, 10)
    retained = {t.rsplit("/", 1)[-1]: (p, r) for t, p, r in snapshots.messages}
    assert set(retained) == {"image", "thermal"}
    assert all(r for _, r in retained.values())
    assert decode_image(retained["image"][0]).shape == (72, 96, 3)
    assert decode_image(retained["thermal"][0]).shape[0] == 240


@contextlib.asynccontextmanager
async def agent_holding_evidence(
    tmp_path: Path, private_broker: MosquittoProcess, prefix: str
) -> AsyncIterator[AgentConfig]:
    """An agent that raised an alarm while its broker was down: its evidence waits on disk."""
    broker = ("127.0.0.1", private_broker.port)
    config = agent_config(tmp_path, broker, prefix, thermal_only(tmp_path, [HOT]))
    private_broker.stop()
    async with agent_running(config) as agent:
        store = agent.evidence_store
        assert store is not None
        await eventually(lambda: store.pending_publishes() == 1 and len(agent.outbox) == 1, 20)
        yield config


async def test_evidence_raised_while_the_broker_is_down_arrives_after_it_returns(
    tmp_path: Path, private_broker: MosquittoProcess, topic_prefix: str
) -> None:
    broker = ("127.0.0.1", private_broker.port)
    async with agent_holding_evidence(tmp_path, private_broker, topic_prefix):
        await asyncio.sleep(2.0)  # the agent's reconnect backoff grows meanwhile
        private_broker.start()
        async with subscribe(*broker, f"{topic_prefix}/#") as seen:
            await evidence_arrives(seen, 60)
    alarm = first_raised_with_files(seen)
    assert alarm is not None
    assert alarm["replayed"] is True
    (reference,) = alarm["evidence_files"]
    (payload,) = payloads(seen, reference["topic"])
    png = tmp_path / "state" / "evidence" / "pump-01" / f"{reference['id']}.png"
    assert png.read_bytes() == payload


async def test_evidence_left_by_a_stopped_agent_is_published_by_the_next(
    tmp_path: Path, private_broker: MosquittoProcess, topic_prefix: str
) -> None:
    broker = ("127.0.0.1", private_broker.port)
    async with agent_holding_evidence(tmp_path, private_broker, topic_prefix) as config:
        (left,) = (tmp_path / "state" / "evidence" / "pump-01").glob("*.png")

    private_broker.start()
    async with (
        subscribe(*broker, f"{topic_prefix}/#") as seen,
        agent_running(config),
    ):
        topic_of = f"{topic_prefix}/plant/pump-01/evidence/"
        await seen.wait_for(lambda c: any(left.read_bytes() == p for p in
                                          payloads_under(c, topic_of)), 20)  # fmt: skip
    first = seen.json("/alarm")[0]
    assert first["replayed"] is True
    assert left.stem in {f["id"] for f in first["evidence_files"]}


def payloads_under(seen: Collector, prefix: str) -> list[bytes]:
    return [p for t, p, _ in seen.messages if t.startswith(prefix)]


async def test_disk_cap_reached_deletes_the_oldest_evidence_and_alarms_keep_flowing(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    png_size = len(false_colour_png(HOT, **CENTI_KELVIN, regions=[]))
    cap_mb = 2.5 * png_size / 2**20  # room for two thermal images, not three
    device = thermal_only(tmp_path, [HOT, COLD], fps=2)  # raised, cleared, raised, ...
    config = agent_config(tmp_path, broker, topic_prefix, device, max_mb=cap_mb)
    folder = tmp_path / "state" / "evidence" / "pump-01"
    async with subscribe(*broker, f"{topic_prefix}/#") as seen:
        async with agent_running(config) as agent:
            await seen.wait_for(lambda c: len([a for a in raised(c) if files_arrived(c, a)]) >= 5,
                                40)  # fmt: skip
            store = agent.evidence_store
            assert store is not None
            assert store.total_bytes() <= config.storage.evidence.max_bytes
            assert len(store) <= 2
        await asyncio.sleep(0.5)

    alarms = seen.json("/alarm")
    seqs = [a["seq"] for a in alarms]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no alarm lost, none out of order
    ids = [f["id"] for a in raised(seen) for f in a["evidence_files"]]
    assert len(ids) >= 5  # every raised alarm kept getting its evidence
    on_disk = {p.stem for p in folder.glob("*.png")}
    assert ids[0] not in on_disk and ids[1] not in on_disk  # the oldest went first
    assert ids[-1] in on_disk
    assert len(on_disk) <= 2
    for alarm in raised(seen):  # each was published before its file was deleted
        (reference,) = alarm["evidence_files"]
        assert len(payloads(seen, reference["topic"])[0]) == reference["size"]
