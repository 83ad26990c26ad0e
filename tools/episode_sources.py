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

from agent.apps.evaluate.sensor import read_recording
from tools.neu_patches import Rectangle, read_with_patch

SPLITS = ("dev", "test")

# SKAB experiments recorded one after another on one rig set-up, by day. A session's healthy
# rows are joined in recording order with the labelled anomalies cut out; the temperatures rise
# by tens of their sample-to-sample steps while an anomaly runs, so each join is level-matched
# in the temperatures (`SLOW_REGISTERS`, `timeline`), not left as a step no machine makes.
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
JOIN_ROWS = 30  # rows either side of a join whose levels are matched (`join_shift`)
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
# a temperature cannot step by tens of its second-to-second changes at once; vibration,
# current, pressure and flow can (a valve, a rig set up again), so only these joins are matched
SLOW_REGISTERS = ("Temperature", "Thermocouple")
SLOW = np.array([name in SLOW_REGISTERS for name in REGISTERS])


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One labelled SKAB anomaly, and where it was cut out of its session's healthy rows."""

    file: str
    type: str
    rows: np.ndarray  # [m, registers], shifted as the healthy rows recorded before them
    cut: int  # index into Timeline.healthy where the anomaly's rows were taken out
    after_shift: np.ndarray  # [registers], added to Timeline.healthy[cut:] after the anomaly

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
    """Join a session's healthy stretches; each file's labelled rows (first to last) become an
    Anomaly.

    Each stretch's temperatures (`SLOW_REGISTERS`) are shifted so that they continue the
    stretch before it (`join_shift`): what a temperature did while an anomaly was cut out (the
    fluid warming by 0.2 °C in seven minutes) is not a step of the healthy machine; the other
    registers join as recorded. An anomaly's rows take the shift of the stretch recorded
    before them, and `after_shift` puts the rows after it back where they were recorded
    relative to it, so a fault played at its place has both its edges as recorded.
    """
    joined = Joined()
    for file in files:
        recording = read_recording(skab / file, list(REGISTERS))
        values, label = recording.values, recording.anomaly  # label None: anomaly-free.csv
        marked = np.flatnonzero(label) if label is not None else np.zeros(0, dtype=np.intp)
        if marked.size == 0:
            joined.add(values)
            continue
        first, last = int(marked[0]), int(marked[-1]) + 1
        joined.add(values[:first])
        joined.cut(file, values[first:last])
        joined.add(values[last:])
    anomalies = joined.finish()
    return Timeline(session, files, np.concatenate(joined.stretches), tuple(anomalies))


class Joined:
    """A session's healthy stretches as `timeline` joins them, and the anomalies cut out."""

    def __init__(self) -> None:
        self.stretches: list[np.ndarray] = []  # shifted
        self.anomalies: list[Anomaly] = []
        self._length = 0
        self._shift: np.ndarray | None = None  # the newest stretch's
        self._waiting: list[tuple[str, np.ndarray, int, np.ndarray]] = []  # for the next stretch

    def add(self, stretch: np.ndarray) -> None:
        if len(stretch) == 0:
            return
        shift = join_shift(self.stretches[-1], stretch) if self.stretches else no_shift(stretch)
        for file, rows, cut, before in self._waiting:  # recorded right before this stretch
            self.anomalies.append(Anomaly(file, skab_type(file), rows, cut, before - shift))
        self._waiting = []
        self.stretches.append(stretch + shift)
        self._length += len(stretch)
        self._shift = shift

    def cut(self, file: str, rows: np.ndarray) -> None:
        """An anomaly recorded right after the newest stretch."""
        shift = self._shift if self._shift is not None else no_shift(rows)
        self._waiting.append((file, rows + shift, self._length, shift))

    def finish(self) -> list[Anomaly]:
        """Every anomaly; one the session ends with has nothing recorded after it to meet."""
        for file, rows, cut, _ in self._waiting:
            self.anomalies.append(Anomaly(file, skab_type(file), rows, cut, no_shift(rows)))
        self._waiting = []
        return self.anomalies


def no_shift(rows: np.ndarray) -> np.ndarray:
    """Zero for every register (column) of `rows`."""
    return np.zeros(rows.shape[1])


def join_shift(before: np.ndarray, stretch: np.ndarray) -> np.ndarray:
    """Per register: what to add to `stretch` so that its temperatures continue `before`
    without a step (0 for the other registers).

    The medians of the JOIN_ROWS rows either side of the join are met, carried apart by the
    rows between them at the registers' rate (a register warming keeps warming). Medians,
    because SKAB's labels can end a row or two before the anomaly does."""
    tail, head = before[-JOIN_ROWS:], stretch[:JOIN_ROWS]
    rate = (drift(tail) + drift(head)) / 2.0
    gap = (len(tail) + len(head)) / 2.0  # rows from one median's place to the other's
    shift = np.median(tail, axis=0) - np.median(head, axis=0) + rate * gap
    return np.where(SLOW, shift, 0.0)


def drift(rows: np.ndarray) -> np.ndarray:
    """Per register, change a row: the later half's median less the earlier half's, over the
    rows between them (0 for fewer than two rows)."""
    half = len(rows) // 2
    if half == 0:
        return no_shift(rows)
    late, early = rows[len(rows) - half :], rows[:half]
    return (np.median(late, axis=0) - np.median(early, axis=0)) / (len(rows) - half)


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
        _, _, _, free = read_with_patch(path, cv2.IMREAD_UNCHANGED)
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
