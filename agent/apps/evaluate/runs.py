"""Recorded runs of one machine for `edge-agent evaluate baseline`: windows in time order.

A run is either one FEMTO/PRONOSTIA `.npz` (keys `x` [snapshots, samples], `t_s`, `fs`; the
run ends in failure) or a folder of WAV/FLAC clips sorted by file name (any sample rate, the
same within the run). A folder's optional `run.yaml` says `ends_in_failure: true` and the
`interval_s` between clip starts (default: the clip length); without it the run is healthy.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from pydantic import ValidationError

from agent.apps.evaluate.datasets import DatasetError
from agent.config.base import Seconds, StrictModel, duration_seconds
from agent.config.loader import ConfigError, parse_yaml
from agent.senses.audio.preprocess import to_mono_float

CLIP_SUFFIXES = (".wav", ".flac")
MAX_RUN_YAML_BYTES = 64 * 1024


class RunInfo(StrictModel):
    """A clip folder's run.yaml."""

    ends_in_failure: bool = False
    interval_s: Seconds | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """One machine's recording, from the start of its life (or monitoring) to its end."""

    name: str
    windows: np.ndarray  # [n, samples] float32, oldest first
    rate: int
    times_s: np.ndarray  # start of each window, seconds since the first
    ends_in_failure: bool

    @property
    def end_s(self) -> float:
        """When the run ends: the last window's start plus its length."""
        return float(self.times_s[-1]) + self.windows.shape[1] / self.rate


def read_runs(data: Path) -> list[Run]:
    """Every run under `data` (a .npz file, or a folder of .npz files and clip folders)."""
    if data.is_file():
        return [read_npz(data)]
    runs = [read_npz(p) for p in sorted(data.glob("*.npz"))]
    folders = (read_clip_folder(d) for d in sorted(p for p in data.iterdir() if p.is_dir()))
    runs += [run for run in folders if run is not None]
    if not runs:
        raise DatasetError(f"{data}: no runs (.npz files or folders of WAV/FLAC clips)")
    return runs


def read_npz(path: Path) -> Run:
    """A FEMTO/PRONOSTIA run-to-failure history."""
    try:
        # opened here, so it is closed even when numpy finds no zip in it
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as npz:
            windows = np.asarray(npz["x"], dtype=np.float32)
            times = np.asarray(npz["t_s"], dtype=np.float64)
            fs = np.asarray(npz["fs"])
            rate = int(fs) if fs.ndim == 0 else 0
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: not a run file with x, t_s and fs ({exc})") from exc
    if windows.ndim != 2 or windows.shape[0] == 0 or times.shape != (windows.shape[0],):
        raise DatasetError(f"{path}: x must be [snapshots, samples] with one t_s per snapshot")
    if rate <= 0:
        raise DatasetError(f"{path}: fs must be one positive number (samples per second)")
    if not np.isfinite(times).all() or (np.diff(times) <= 0).any():
        raise DatasetError(f"{path}: t_s must be finite and increase from one snapshot to the next")
    return Run(path.stem, windows, rate, times - times[0], ends_in_failure=True)


def read_clip_folder(folder: Path) -> Run | None:
    """A folder of clips in file-name order; None when it holds none."""
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in CLIP_SUFFIXES)
    if not clips:
        return None
    info = read_run_info(folder / "run.yaml")
    windows, rate = [], None
    for clip in clips:
        try:
            samples, clip_rate = soundfile.read(clip, always_2d=False)
        except (OSError, RuntimeError) as exc:
            raise DatasetError(f"{clip}: unreadable ({exc})") from exc
        if rate is not None and clip_rate != rate:
            raise DatasetError(f"{clip}: {clip_rate} Hz, but the run's clips are at {rate} Hz")
        rate = int(clip_rate)
        windows.append(to_mono_float(samples))
    length = min(w.size for w in windows)
    stacked = np.stack([w[:length] for w in windows])
    assert rate is not None
    interval = info.interval_s or length / rate
    times = np.arange(len(windows), dtype=np.float64) * interval
    return Run(folder.name, stacked, rate, times, info.ends_in_failure)


def read_run_info(path: Path) -> RunInfo:
    """The folder's run.yaml, or the defaults without one."""
    if not path.is_file():
        return RunInfo()
    if path.stat().st_size > MAX_RUN_YAML_BYTES:
        raise DatasetError(f"{path}: larger than {MAX_RUN_YAML_BYTES} bytes")
    try:  # the config's reader: UTF-8, nesting and aliases bounded
        return RunInfo.model_validate(parse_yaml(path.read_bytes(), str(path)) or {})
    except ConfigError as exc:
        raise DatasetError(str(exc)) from exc  # names the file and the line
    except ValidationError as exc:
        raise DatasetError(f"{path}: {exc}") from exc


def learn_windows(run: Run, learn: str) -> int:
    """How many leading windows `learn` means: a fraction (0.1) or a duration (30m, 2h)."""
    if (seconds := duration_seconds(learn)) is not None:
        count = int(np.searchsorted(run.times_s, seconds, side="left"))
    else:
        try:
            fraction = float(learn)
        except ValueError:
            raise DatasetError(f"--learn {learn!r}: a fraction (0.1) or a duration (30m)") from None
        if not 0.0 < fraction < 1.0:
            raise DatasetError(f"--learn {learn!r}: a fraction must lie between 0 and 1")
        count = round(fraction * len(run.times_s))
    if not 0 < count < len(run.times_s):
        raise DatasetError(f"{run.name}: --learn {learn} leaves nothing to learn or to score")
    return count
