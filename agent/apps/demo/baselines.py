"""The demo devices' learned normals: learned once from their healthy recordings, shipped, and
put in the demo's storage folder at start so every device scores calibrated from its first
sample.

Learning live needs a few hundred samples per sense, minutes at the demo's rates. So
`tools/make_demo_learned.py` (`learn_demo`) hands each device's healthy bundled recordings to
the agent's own learners (agent/learning/device.py), sample by sample on a virtual clock at
the rates the demo delivers them (the camera's fps, the thermal camera's fps, one sound window
per `window_s`, one Modbus row per poll), until every learner has what it needs, exactly as a
device learning on site would be fed them. What they learn is kept under `SHIPPED`, one
`LearnedStore` version per device.

What a device learns from: pump-01 its first `HEALTHY_S` seconds, before its fault shows (its
bearing's hot spot starts to rise at 20 s, tools/make_demo_samples.py); motor-02 and valve-03,
healthy throughout, their whole loop (valve-03's valve closes once a loop: its normal cycle).
Each part is looped, as the demo loops it.
"""

from __future__ import annotations

import heapq
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from agent.apps.simulate.skab_replay import read_recording
from agent.config.device import DeviceConfig
from agent.core.samples import Sample
from agent.learning.device import DeviceLearning, finish_and_save
from agent.learning.store import Card, LearnedStore
from agent.senses.audio.config import MicrophoneConfig
from agent.senses.audio.preprocess import to_mono_float
from agent.senses.image.config import CameraConfig
from agent.senses.image.source import open_capture
from agent.senses.learning import LearningRefused
from agent.senses.sensor.config import ModbusConfig
from agent.senses.temperature.config import InfraredConfig
from agent.senses.temperature.source import SequenceReader, read_raw_frame

SHIPPED = Path(__file__).resolve().parent  # a storage folder: its learned/ holds the versions
HEALTHY_S = {"pump-01": 20.0}  # seconds of a device's loop it learns from; absent: all of it
LEARN_S = 300.0  # sound and thermal need 300 samples, at one a second in the demo
LEARNED_ON = datetime(2026, 12, 5, tzinfo=UTC).timestamp()  # the virtual clock's start
REASON = "demo: learned from its healthy bundled recordings (tools/make_demo_learned.py)"

SampleData = np.ndarray | dict[str, float]


@dataclass(frozen=True, slots=True)
class Replay:
    """One sense's healthy recording as the demo's source delivers it: `rate_hz` samples a
    second, sample k being `data(k)` (the recording looped), with the `meta` a learner reads."""

    rate_hz: float
    data: Callable[[int], SampleData]
    meta: dict[str, object] = field(default_factory=dict)


def install(storage: Path) -> None:
    """Give a storage folder the shipped learned versions (the demo's, at start)."""
    shutil.copytree(LearnedStore(SHIPPED).root, LearnedStore(storage).root, dirs_exist_ok=True)


def learn_demo(devices: list[DeviceConfig], samples: Path, storage: Path) -> dict[str, Card]:
    """Learn every device from its healthy recordings (`samples`/<device>/, the Modbus
    simulator's there too); save each as a version in `storage`."""
    store = LearnedStore(storage)
    cards = {}
    for device in devices:
        learning = DeviceLearning(device, REASON, LEARN_S, now=LEARNED_ON)
        healthy_s = HEALTHY_S.get(device.id)
        replays = {
            sense: replay(section, samples / device.id, healthy_s)
            for sense, section in device.sources.configured().items()
        }
        now = LEARNED_ON
        for now, sense, k in schedule(replays):
            part = replays[sense]
            learning.observe(sense, Sample(device.id, sense, now, part.data(k), part.meta))
            if k % max(1, round(part.rate_hz)) == 0 and learning.ready(now):
                break  # checked once a second of a sense's samples: ready() is not free
        saved, reasons = finish_and_save(learning, store, now)
        if saved is None:
            raise LearningRefused(device.id, reasons)
        cards[device.id] = saved
    return cards


def schedule(replays: dict[str, Replay]) -> Iterator[tuple[float, str, int]]:
    """(virtual time, sense, sample number) of every sense's samples, in time order, forever."""

    def ticks(sense: str, rate_hz: float) -> Iterator[tuple[float, str, int]]:
        k = 0
        while True:
            yield LEARNED_ON + k / rate_hz, sense, k
            k += 1

    return heapq.merge(*(ticks(s, r.rate_hz) for s, r in replays.items()))


def replay(section: object, folder: Path, healthy_s: float | None) -> Replay:
    """The sense's recording, cut to its first `healthy_s` seconds when given."""
    if isinstance(section, CameraConfig):
        return camera(section, healthy_s)
    if isinstance(section, InfraredConfig):
        return thermal(section, healthy_s)
    if isinstance(section, MicrophoneConfig):
        return sound(section, healthy_s)
    if isinstance(section, ModbusConfig):
        return registers(section, folder / "skab.csv", healthy_s)
    raise TypeError(f"no demo recording for {type(section).__name__}")


def cut(items: list[SampleData], per_s: float, healthy_s: float | None) -> list[SampleData]:
    """The items (`per_s` a second) before `healthy_s`, or all of them."""
    return items if healthy_s is None else items[: round(healthy_s * per_s)]


def camera(config: CameraConfig, healthy_s: float | None) -> Replay:
    """Video frames sampled at `fps` by their time in the file, as the camera source does."""
    capture = open_capture(config.uri)
    file_fps = capture.get(cv2.CAP_PROP_FPS)
    frames: list[SampleData] = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    frames = cut(frames, file_fps, healthy_s)
    return Replay(config.fps, lambda k: frames[int(k / config.fps * file_fps) % len(frames)])


def thermal(config: InfraredConfig, healthy_s: float | None) -> Replay:
    """One radiometric frame per tick, in file order."""
    paths = SequenceReader(config.uri, loop=True).paths
    frames = cut([read_raw_frame(p) for p in paths], config.fps, healthy_s)
    return Replay(config.fps, lambda k: frames[k % len(frames)])


def sound(config: MicrophoneConfig, healthy_s: float | None) -> Replay:
    """Consecutive `window_s` windows of the file (a whole number of them)."""
    if config.file is None:
        raise ValueError("the demo's microphones replay files")
    samples, rate = sf.read(str(config.file), dtype="float32", always_2d=True)
    size = round(config.window_s * rate)
    audio = to_mono_float(samples)
    windows: list[SampleData] = [audio[i : i + size] for i in range(0, len(audio) - size + 1, size)]
    windows = cut(windows, 1.0 / config.window_s, healthy_s)
    return Replay(1.0 / config.window_s, lambda k: windows[k % len(windows)], {"sample_rate": rate})


def registers(config: ModbusConfig, recording_file: Path, healthy_s: float | None) -> Replay:
    """The SKAB rows the demo's Modbus simulator serves, one per poll, as float32 registers
    carry them."""
    recording = read_recording(recording_file)
    rows: list[SampleData] = [
        {name: float(np.float32(v)) for name, v in zip(recording.channels, row, strict=True)}
        for row in recording.rows
    ]
    rows = cut(rows, config.poll_hz, healthy_s)
    return Replay(config.poll_hz, lambda k: rows[k % len(rows)])
