"""Train the sound CNN-LSTM on CWRU and UESTC bearing clips, export to ONNX.

Two rigs, so the model does not learn one machine's sound as "normal": CWRU
(../shared/data/sound, 12 kHz) and UESTC (../shared/data/bearings/uestc, 20 kHz, resampled by
the agent's own preprocessing). Needs the `train` extra (torch) plus the agent's audio
dependencies; run from the repository root with PYTHONPATH=. so the features come from
`agent.senses.audio.preprocess.window_features`, the very function the agent runs.

Splits never cut a recording: CWRU is split by recording (its single normal recording in
time), UESTC by shaft speed, one speed held out entirely as the test. Epochs and the score
threshold are chosen by cross-validation over the UESTC training speeds (each fold validates
on a speed it did not train on, plus CWRU validation recordings); the model is then refit on
all training data. The test recordings are touched only for the final report.

    PYTHONPATH=. ../venv-train/bin/python tools/train_sound.py \
        --data ../shared/data/sound --uestc ../shared/data/bearings/uestc
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

try:
    import torch
    from torch import nn
except ModuleNotFoundError as exc:  # the train extra, never the agent's own install
    raise SystemExit(
        f"tools/train_sound.py needs the train extra (pip install -e '.[cpu,train]'): {exc}"
    ) from exc

from agent.apps.evaluate.sound import classification_metrics
from agent.senses.audio.preprocess import NUMCEP, to_mono_float, window_features

MODEL_RATE = 12_000
CLIP_S = 1.0
NORMAL = "normal"
NAME = "sound-cnn-lstm"
VERSION = "1.1.0"
OPSET = 17
IR_VERSION = 8  # what the agent's tests pin: loadable by older ONNX Runtimes on the Jetson
CLIP_NAME = re.compile(r"^(?P<recording>.+)_c(?P<index>\d+)$")
UESTC_CLIP = re.compile(r"^(?P<rpm>\d+)rpm_f(?P<file>\d+)_c(?P<index>\d+)$")


@dataclass(frozen=True)
class Recording:
    """Consecutive 1-s clips of one original recording, in time order."""

    name: str
    label: str
    clips: tuple[Path, ...]
    rpm: int | None = None  # UESTC's shaft speed, the unit its split keeps whole

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


def discover_uestc(data: Path) -> list[Recording]:
    """One recording per class × speed × upstream file: clips are back to back only in a file."""
    groups: dict[tuple[str, int, int], list[tuple[int, Path]]] = defaultdict(list)
    for path in data.glob("*/*.wav"):
        match = UESTC_CLIP.match(path.stem)
        if match is None:
            raise ValueError(f"{path}: expected <rpm>rpm_f<k>_c<NN>.wav")
        key = (path.parent.name, int(match["rpm"]), int(match["file"]))
        groups[key].append((int(match["index"]), path))
    return [
        Recording(f"UESTC_{label}_{rpm}rpm_f{file}", label, tuple(p for _, p in sorted(i)), rpm)
        for (label, rpm, file), i in sorted(groups.items())
    ]


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
    crops: Callable[[Recording], int],
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
        for _ in range(crops(recording)):
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
    """Validation loss and macro-F1 of the current model on whole clips; keeps the logits."""

    def __init__(self, clips: list[np.ndarray], labels: np.ndarray, classes: list[str]) -> None:
        self.clips, self.labels, self.classes = clips, labels, classes
        self.logits: list[np.ndarray] = []

    def __call__(self, model: CnnLstm) -> dict[str, float]:
        logits = logits_of(model, self.clips)
        self.logits.append(logits)
        loss = nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(self.labels))
        metrics = score(logits, self.labels, self.classes)
        return {
            "val_loss": float(loss),
            "val_macro_f1": as_float(metrics["macro_f1"]),
            "val_accuracy": as_float(metrics["accuracy"]),
        }


def as_float(value: object) -> float:
    """A metric the evaluator reports as a number."""
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def score(logits: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, object]:
    """The evaluator's own metrics on argmax predictions."""
    true = [classes[i] for i in labels]
    predicted = [classes[i] for i in logits.argmax(axis=1)]
    present = [c for c in classes if c in true]
    return classification_metrics(true, predicted, present, classes)


