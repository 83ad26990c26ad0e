"""Train the sound CNN-LSTM on the CWRU bearing clips (../shared/data/sound), export to ONNX.

Needs the `train` extra (torch) plus the agent's audio dependencies; run from the repository
root with PYTHONPATH=. so the features come from `agent.senses.audio.preprocess.window_features`,
the very function the agent runs. The split is by recording (a recording's clips are all on
one side); a class with a single recording (normal) is split in time instead. The epoch
count is chosen on a validation split of the training recordings, then the model is refit
on all of them; the held-out recordings are touched only for the final report.

    PYTHONPATH=. .venv-train/bin/python tools/train_sound.py --data ../shared/data/sound
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import soundfile as sf
import torch
from torch import nn

from agent.apps.evaluate.sound import classification_metrics
from agent.senses.audio.preprocess import NUMCEP, to_mono_float, window_features

MODEL_RATE = 12_000
CLIP_S = 1.0
NORMAL = "normal"
NAME = "sound-cnn-lstm"
VERSION = "1.0.0"
OPSET = 17
IR_VERSION = 8  # what the agent's tests pin: loadable by older ONNX Runtimes on the Jetson
CLIP_NAME = re.compile(r"^(?P<recording>.+)_c(?P<index>\d+)$")


@dataclass(frozen=True)
class Recording:
    """Consecutive 1-s clips of one original recording, in time order."""

    name: str
    label: str
    clips: tuple[Path, ...]

    def signal(self) -> tuple[np.ndarray, int]:
        """The clips joined back into one signal (they were cut back to back)."""
        parts = [read_audio(path) for path in self.clips]
        rates = {rate for _, rate in parts}
        if len(rates) != 1:
            raise ValueError(f"{self.name}: clips at several sample rates {sorted(rates)}")
        return np.concatenate([signal for signal, _ in parts]), rates.pop()


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 as the agent's microphone source reads a file."""
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    return to_mono_float(samples), int(rate)


def discover(data: Path) -> list[Recording]:
    """Recordings per class folder, from the `<recording>_c<NN>.wav` names."""
    recordings = []
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        groups: dict[str, list[tuple[int, Path]]] = defaultdict(list)
        for path in folder.glob("*.wav"):
            match = CLIP_NAME.match(path.stem)
            if match is None:
                raise ValueError(f"{path}: expected <recording>_c<NN>.wav")
            groups[match["recording"]].append((int(match["index"]), path))
        for name, indexed in sorted(groups.items()):
            recordings.append(Recording(name, folder.name, tuple(p for _, p in sorted(indexed))))
    return recordings


def bearing(recording: Recording) -> str:
    """The seeded-fault bearing a recording was made on: its name without the load (IR014_3)."""
    return recording.name.rsplit("_", 1)[0]


GROUPS: dict[str, Callable[[Recording], str]] = {
    "recording": lambda recording: recording.name,
    "bearing": bearing,
}


def split(
    recordings: list[Recording],
    fraction: float,
    rng: np.random.Generator,
    group: Callable[[Recording], str],
) -> tuple[list[Recording], list[Recording]]:
    """Hold out `fraction` of each class's groups (at least one, never all), whole.

    A class with a single group (normal: one recording) is split in time instead: the last
    clips of each of its recordings are held out.
    """
    kept: list[Recording] = []
    held: list[Recording] = []
    for label in sorted({r.label for r in recordings}):
        members = [r for r in recordings if r.label == label]
        names = sorted({group(r) for r in members})
        if len(names) == 1:
            for early, late in (split_in_time(r, fraction) for r in members):
                kept.append(early)
                held.append(late)
            continue
        count = min(len(names) - 1, max(1, round(fraction * len(names))))
        chosen = {names[i] for i in rng.choice(len(names), size=count, replace=False)}
        held += [r for r in members if group(r) in chosen]
        kept += [r for r in members if group(r) not in chosen]
    return kept, held


