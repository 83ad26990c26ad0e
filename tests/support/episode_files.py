"""Tiny episodes written by tests in the format of docs/episodes.md, and stand-in models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from agent.apps.evaluate import SHIPPED_MODELS
from tests.support.audio_files import knock_model, steady_hum, write_audio
from tests.support.onnx_models import brightness_detector
from tests.support.sensor_models import window_mean_stand_in
from tests.support.thermal_frames import frame_with_spot

Rows = Sequence[tuple[float, str]]


def write_episode(folder: Path, **spec: Any) -> Path:
    """episode.yaml with `spec` (device, duration_s, learn_s, faults, streams, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "episode.yaml").write_text(yaml.safe_dump({"device": "pump-07", **spec}))
    return folder


def write_index(path: Path, rows: Rows, header: str = "t_s,file") -> str:
    """An index CSV of (t_s, file) rows; its name, as episode.yaml gives it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(f"{t:g},{name}\n" for t, name in rows))
    return path.name


def write_thermal(folder: Path, peaks_c: dict[str, float | None]) -> None:
    """One 16-bit PNG per name: 30 °C ambient, a hot spot of the given peak (None: none)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, peak in peaks_c.items():
        if not cv2.imwrite(str(folder / name), frame_with_spot(30.0, peak, shape=(24, 32))):
            raise OSError(f"cannot write {folder / name}")


def thermal_episode(
    folder: Path, peaks: Sequence[float | None], faults: list[dict[str, Any]], learn_s: float = 0
) -> Path:
    """A thermal-only episode of one frame a second, frame t with hot-spot peak `peaks[t]`."""
    names = {peak: f"spot_{peak}.png" for peak in set(peaks)}
    write_thermal(folder, {name: peak for peak, name in names.items()})
    index = write_index(folder / "thermal.csv", [(t, names[p]) for t, p in enumerate(peaks)])
    return write_episode(
        folder,
        duration_s=len(peaks),
        learn_s=learn_s,
        faults=faults,
        streams={"thermal": {"index": index}},
        thermal_calibration={"a": 0.01, "b": -273.15},
    )


def stand_in_models(folder: Path, registers: Sequence[str]) -> Path:
    """Tiny models under the shipped file names, for EDGE_AGENT_MODELS: a detector that sees
    its first class on bright frames, a knock detector, a forest flagging 3 robust spreads."""
    folder.mkdir(parents=True, exist_ok=True)
    brightness_detector(folder / SHIPPED_MODELS["image"], ["scratches", "rust"])
    knock_model(folder / SHIPPED_MODELS["audio"], metadata={"class_names": ["normal", "knock"]})
    window_mean_stand_in(folder / SHIPPED_MODELS["sensor"], registers, baseline_samples=20)
    return folder


def four_sense_episode(folder: Path, seconds: int, bright_from: int) -> Path:
    """Every stream for `seconds`: grey frames turning bright at `bright_from`, thermal, a
    hummed clip per 10 s, and two registers at 2 Hz."""
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    for name, grey in (("grey.jpg", 60), ("bright.jpg", 240)):
        cv2.imwrite(str(media / name), np.full((48, 64, 3), grey, np.uint8))
    write_thermal(media, {"cool.png": None})
    write_audio(media / "hum.wav", steady_hum(10.0, 16_000), 16_000)
    images = [(t, "media/" + ("bright.jpg" if t >= bright_from else "grey.jpg"))
              for t in range(seconds)]  # fmt: skip
    times = np.arange(0, seconds, 0.5)
    table = "t_s,Current,Pressure\n" + "".join(
        f"{t:g},{10 + (i % 2)},{5 + 0.1 * (i % 3)}\n" for i, t in enumerate(times)
    )
    (folder / "sensor.csv").write_text(table)
    return write_episode(
        folder,
        duration_s=seconds,
        faults=[{"start_s": bright_from, "end_s": seconds, "type": "scratch", "senses": ["image"]}],
        streams={
            "image": {"index": write_index(folder / "image.csv", images)},
            "thermal": {"index": write_index(folder / "thermal.csv",
                                             [(t, "media/cool.png") for t in range(seconds)])},
            "audio": {"index": write_index(folder / "audio.csv",
                                           [(t, "media/hum.wav") for t in range(0, seconds, 10)])},
            "sensor": {"csv": "sensor.csv"},
        },
    )  # fmt: skip
