"""`edge-agent evaluate sound`: the sound model scored on labelled clips, through the agent's path.

Layout: DATA/<class>/<clip>.wav|flac, one sub-folder per class named as in the model's
`class_names`. Each file is one window: it is read as the microphone source reads a file
(float32, channels averaged) and scored by a `SoundScorer` exactly as the agent scores a
window, with the silence gate the model was trained with (metadata `silence_db`, else the
config default). Cut long recordings into windows of the deployed `window_s` first.

A clip judged "silence" (too little sound over the gate) counts as predicted normal: the agent
gives it score 0, which is what a normal prediction means to it; `silent_clips` reports how
many there were, so a gate that swallows the data does not pass unnoticed.

Result keys (a contract): `accuracy`; `macro_f1` (mean F1 over the classes present in the
data); `classes` (those classes, in the model's order); `confusion` (true class → {predicted
class: count}, rows for the classes present, columns for every model class, zeros included);
`clips` (how many). Extra: `per_class` (precision, recall, f1, support), `silent_clips`,
`max_normal_score` (the highest score, 1 − p(normal), that a normal clip got: a sound alarm
threshold above it lets every normal clip pass; None without normal clips).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pydantic import ValidationError

from agent.apps.evaluate.datasets import DatasetError
from agent.core.samples import Sample, Score
from agent.inference.loading import load_session
from agent.inference.session import ModelError
from agent.senses.audio.config import SENSE, MicrophoneConfig
from agent.senses.audio.preprocess import to_mono_float
from agent.senses.audio.scorer import SILENCE, SoundScorer

AUDIO_SUFFIXES = (".wav", ".flac")
DEVICE = "evaluate"


@dataclass(frozen=True, slots=True)
class Clip:
    """One labelled audio file."""

    path: Path
    label: str


def evaluate(data: Path, model: Path) -> dict[str, Any]:
    """Score every clip under `data` with `model` and return the contract's metrics."""
    clips = find_clips(data)
    session = load_session(model)
    config = scorer_config(model, session.metadata, clips[0].path)
    scorer = SoundScorer(DEVICE, config, session)
    unknown = sorted({c.label for c in clips} - set(scorer.class_names))
    if unknown:
        raise DatasetError(
            f"{data}: folders {unknown} are not classes of the model {scorer.models[0]} "
            f"(its classes: {scorer.class_names})"
        )
    scores = [scored(scorer, c.path) for c in clips]
    labels = [score.label for score in scores]
    normal = config.classifier.normal_class
    predicted = [normal if label == SILENCE else label for label in labels]
    present = [name for name in scorer.class_names if name in {c.label for c in clips}]
    result = classification_metrics(
        [c.label for c in clips], predicted, present, scorer.class_names
    )
    result["silent_clips"] = labels.count(SILENCE)
    normal_scores = [s.value for s, c in zip(scores, clips, strict=True) if c.label == normal]
    result["max_normal_score"] = round(max(normal_scores), 4) if normal_scores else None
    return result


def find_clips(data: Path) -> list[Clip]:
    """Audio files of each class folder, sorted; a missing or empty dataset is an error."""
    if not data.is_dir():
        raise DatasetError(f"{data}: no such folder (expected one sub-folder of clips per class)")
    folders = sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(f"{data}: no class sub-folders (expected DATA/<class>/<clip>.wav)")
    clips: list[Clip] = []
    for folder in folders:
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
        )
        if not files:
            raise DatasetError(f"{folder}: no WAV or FLAC files in this class folder")
        clips += [Clip(path, folder.name) for path in files]
    return clips


def scorer_config(model: Path, metadata: dict[str, str], replay_file: Path) -> MicrophoneConfig:
    """A microphone config as deployed with this model: its own silence gate and normal class.

    Spectral subtraction stays off: it learns across windows, and clips are independent.
    `file` is only there because a config needs an input; nothing replays it.
    """
    classifier: dict[str, Any] = {"model": model}
    fields: dict[str, Any] = {"file": replay_file, "classifier": classifier}
    if "normal_class" in metadata:
        classifier["normal_class"] = metadata["normal_class"]
    try:
        return MicrophoneConfig.model_validate(fields)
    except ValidationError as exc:
        raise ModelError(
            f"{model}: metadata does not make a valid microphone config: {exc}"
        ) from exc


def read_clip(path: Path) -> Sample:
    """One whole file as one audio Sample, read as the microphone source reads a file."""
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:  # LibsndfileError is a RuntimeError
        raise DatasetError(f"cannot read audio file {path}: {exc}") from exc
    return Sample(
        device=DEVICE,
        modality=SENSE,
        captured_at=time.time(),
        data=to_mono_float(samples),
        meta={"sample_rate": int(rate), "source": str(path)},
    )


def classification_metrics(
    true: Sequence[str], predicted: Sequence[str], present: Sequence[str], columns: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 over `present`, confusion (rows `present`, columns `columns`)."""
    confusion = {t: {p: 0 for p in columns} for t in present}
    for t, p in zip(true, predicted, strict=True):
        confusion[t][p] += 1
    per_class = {name: _class_scores(name, true, predicted) for name in present}
    correct = sum(t == p for t, p in zip(true, predicted, strict=True))
    return {
        "accuracy": round(correct / len(true), 4),
        "macro_f1": round(float(np.mean([s["f1"] for s in per_class.values()])), 4),
        "confusion": confusion,
        "classes": list(present),
        "clips": len(true),
        "per_class": {
            name: {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}
            for name, scores in per_class.items()
        },
    }


def _class_scores(name: str, true: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """One-vs-rest precision, recall and F1, unrounded; 0 where nothing was predicted."""
    hits = sum(t == p == name for t, p in zip(true, predicted, strict=True))
    support = sum(t == name for t in true)
    claimed = sum(p == name for p in predicted)
    precision = hits / claimed if claimed else 0.0
    recall = hits / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def scored(scorer: SoundScorer, path: Path) -> Score:
    """One clip's score; a DatasetError naming the clip when the scorer cannot take it (a rate
    below the model's, for one)."""
    try:
        return scorer.score(read_clip(path))
    except ValueError as exc:
        raise DatasetError(f"{path}: {exc}") from None