def split_in_time(recording: Recording, fraction: float) -> tuple[Recording, Recording]:
    """Early clips and the last `fraction` of them (at least one) as two recordings."""
    count = len(recording.clips)
    held = min(count - 1, max(1, round(fraction * count)))
    early, late = recording.clips[: count - held], recording.clips[count - held :]
    return (
        Recording(f"{recording.name}[{_span(early)}]", recording.label, early),
        Recording(f"{recording.name}[{_span(late)}]", recording.label, late),
    )


def _span(clips: tuple[Path, ...]) -> str:
    """'c00-c02': the window indices a time split kept."""
    first, last = (p.stem.rsplit("_", 1)[1] for p in (clips[0], clips[-1]))
    return first if first == last else f"{first}-{last}"


def features(signal: np.ndarray, rate: int, silence_db: float) -> np.ndarray:
    """[T, 40] model input, computed exactly as the agent computes it."""
    return window_features(signal, rate, MODEL_RATE, silence_db).mfcc


def clip_set(
    recordings: list[Recording], classes: list[str], silence_db: float
) -> tuple[list[np.ndarray], np.ndarray]:
    """Every clip as it is, one window each: what validation and test score."""
    xs, ys = [], []
    for recording in recordings:
        for path in recording.clips:
            signal, rate = read_audio(path)
            xs.append(features(signal, rate, silence_db))
            ys.append(classes.index(recording.label))
    return xs, np.array(ys)


def augmented_set(
    recordings: list[Recording],
    classes: list[str],
    silence_db: float,
    crops: dict[str, int],
    gain_db: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Random 1-s crops of each recording (time shifts), each at a small random gain.

    The gain stays within ±gain_db so levels remain realistic for the dBFS silence gate.
    """
    xs, ys = [], []
    for recording in recordings:
        signal, rate = recording.signal()
        length = round(CLIP_S * rate)
        for _ in range(crops[recording.label]):
            start = int(rng.integers(0, signal.size - length + 1))
            gain = 10.0 ** (rng.uniform(-gain_db, gain_db) / 20.0)
            crop = np.clip(signal[start : start + length] * gain, -1.0, 1.0)
            xs.append(features(crop, rate, silence_db))
            ys.append(classes.index(recording.label))
    return np.stack(xs), np.array(ys)


class CnnLstm(nn.Module):
    """Fixed feature scaling → 2 × (Conv1d, BatchNorm, ReLU, MaxPool) → BiLSTM → mean → head."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.conv = nn.Sequential(
            _conv_block(NUMCEP, 64),
            _conv_block(64, 128),
        )
        self.lstm = nn.LSTM(128, 128, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(256, n_classes)

    def forward(self, mfcc: torch.Tensor) -> torch.Tensor:
        """[B, T, 40] unnormalised MFCC → [B, C] logits."""
        scaled = (mfcc - self.mean) / self.std
        hidden = self.conv(scaled.transpose(1, 2)).transpose(1, 2)
        sequence, _ = self.lstm(hidden)
        return self.head(self.dropout(sequence.mean(dim=1)))


def _conv_block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(inputs, outputs, kernel_size=5, padding=2),
        nn.BatchNorm1d(outputs),
        nn.ReLU(),
        nn.MaxPool1d(2),
    )


def build_model(train_clips: list[np.ndarray], n_classes: int, args: argparse.Namespace) -> CnnLstm:
    """A fresh model whose feature scaling is the training clips' per-coefficient mean/std."""
    torch.manual_seed(args.seed)
    frames = np.concatenate(train_clips)
    std = np.maximum(frames.std(axis=0), 1e-6)
    return CnnLstm(frames.mean(axis=0), std, n_classes, args.dropout)


def class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse class frequency, normalised so a balanced set gets weight 1 each."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return torch.tensor(labels.size / (n_classes * counts), dtype=torch.float32)


