"""The recordings each split of tools/make_episodes.py draws from, and how they are read.

A recording feeds one split only. Test material is what the shipped models never trained on
(NEU-DET val, UESTC 1400 rpm, SKAB files outside the sensor model's development set);
docs/episodes-dataset.md gives the reasons and the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from agent.apps.evaluate.detector import read_labels
from agent.apps.evaluate.sensor import read_recording
from tools.detector_thresholds import MIN_PATCH_SIDE, Rectangle, box_free_patch

SPLITS = ("dev", "test")

# SKAB experiments recorded one after another on one rig set-up, by day; consecutive files of
# a session join with no step in the slowly drifting registers (temperatures, flow).
SKAB_SESSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "dev": {
        "2020-02-08": (
            "anomaly-free/anomaly-free.csv",
            "other/5.csv",
            "other/6.csv",
            "other/7.csv",
        ),
        "2020-03-09": (*(f"valve1/{i}.csv" for i in range(6)), "valve2/0.csv"),
        "2020-03-01": ("other/1.csv", "other/2.csv"),
    },
    "test": {
        "2020-02-08": ("other/8.csv", "other/9.csv", "other/10.csv"),
        "2020-03-09": (*(f"valve1/{i}.csv" for i in range(6, 12)), "valve2/1.csv", "valve2/2.csv"),
        "2020-03-01": ("other/3.csv", "other/4.csv"),
    },
}
SKAB_GROWING = frozenset({"other/6.csv", "other/9.csv"})  # linear and exponential imbalance
UESTC_RPM = {"dev": (800, 1000), "test": (1400,)}
NEU_SPLIT = {"dev": "train", "test": "val"}
BEARING_FAULTS = ("inner_race", "outer_race", "ball")

# SKAB's column headers, as register names a Modbus map would use
REGISTERS = {
    "Accelerometer1RMS": "accel1_rms_g",
    "Accelerometer2RMS": "accel2_rms_g",
    "Current": "motor_current_a",
    "Pressure": "pressure_bar",
    "Temperature": "motor_temp_c",
    "Thermocouple": "fluid_temp_c",
    "Voltage": "motor_voltage_v",
    "Volume Flow RateRMS": "flow_l_min",
}


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One labelled SKAB anomaly, and where it was cut out of its session's healthy rows."""

    file: str
    type: str
    rows: np.ndarray  # [m, registers]
    cut: int  # index into Timeline.healthy where the anomaly's rows were taken out

    @property
    def growing(self) -> bool:
        return self.file in SKAB_GROWING


@dataclass(frozen=True, slots=True)
class Timeline:
    """A SKAB session's rows in recording order: the healthy ones joined, the anomalies apart."""

    session: str
    files: tuple[str, ...]
    healthy: np.ndarray  # [rows, registers]
    anomalies: tuple[Anomaly, ...]


@dataclass(frozen=True, slots=True)
class NeuImage:
    """One NEU-DET image: its file, the class its name carries, and its box-free rectangle."""

    path: Path
    name_class: str
    free: Rectangle | None


def skab_type(file: str) -> str:
    """The fault an experiment file records (SKAB README's folder descriptions)."""
    folder, name = file.split("/")
    if folder == "valve1":
        return "inlet_valve_closing"
    if folder == "valve2":
        return "outlet_valve_closing"
    number = int(Path(name).stem)
    if number <= 4:
        return "fluid_leak"
    return "rotor_imbalance" if number <= 9 else "water_increase"


def timeline(skab: Path, session: str, files: tuple[str, ...]) -> Timeline:
    """Join a session's files; each file's labelled rows (first to last) become an Anomaly."""
    healthy: list[np.ndarray] = []
    anomalies: list[Anomaly] = []
    length = 0
    for file in files:
        recording = read_recording(skab / file, list(REGISTERS))
        values, label = recording.values, recording.anomaly  # label None: anomaly-free.csv
        marked = np.flatnonzero(label) if label is not None else np.zeros(0, dtype=np.intp)
        if marked.size == 0:
            parts = [values]
        else:
            first, last = int(marked[0]), int(marked[-1]) + 1
            parts = [values[:first], values[last:]]
            anomaly_rows = values[first:last]
            anomalies.append(Anomaly(file, skab_type(file), anomaly_rows, length + first))
        healthy += parts
        length += sum(len(p) for p in parts)
    return Timeline(session, files, np.concatenate(healthy), tuple(anomalies))


def timelines(skab: Path, split: str) -> tuple[Timeline, ...]:
    return tuple(timeline(skab, s, files) for s, files in SKAB_SESSIONS[split].items())


def uestc_clips(uestc: Path, split: str) -> dict[tuple[str, int], tuple[Path, ...]]:
    """Clips by (class, rpm) of the split's shaft speeds, sorted by name."""
    clips = {}
    for rpm in UESTC_RPM[split]:
        for label in ("normal", *BEARING_FAULTS):
            found = tuple(sorted((uestc / label).glob(f"{rpm}rpm_*.wav")))
            if not found:
                raise FileNotFoundError(f"{uestc / label}: no {rpm}rpm_*.wav clips")
            clips[label, rpm] = found
    return clips


def neu_images(defects: Path, split: str) -> tuple[NeuImage, ...]:
    """The split's NEU-DET images, each with the largest rectangle no labelled box touches."""
    images = []
    for path in sorted((defects / "images" / NEU_SPLIT[split]).glob("*.jpg")):
        frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if frame is None:
            raise ValueError(f"{path}: cannot decode image")
        height, width = frame.shape[:2]
        boxes, _ = read_labels(path, width, height)
        free = box_free_patch(boxes, width, height, MIN_PATCH_SIDE)
        images.append(NeuImage(path, path.stem.rsplit("_", 1)[0], free))
    if not images:
        raise FileNotFoundError(f"{defects}/images/{NEU_SPLIT[split]}: no images")
    return tuple(images)


@dataclass(frozen=True, slots=True)
class Sources:
    """Everything one split draws from."""

    split: str
    sessions: tuple[Timeline, ...]
    clips: dict[tuple[str, int], tuple[Path, ...]]
    images: tuple[NeuImage, ...]

    def session(self, name: str) -> Timeline:
        return next(t for t in self.sessions if t.session == name)


def load(data: Path, split: str) -> Sources:
    return Sources(
        split,
        timelines(data / "skab", split),
        uestc_clips(data / "bearings" / "uestc", split),
        neu_images(data / "defects", split),
    )
