"""The episode format (docs/episodes.md): one folder per episode, read as untrusted input.

    DIR/**/episode.yaml    device, duration_s, learn_s, faults, streams, thermal_calibration
    image.csv, thermal.csv, audio.csv     columns t_s,file (media paths relative to the folder)
    sensor.csv                            column t_s, then one column per register

Every file is bounded in size and rows, every media path must stay inside DIR (a shared pool
of media beside the episodes is reached with `../`), and every error names the file and the
field (or row and column) at fault.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, ValidationError, model_validator

from agent.apps.evaluate.datasets import DatasetError
from agent.config.base import FiniteFloat, StrictModel
from agent.config.loader import ConfigError, field_path, parse_yaml, read_config_file
from agent.senses.audio.config import SENSE as AUDIO
from agent.senses.image.config import SENSE as IMAGE
from agent.senses.sensor.config import SENSE as SENSOR
from agent.senses.temperature.config import SENSE as TEMPERATURE
from agent.senses.temperature.config import ThermalCalibration

EPISODE_FILE = "episode.yaml"
# a stream's key in episode.yaml -> the sense it feeds (the agent calls the thermal one
# `temperature`)
STREAMS: dict[str, str] = {"image": IMAGE, "thermal": TEMPERATURE, "audio": AUDIO, "sensor": SENSOR}
MAX_EPISODES = 10_000
MAX_DURATION_S = 31 * 86_400.0  # a month of recording per episode
MAX_FAULTS = 1_000
MAX_CSV_BYTES = 256 * 1024 * 1024
MAX_ROWS = 2_000_000  # an index or sensor table: three weeks of 1 Hz, two days of 10 Hz
MAX_REGISTERS = 256
MAX_NAME = 128  # characters of a register name or a fault type
MAX_MEDIA_BYTES = {IMAGE: 64 * 1024 * 1024, TEMPERATURE: 64 * 1024 * 1024}  # read whole
INDEX_COLUMNS = ["t_s", "file"]
TIME_COLUMN = "t_s"

StreamKey = Annotated[str, Field(pattern="^(" + "|".join(STREAMS) + ")$")]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


class IndexStream(StrictModel):
    """Media files listed with their capture times."""

    index: Name


class TableStream(StrictModel):
    """Register values, one row per poll."""

    csv: Name


class Streams(StrictModel):
    """Any subset of the four streams; at least one."""

    image: IndexStream | None = None
    thermal: IndexStream | None = None
    audio: IndexStream | None = None
    sensor: TableStream | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> Streams:
        if not self.given():
            raise ValueError(f"no stream (give one or more of {', '.join(STREAMS)})")
        return self

    def given(self) -> dict[str, str]:
        """{stream key: its file name} of the streams given."""
        out = {}
        for key in STREAMS:
            stream = getattr(self, key)
            if stream is not None:
                out[key] = stream.csv if isinstance(stream, TableStream) else stream.index
        return out


class Fault(StrictModel):
    """Ground truth: a fault present from `start_s` to `end_s`, seen by `senses`."""

    start_s: FiniteFloat = Field(ge=0.0)
    end_s: FiniteFloat
    type: Name
    senses: list[StreamKey] = Field(default_factory=list, max_length=len(STREAMS))


class EpisodeSpec(StrictModel):
    """episode.yaml."""

    device: Name
    duration_s: FiniteFloat = Field(gt=0.0, le=MAX_DURATION_S)
    learn_s: FiniteFloat = Field(default=0.0, ge=0.0)
    faults: list[Fault] = Field(default_factory=list, max_length=MAX_FAULTS)
    streams: Streams
    thermal_calibration: ThermalCalibration = ThermalCalibration()

    @model_validator(mode="after")
    def _times_fit(self) -> EpisodeSpec:
        if self.learn_s >= self.duration_s:
            raise ValueError("learn_s must be below duration_s")
        for number, fault in enumerate(self.faults):
            if not self.learn_s <= fault.start_s < fault.end_s <= self.duration_s:
                raise ValueError(
                    f"faults[{number}]: need learn_s <= start_s < end_s <= duration_s "
                    f"(learn_s {self.learn_s:g}, duration_s {self.duration_s:g})"
                )
        return self


@dataclass(frozen=True, slots=True)
class MediaIndex:
    """A media stream: capture times (seconds from the episode's start) and their files."""

    times_s: np.ndarray  # [n] float64, ascending
    files: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class RegisterTable:
    """A sensor stream: poll times and each register's value."""

    times_s: np.ndarray  # [n] float64, ascending
    registers: tuple[str, ...]
    values: np.ndarray  # [n, registers] float64


@dataclass(frozen=True, slots=True)
class Episode:
    """One episode, its files checked (media are read when replayed)."""

    name: str  # its folder, relative to DIR
    folder: Path
    spec: EpisodeSpec
    media: dict[str, MediaIndex]  # by sense: image, temperature, audio
    table: RegisterTable | None

    @property
    def senses(self) -> list[str]:
        """The senses it has a stream for, in the order of STREAMS."""
        given = [*self.media, *([SENSOR] if self.table is not None else [])]
        return [sense for sense in STREAMS.values() if sense in given]


def read_episodes(data: Path) -> list[Episode]:
    """Every episode under `data` (folders holding an episode.yaml), by name."""
    if not data.is_dir():
        raise DatasetError(f"{data}: not a folder of episodes")
    root = data.resolve()
    found = episode_files(root)
    if not found:
        raise DatasetError(f"{data}: no {EPISODE_FILE} in it or below it")
    if len(found) > MAX_EPISODES:
        raise DatasetError(f"{data}: more than {MAX_EPISODES} episodes")
    return [read_episode(path, root) for path in found]


def episode_files(root: Path, include: str = "*") -> list[Path]:
    """The episode.yaml files under `root` whose folder (relative to it) matches `include`
    (fnmatch), by name."""
    found = sorted(root.rglob(EPISODE_FILE))
    return [p for p in found if fnmatch.fnmatch(str(p.parent.relative_to(root)), include)]


def read_episode(path: Path, root: Path) -> Episode:
    """One episode.yaml and the stream files it names."""
    try:
        document = parse_yaml(read_config_file(path), str(path))
    except ConfigError as exc:
        raise DatasetError(f"{path}: {'; '.join(exc.problems)}") from None
    try:
        spec = EpisodeSpec.model_validate(document)
    except ValidationError as exc:
        raise DatasetError(f"{path}: " + "; ".join(describe(e) for e in exc.errors())) from None
    folder = path.parent
    media: dict[str, MediaIndex] = {}
    table = None
    for key, name in spec.streams.given().items():
        field = f"streams.{key}.{'csv' if key == 'sensor' else 'index'}"
        file = inside(folder / name, root, f"{path}: {field}")
        if key == "sensor":
            table = read_table(file, spec.duration_s)
        else:
            media[STREAMS[key]] = read_index(file, folder, root, spec.duration_s)
    name = folder.relative_to(root).as_posix() or folder.name
    return Episode(name, folder, spec, media, table)


def describe(error: Any) -> str:
    """A pydantic error as `field.path: problem`."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        if loc[:1] == ("streams",):
            return f"{field_path(loc)}: unknown stream (streams: {', '.join(STREAMS)})"
        return f"{field_path(loc)}: unknown key"
    return f"{field_path(loc)}: {str(error['msg']).removeprefix('Value error, ')}"


def inside(path: Path, root: Path, where: str) -> Path:
    """`path` resolved, if it is a file inside `root`; else a DatasetError saying `where`."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL in the name
        raise DatasetError(f"{where}: {str(path)!r} cannot be resolved ({exc})") from None
    if not resolved.is_relative_to(root):
        raise DatasetError(f"{where}: {path} leaves {root}")
    if not resolved.is_file():
        raise DatasetError(f"{where}: {path}: no such file")
    return resolved


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """A bounded CSV file: its header and rows."""
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise DatasetError(f"{path}: {size} bytes, over {MAX_CSV_BYTES}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise DatasetError(f"{path}: empty (expected a header row)")
    rows: list[list[str]] = []
    try:
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise DatasetError(f"{path}: more than {MAX_ROWS} rows")
            if row:
                rows.append(row)
    except csv.Error as exc:  # a field past csv's limit, a NUL
        raise DatasetError(f"{path}: line {reader.line_num}: {exc}") from None
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DatasetError(f"{path}: row {number}: {len(row)} values for {len(header)} columns")
    return [name.strip() for name in header], rows


def time_of(text: str, duration_s: float, where: str) -> float:
    """A t_s cell: a finite number of seconds within the episode."""
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{where}, column t_s: {text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 <= value < duration_s):
        raise DatasetError(f"{where}, column t_s: {text} is outside [0, duration_s {duration_s:g})")
    return value


def read_index(path: Path, folder: Path, root: Path, duration_s: float) -> MediaIndex:
    """An image, thermal or audio index: t_s,file rows, files inside `root`, by time."""
    header, rows = read_rows(path)
    if header != INDEX_COLUMNS:
        raise DatasetError(f"{path}: columns {header}, expected {INDEX_COLUMNS}")
    resolved: dict[str, Path] = {}  # a shared pool names the same files again and again
    timed = []
    for number, (t_s, name) in enumerate(rows, start=2):
        where = f"{path}: row {number}"
        if name not in resolved:
            resolved[name] = inside(folder / name, root, f"{where}, column file")
        timed.append((time_of(t_s, duration_s, where), resolved[name]))
    if not timed:
        raise DatasetError(f"{path}: no rows")
    timed.sort(key=lambda row: row[0])
    return MediaIndex(np.array([t for t, _ in timed]), tuple(f for _, f in timed))


def read_table(path: Path, duration_s: float) -> RegisterTable:
    """A sensor table: t_s, then one finite value per register and row, by time."""
    header, rows = read_rows(path)
    registers = header[1:]
    if header[0] != TIME_COLUMN or not registers:
        raise DatasetError(f"{path}: the first column must be t_s, then one per register")
    if len(registers) > MAX_REGISTERS:
        raise DatasetError(f"{path}: more than {MAX_REGISTERS} register columns")
    for name in registers:
        if not 0 < len(name) <= MAX_NAME or registers.count(name) > 1:
            raise DatasetError(f"{path}: column {name!r}: register names must be unique, 1 to "
                               f"{MAX_NAME} characters")  # fmt: skip
    if not rows:
        raise DatasetError(f"{path}: no rows")
    times = np.empty(len(rows))
    values = np.empty((len(rows), len(registers)))
    for number, row in enumerate(rows):
        where = f"{path}: row {number + 2}"
        times[number] = time_of(row[0], duration_s, where)
        for column, (name, text) in enumerate(zip(registers, row[1:], strict=True)):
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise DatasetError(f"{where}, column {name}: {text!r} is not a finite number")
            values[number, column] = value
    order = np.argsort(times, kind="stable")
    return RegisterTable(times[order], tuple(registers), values[order])