def train_epoch(
    model: CnnLstm,
    data: tuple[np.ndarray, np.ndarray],
    optimiser: torch.optim.Optimizer,
    loss_fn: nn.Module,
    batch: int,
    rng: np.random.Generator,
) -> float:
    """One shuffled pass; returns the mean training loss."""
    model.train()
    xs, ys = data
    order = rng.permutation(len(ys))
    total = 0.0
    for start in range(0, len(order), batch):
        index = order[start : start + batch]
        optimiser.zero_grad()
        loss = loss_fn(model(torch.from_numpy(xs[index])), torch.from_numpy(ys[index]))
        loss.backward()
        optimiser.step()
        total += loss.item() * len(index)
    return total / len(ys)


def logits_of(model: CnnLstm, clips: list[np.ndarray]) -> np.ndarray:
    """[N, C] logits, one clip at a time as the agent runs it (T may differ per clip)."""
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[np.newaxis])).numpy() for x in clips])


def fit(
    model: CnnLstm,
    data: tuple[np.ndarray, np.ndarray],
    epochs: int,
    args: argparse.Namespace,
    on_epoch: ValidationHook | None = None,
) -> list[dict[str, float]]:
    """Adam, cosine-annealed to 0 over `epochs`, class-weighted cross-entropy.

    The annealing matters: at a constant rate the validation score swung by ±0.1 from one
    epoch to the next, so whichever epoch training stopped at was a lottery.
    """
    rng = np.random.default_rng(args.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(data[1], model.head.out_features))
    history = []
    for epoch in range(1, epochs + 1):
        record = {
            "epoch": epoch,
            "train_loss": train_epoch(model, data, optimiser, loss_fn, args.batch, rng),
        }
        schedule.step()
        if on_epoch is not None:
            record |= on_epoch(model)
        history.append(record)
        print(json.dumps({k: round(v, 4) for k, v in record.items()}), flush=True)
    return history


class ValidationHook:
    """Validation loss and macro-F1 of the current model on whole clips."""

    def __init__(self, clips: list[np.ndarray], labels: np.ndarray, classes: list[str]) -> None:
        self.clips, self.labels, self.classes = clips, labels, classes

    def __call__(self, model: CnnLstm) -> dict[str, float]:
        logits = logits_of(model, self.clips)
        loss = nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(self.labels))
        metrics = score(logits, self.labels, self.classes)
        return {
            "val_loss": float(loss),
            "val_macro_f1": metrics["macro_f1"],
            "val_accuracy": metrics["accuracy"],
        }


def score(logits: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, object]:
    """The evaluator's own metrics on argmax predictions."""
    true = [classes[i] for i in labels]
    predicted = [classes[i] for i in logits.argmax(axis=1)]
    present = [c for c in classes if c in true]
    return classification_metrics(true, predicted, present, classes)


def best_epoch(history: list[dict[str, float]]) -> int:
    """Highest validation macro-F1; ties go to the lower validation loss, then the earlier."""
    best = max(history, key=lambda r: (r["val_macro_f1"], -r["val_loss"], -r["epoch"]))
    return int(best["epoch"])


