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

Alongside, under `learned`, the sense's on-site learning as the agent runs it: a
SensorLearner (the sense's LearningSpec) observes the file's first 400 rows, its params go
through JSON as on the card, and the learned scorer is fed every row, the same registers and
window as the model. A row is predicted anomalous when its calibrated score reaches
LEARNED_ALARM, a level fixed before any SKAB run: one healthy window in a thousand scores
higher. A file whose learning is refused is predicted all normal, and its reasons listed.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.apps.evaluate.datasets import DatasetError
from agent.boundedfile import FileTooLargeError, read_at_most
from agent.core.samples import Sample, Score
from agent.inference.loading import load_session
from agent.inference.metadata import ModelMetadata
from agent.inference.session import InferenceSession, ModelError
from agent.senses.learning import LearningRefused
from agent.senses.sensor import SENSOR
from agent.senses.sensor.config import SENSE, ModbusConfig, RegisterConfig
from agent.senses.sensor.scorer import SensorScorer

TRAIN_ROWS = 400  # SKAB: the first 400 rows of each file are its training part
MAX_RECORDING_BYTES = 256 * 1024 * 1024  # a SKAB file is 100 to 800 KB
LABEL = "anomaly"
ALARM = 0.5
LEARNED_ALARM = 0.999  # calibrated: P(a healthy window of this file scores lower)
SKAB_HZ = 1.0
DEVICE = "skab"

Scoring = Callable[[Sample], Score | None]  # a scorer's `score`, fed one row at a time


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
    try:  # a file is untrusted: bounded, strict UTF-8, csv's own limits named
        text = read_at_most(path, MAX_RECORDING_BYTES).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    except FileTooLargeError:
        raise DatasetError(f"{path}: larger than {MAX_RECORDING_BYTES} bytes") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: not a SKAB-format CSV ({exc})") from None
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
    if not np.isfinite(values).all():
        line = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0]) + 2
        raise DatasetError(f"{path}:{line}: a value that is not a finite number")
    return Recording(values, anomaly if label is not None else None)


def evaluation_config(channels: list[str]) -> ModbusConfig:
    """The config an operator writes for a SKAB rig: the model's channels, polled at 1 Hz."""
    registers = [
        RegisterConfig(name=name, address=2 * i, data_type="float32")
        for i, name in enumerate(channels)
    ]
    return ModbusConfig(registers=registers, poll_hz=SKAB_HZ)


def samples(channels: list[str], values: np.ndarray) -> list[Sample]:
    """The rows as the Modbus source would yield them, one per second."""
    return [
        Sample(DEVICE, SENSE, float(i), dict(zip(channels, row, strict=True)))
        for i, row in enumerate(values)
    ]


def predict(score: Scoring, rows: list[Sample], alarm: float) -> np.ndarray:
    """The agent's alarm decision for each row, fed in order as live samples."""
    flags = np.zeros(len(rows), dtype=bool)
    for i, sample in enumerate(rows):
        result = score(sample)
        flags[i] = result is not None and result.value >= alarm
    return flags


def predict_learned(
    config: ModbusConfig, rows: list[Sample], learning_rows: list[Sample] | None = None
) -> np.ndarray:
    """Learn as the agent would on site, on `learning_rows` (default: the file's training
    part), then flag every row."""
    learning = SENSOR.learning
    assert learning is not None  # the sensor sense learns (agent/senses/sensor/__init__.py)
    learner = learning.learner(DEVICE, config)
    for sample in rows[:TRAIN_ROWS] if learning_rows is None else learning_rows:
        learner.observe(sample)
    learned = learner.finish()
    card = json.loads(json.dumps({"params": learned.params, "summary": learned.summary}))
    learned = replace(learned, params=card["params"], summary=card["summary"])
    with tempfile.TemporaryDirectory(prefix="evaluate-sensor-") as folder:
        for name, content in learned.files.items():
            (Path(folder) / name).write_bytes(content)
        scorer = learning.scorer(DEVICE, config, learned, Path(folder))
    return predict(scorer.score, rows, LEARNED_ALARM)


def learned_or_refused(
    config: ModbusConfig, rows: list[Sample], learning_rows: list[Sample] | None = None
) -> tuple[np.ndarray, list[str]]:
    """`predict_learned`'s flags, or every row normal and the reasons when learning refused."""
    try:
        return predict_learned(config, rows, learning_rows), []
    except LearningRefused as exc:
        return np.zeros(len(rows), dtype=bool), exc.reasons


def model_channels(session: InferenceSession) -> list[str]:
    """The registers the model reads; a model that does not name them cannot be fed SKAB."""
    channels = ModelMetadata.of(session).str_list("channels")
    if not channels:
        raise ModelError(f"model {session.version}: metadata 'channels' names no registers")
    return channels


def evaluate(data: Path, model: Path) -> dict[str, Any]:
    """Metrics over the test parts of every labelled file under `data`, plus per-file ones,
    for the model and, under `learned`, for the sense learning each file's training part."""
    session = load_session(model)
    channels = model_channels(session)
    config = evaluation_config(channels)
    learning_config = config.model_copy(update={"window": model_window(session)})
    total, learned_total = Counts(0, 0, 0, 0), Counts(0, 0, 0, 0)
    per_file: dict[str, dict[str, Any]] = {}
    learned_per_file: dict[str, dict[str, Any]] = {}
    refused: dict[str, list[str]] = {}
    for path in find_csvs(data):
        recording = read_recording(path, channels)
        if recording.anomaly is None:
            continue
        name = path.relative_to(data).as_posix()
        rows = samples(channels, recording.values)
        truth = recording.anomaly[TRAIN_ROWS:]
        flags = predict(SensorScorer(DEVICE, config, session).score, rows, ALARM)
        counts = count(truth, flags[TRAIN_ROWS:])
        total += counts
        per_file[name] = {**outlier_metrics(counts), **asdict(counts)}
        learned_flags, reasons = learned_or_refused(learning_config, rows)
        if reasons:
            refused[name] = reasons
        counts = count(truth, learned_flags[TRAIN_ROWS:])
        learned_total += counts
        learned_per_file[name] = {**outlier_metrics(counts), **asdict(counts)}
    if not per_file:
        raise DatasetError(f"{data}: no CSV has an {LABEL!r} column to evaluate against")
    return {
        **outlier_metrics(total),
        "files": len(per_file),
        "rows": total.tp + total.fp + total.fn + total.tn,
        "model": session.version,
        "per_file": per_file,
        "learned": {
            **outlier_metrics(learned_total),
            "alarm": LEARNED_ALARM,
            "refused": refused,
            "per_file": learned_per_file,
        },
    }


def model_window(session: InferenceSession) -> int | None:
    """The model's window, which the learner then uses too, so both rows see alike."""
    return ModelMetadata.of(session).integer("window")
