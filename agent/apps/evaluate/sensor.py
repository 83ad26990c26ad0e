"""`edge-agent evaluate sensor`: SKAB's outlier-detection protocol through the agent's scorer.

A dataset is a folder of SKAB-format CSVs (`;`-separated, a header naming the sensor columns
and `anomaly`), searched recursively; files without an `anomaly` column (SKAB's
anomaly-free.csv) are skipped. Each file is one installation: a fresh SensorScorer, built
from a ModbusConfig whose registers are the model's channels polled at 1 Hz, is fed its rows
one by one as Samples, so it learns that file's baseline exactly as the agent learns a
site's. A row is predicted anomalous when the Score's value is >= 0.5 (the model's calibrated
threshold); a row without a Score (window filling, baseline learning) is predicted normal.

As in SKAB's protocol, the first 400 rows of each file are its training part and only the
remaining rows are scored: F1 of the anomalous class, FAR = FP / (FP + TN) * 100 and
MAR = FN / (FN + TP) * 100, over all files' test rows together.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.apps.evaluate.datasets import DatasetError
from agent.core.samples import Sample
from agent.inference.loading import load_session
from agent.inference.metadata import ModelMetadata
from agent.inference.session import InferenceSession, ModelError
from agent.senses.sensor.config import SENSE, ModbusConfig, RegisterConfig
from agent.senses.sensor.scorer import SensorScorer

TRAIN_ROWS = 400  # SKAB: the first 400 rows of each file are its training part
LABEL = "anomaly"
ALARM = 0.5
SKAB_HZ = 1.0


@dataclass(frozen=True, slots=True)
class Recording:
    """One SKAB file: channel values in the requested order, and labels when it has them."""

    values: np.ndarray  # (rows, channels) float64
    anomaly: np.ndarray | None  # (rows,) bool


@dataclass(frozen=True, slots=True)
class Counts:
    """Confusion counts of the anomalous class."""

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )


def count(truth: np.ndarray, predicted: np.ndarray) -> Counts:
    """Confusion counts of two boolean row vectors (True = anomalous)."""
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    return Counts(
        tp=int(np.sum(truth & predicted)),
        fp=int(np.sum(~truth & predicted)),
        fn=int(np.sum(truth & ~predicted)),
        tn=int(np.sum(~truth & ~predicted)),
    )


def outlier_metrics(counts: Counts) -> dict[str, float]:
    """SKAB's F1 (anomalous class), FAR and MAR in %; a rate with no rows behind it is 0."""
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    far = 100.0 * fp / (fp + tn) if fp + tn else 0.0
    mar = 100.0 * fn / (fn + tp) if fn + tp else 0.0
    return {"f1": round(f1, 4), "far": round(far, 4), "mar": round(mar, 4)}


def find_csvs(data: Path) -> list[Path]:
    """Every CSV under the folder, in a stable order."""
    if not data.is_dir():
        raise DatasetError(f"{data}: not a folder of SKAB-format CSV files")
    paths = sorted(data.rglob("*.csv"))
    if not paths:
        raise DatasetError(f"{data}: no .csv files (expected SKAB's valve1/, valve2/, other/)")
    return paths


def read_recording(path: Path, channels: list[str]) -> Recording:
    """The file's `channels` columns and its `anomaly` labels (None when it has none)."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    if not rows:
        raise DatasetError(f"{path}: empty file")
    header = [name.strip() for name in rows[0]]
    missing = [c for c in channels if c not in header]
    if missing:
        raise DatasetError(f"{path}: missing channel columns {missing} (header: {header})")
    wanted = [header.index(c) for c in channels]
    label = header.index(LABEL) if LABEL in header else None
    values = np.empty((len(rows) - 1, len(channels)))
    anomaly = np.zeros(len(rows) - 1, dtype=bool)
    for i, row in enumerate(rows[1:]):
        try:
            values[i] = [float(row[j]) for j in wanted]
            if label is not None:
                anomaly[i] = float(row[label]) == 1.0
        except (ValueError, IndexError) as exc:
            raise DatasetError(f"{path}:{i + 2}: not a numeric SKAB row ({exc})") from exc
    return Recording(values, anomaly if label is not None else None)


def evaluation_config(channels: list[str]) -> ModbusConfig:
    """The config an operator writes for a SKAB rig: the model's channels, polled at 1 Hz."""
    registers = [
        RegisterConfig(name=name, address=2 * i, data_type="float32")
        for i, name in enumerate(channels)
    ]
    return ModbusConfig(registers=registers, poll_hz=SKAB_HZ)


def predict(scorer: SensorScorer, channels: list[str], values: np.ndarray) -> np.ndarray:
    """The agent's alarm decision for each row, fed in order as live samples."""
    flags = np.zeros(len(values), dtype=bool)
    for i, row in enumerate(values):
        sample = Sample("skab", SENSE, float(i), dict(zip(channels, row, strict=True)))
        score = scorer.score(sample)
        flags[i] = score is not None and score.value >= ALARM
    return flags


def model_channels(session: InferenceSession) -> list[str]:
    """The registers the model reads; a model that does not name them cannot be fed SKAB."""
    channels = ModelMetadata.of(session).str_list("channels")
    if not channels:
        raise ModelError(f"model {session.version}: metadata 'channels' names no registers")
    return channels


def evaluate(data: Path, model: Path) -> dict[str, Any]:
    """Metrics over the test parts of every labelled file under `data`, plus per-file ones."""
    session = load_session(model)
    channels = model_channels(session)
    config = evaluation_config(channels)
    total = Counts(0, 0, 0, 0)
    per_file: dict[str, dict[str, Any]] = {}
    for path in find_csvs(data):
        recording = read_recording(path, channels)
        if recording.anomaly is None:
            continue
        flags = predict(SensorScorer("skab", config, session), channels, recording.values)
        counts = count(recording.anomaly[TRAIN_ROWS:], flags[TRAIN_ROWS:])
        total += counts
        per_file[path.relative_to(data).as_posix()] = {**outlier_metrics(counts), **asdict(counts)}
    if not per_file:
        raise DatasetError(f"{data}: no CSV has an {LABEL!r} column to evaluate against")
    return {
        **outlier_metrics(total),
        "files": len(per_file),
        "rows": total.tp + total.fp + total.fn + total.tn,
        "model": session.version,
        "per_file": per_file,
    }