def export(model: CnnLstm, path: Path, metadata: dict[str, str], example: np.ndarray) -> None:
    """ONNX opset 17: input `mfcc` [batch, time, 40], output `logits`, metadata props."""
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (torch.from_numpy(example[np.newaxis]),),
        str(path),
        input_names=["mfcc"],
        output_names=["logits"],
        dynamic_axes={"mfcc": {0: "batch", 1: "time"}, "logits": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    graph = onnx.load(str(path))
    graph.ir_version = IR_VERSION
    onnx.helper.set_model_props(graph, metadata)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def parity(model: CnnLstm, path: Path, clips: list[np.ndarray]) -> float:
    """Max |ONNX Runtime − PyTorch| over the logits of `clips`."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_logits = np.concatenate([session.run(None, {"mfcc": x[np.newaxis]})[0] for x in clips])
    return float(np.max(np.abs(onnx_logits - logits_of(model, clips))))


def link_heldout(recordings: list[Recording], target: Path) -> None:
    """DATA/<class>/<clip>.wav of the held-out clips, for `edge-agent evaluate sound`."""
    if target.exists():
        shutil.rmtree(target)
    for recording in recordings:
        folder = target / recording.label
        folder.mkdir(parents=True, exist_ok=True)
        for path in recording.clips:
            (folder / path.name).symlink_to(path.resolve())


def describe(recordings: list[Recording]) -> dict[str, list[str]]:
    """Recording names by class, so the report says exactly what was trained and tested on."""
    by_class: dict[str, list[str]] = defaultdict(list)
    for recording in recordings:
        by_class[recording.label].append(recording.name)
    return dict(sorted(by_class.items()))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/sound"))
    parser.add_argument("--out", type=Path, default=Path("runs/sound"))
    parser.add_argument("--model-out", type=Path, default=Path(f"models/{NAME}.onnx"))
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--group",
        choices=sorted(GROUPS),
        default="recording",
        help="what a split keeps whole: a recording (one load), or a bearing (all its loads)",
    )
    parser.add_argument("--test-fraction", type=float, default=0.27)
    parser.add_argument("--val-fraction", type=float, default=0.25)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--crops", type=int, default=40, help="1-s crops per fault recording")
    parser.add_argument("--normal-crops", type=int, default=120, help="crops per normal part")
    parser.add_argument("--gain-db", type=float, default=3.0)
    parser.add_argument("--silence-db", type=float, default=-60.0)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    recordings = discover(args.data)
    classes = [NORMAL, *sorted({r.label for r in recordings} - {NORMAL})]
    rng = np.random.default_rng(args.seed)
    group = GROUPS[args.group]
    train, test = split(recordings, args.test_fraction, rng, group)
    fit_part, val_part = split(train, args.val_fraction, rng, group)
    crops = {c: args.normal_crops if c == NORMAL else args.crops for c in classes}

    def training_set(part: list[Recording]) -> tuple[np.ndarray, np.ndarray]:
        return augmented_set(part, classes, args.silence_db, crops, args.gain_db, rng)

    fit_clips, _ = clip_set(fit_part, classes, args.silence_db)
    val_clips, val_labels = clip_set(val_part, classes, args.silence_db)
    probe = build_model(fit_clips, len(classes), args)
    selection_started = time.time()
    history = fit(
        probe,
        training_set(fit_part),
        args.max_epochs,
        args,
        ValidationHook(val_clips, val_labels, classes),
    )
    selection_s = time.time() - selection_started
    epochs = best_epoch(history)

    train_clips, _ = clip_set(train, classes, args.silence_db)
    model = build_model(train_clips, len(classes), args)
    refit_started = time.time()
    fit(model, training_set(train), epochs, args)
    refit_s = time.time() - refit_started

    metadata = {
        "name": NAME,
        "version": VERSION,
        "class_names": json.dumps(classes),
        "sample_rate": str(MODEL_RATE),
        "normal_class": NORMAL,
        "silence_db": str(args.silence_db),
        "output": "logits",
    }
    export(model, args.model_out, metadata, train_clips[0])
    test_clips, test_labels = clip_set(test, classes, args.silence_db)
    args.out.mkdir(parents=True, exist_ok=True)
    link_heldout(test, args.out / "heldout")
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) for k, v in vars(args).items()},
        "classes": classes,
        "split": {
            "train": describe(train),
            "test": describe(test),
            "selection_fit": describe(fit_part),
            "selection_val": describe(val_part),
            "train_clips": len(train_clips),
            "test_clips": len(test_clips),
        },
        "selection_history": history,
        "epochs": epochs,
        "selection_wall_s": round(selection_s, 1),
        "refit_wall_s": round(refit_s, 1),
        "total_wall_s": round(time.time() - started, 1),
        "test": score(logits_of(model, test_clips), test_labels, classes),
        "parity_max_abs_diff": parity(model, args.model_out, test_clips),
        "onnx_bytes": args.model_out.stat().st_size,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("epochs", "total_wall_s", "parity_max_abs_diff")}))
    print(json.dumps(report["test"]))


if __name__ == "__main__":
    main()