def best_epoch(histories: list[list[dict[str, float]]]) -> int:
    """Highest mean validation macro-F1 over the folds; ties: lower mean loss, then earlier."""

    def mean(epoch: int, key: str) -> float:
        return float(np.mean([history[epoch - 1][key] for history in histories]))

    epochs = range(1, len(histories[0]) + 1)
    return max(epochs, key=lambda e: (mean(e, "val_macro_f1"), -mean(e, "val_loss"), -e))


def fault_scores(logits: np.ndarray, normal: int) -> np.ndarray:
    """The agent's sound score per clip: 1 − p(normal) of the softmax."""
    wide = logits.astype(np.float64)
    shifted = np.exp(wide - wide.max(axis=1, keepdims=True))
    return 1.0 - shifted[:, normal] / shifted.sum(axis=1)


def calibrate_threshold(normal_scores: np.ndarray) -> float:
    """The first 0.01 step above every validation normal clip's score: none of them reaches it."""
    return float(np.floor(normal_scores.max() * 100.0 + 1.0) / 100.0)


def at_threshold(
    logits: np.ndarray, labels: np.ndarray, normal: int, threshold: float
) -> dict[str, object]:
    """What the threshold does: normal clips it calls faulty, fault clips it lets pass."""
    scores = fault_scores(logits, normal)
    is_normal = labels == normal
    normals, faults = scores[is_normal], scores[~is_normal]
    return {
        "threshold": threshold,
        "normal_clips": int(is_normal.sum()),
        "normal_called_faulty": int((normals >= threshold).sum()),
        "max_normal_score": round(float(normals.max()), 4) if normals.size else None,
        "fault_clips": int((~is_normal).sum()),
        "faults_missed": int((faults < threshold).sum()),
        "min_fault_score": round(float(faults.min()), 4) if faults.size else None,
    }


@dataclass(frozen=True)
class Fold:
    """One selection run: fit on `fit`, validate on `val` (a UESTC speed it never trained on)."""

    name: str
    fit: list[Recording]
    val: list[Recording]


def speed_folds(
    cwru_fit: list[Recording], cwru_val: list[Recording], uestc: list[Recording]
) -> list[Fold]:
    """One fold per UESTC training speed, validated on that speed and the CWRU validation part."""
    speeds = sorted({r.rpm for r in uestc if r.rpm is not None})
    return [
        Fold(
            f"val {speed} rpm",
            cwru_fit + [r for r in uestc if r.rpm != speed],
            cwru_val + [r for r in uestc if r.rpm == speed],
        )
        for speed in speeds
    ]


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
    parser.add_argument("--uestc", type=Path, default=Path("../shared/data/bearings/uestc"))
    parser.add_argument("--out", type=Path, default=Path("runs/sound"))
    parser.add_argument("--model-out", type=Path, default=Path(f"models/{NAME}.onnx"))
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--group",
        choices=sorted(GROUPS),
        default="recording",
        help="what the CWRU split keeps whole: a recording (one load), or a bearing (all loads)",
    )
    parser.add_argument("--test-fraction", type=float, default=0.27)
    parser.add_argument("--val-fraction", type=float, default=0.25)
    parser.add_argument("--test-rpm", type=int, default=1400, help="UESTC speed held out")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--crops", type=int, default=40, help="1-s crops per CWRU fault recording")
    parser.add_argument("--normal-crops", type=int, default=120, help="crops per CWRU normal part")
    parser.add_argument("--uestc-crops", type=int, default=24, help="crops per UESTC file")
    parser.add_argument("--gain-db", type=float, default=3.0)
    parser.add_argument(
        "--silence-db",
        type=float,
        default=-70.0,
        help="below UESTC's quietest 20-ms frame (-64.5 dBFS, normal at 800 rpm)",
    )
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    cwru = discover(args.data)
    uestc = discover_uestc(args.uestc)
    classes = [NORMAL, *sorted({r.label for r in cwru + uestc} - {NORMAL})]
    normal = classes.index(NORMAL)
    rng = np.random.default_rng(args.seed)
    group = GROUPS[args.group]
    cwru_train, cwru_test = split(cwru, args.test_fraction, rng, group)
    cwru_fit, cwru_val = split(cwru_train, args.val_fraction, rng, group)
    uestc_train = [r for r in uestc if r.rpm != args.test_rpm]
    uestc_test = [r for r in uestc if r.rpm == args.test_rpm]
    if not uestc_test:
        raise SystemExit(f"{args.uestc}: no clips at {args.test_rpm} rpm to hold out")

    def crops(recording: Recording) -> int:
        if recording.rpm is not None:
            return args.uestc_crops
        return args.normal_crops if recording.label == NORMAL else args.crops

    def clips(part: list[Recording]) -> tuple[list[np.ndarray], np.ndarray]:
        return clip_set(part, classes, args.silence_db)

    def augmented(part: list[Recording]) -> tuple[np.ndarray, np.ndarray]:
        return augmented_set(part, classes, args.silence_db, crops, args.gain_db, rng)

    folds = speed_folds(cwru_fit, cwru_val, uestc_train)
    histories, hooks = [], []
    selection_started = time.time()
    for fold in folds:
        print(json.dumps({"fold": fold.name}), flush=True)
        hook = ValidationHook(*clips(fold.val), classes)
        probe = build_model(clips(fold.fit)[0], len(classes), args)
        histories.append(fit(probe, augmented(fold.fit), args.max_epochs, args, hook))
        hooks.append(hook)
    selection_s = time.time() - selection_started
    epochs = best_epoch(histories)
    chosen = [(hook.logits[epochs - 1], hook.labels) for hook in hooks]
    validation_normal = np.concatenate(
        [fault_scores(logits, normal)[labels == normal] for logits, labels in chosen]
    )
    threshold = calibrate_threshold(validation_normal)

    train = cwru_train + uestc_train
    train_clips, _ = clips(train)
    model = build_model(train_clips, len(classes), args)
    refit_started = time.time()
    fit(model, augmented(train), epochs, args)
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
    args.out.mkdir(parents=True, exist_ok=True)
    tests = {"cwru": cwru_test, f"uestc-{args.test_rpm}rpm": uestc_test}
    results, parities = {}, []
    for name, part in tests.items():
        link_heldout(part, args.out / "heldout" / name)
        test_clips, test_labels = clips(part)
        logits = logits_of(model, test_clips)
        results[name] = score(logits, test_labels, classes) | {
            "at_threshold": at_threshold(logits, test_labels, normal, threshold)
        }
        parities.append(parity(model, args.model_out, test_clips))
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) for k, v in vars(args).items()},
        "classes": classes,
        "split": {
            "train": describe(train),
            "test": {name: describe(part) for name, part in tests.items()},
            "selection_folds": [
                {"name": f.name, "fit": describe(f.fit), "val": describe(f.val)} for f in folds
            ],
            "train_clips": len(train_clips),
        },
        "selection_histories": histories,
        "epochs": epochs,
        "threshold": {
            "value": threshold,
            "rule": "first 0.01 step above the highest 1 - p(normal) of the validation normal "
            "clips of every fold, at the chosen epoch",
            "validation_normal_clips": int(validation_normal.size),
            "validation_max_normal_score": round(float(validation_normal.max()), 4),
            "per_fold": [
                at_threshold(logits, labels, normal, threshold) for logits, labels in chosen
            ],
        },
        "validation_at_chosen_epoch": {
            fold.name: score(logits, labels, classes)
            for fold, (logits, labels) in zip(folds, chosen, strict=True)
        },
        "selection_wall_s": round(selection_s, 1),
        "refit_wall_s": round(refit_s, 1),
        "total_wall_s": round(time.time() - started, 1),
        "test": results,
        "parity_max_abs_diff": max(parities),
        "onnx_bytes": args.model_out.stat().st_size,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("epochs", "total_wall_s", "parity_max_abs_diff")}))
    print(json.dumps(report["threshold"]))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
