"""The sensor sense learns this machine's own normal: an Isolation Forest on its registers.

While the device learns, `SensorLearner.observe` keeps every sample's register values (all
registers of its config, whatever the map calls them) and judges only the hard limits: a
value outside a register's low/high is a Score of 1.0 with HARD_LIMIT, and a reason to refuse.
`finish` then

1. expresses the samples in units of their own median and spread (`baseline_stats`, as the
   shipped model does at a new site), so registers of any scale weigh alike in float32;
2. splits them in time: the forest is fitted on the windows of the first FIT_SHARE of the
   samples, and the windows of the rest, which share no sample with those, are scored
   through the exported ONNX model to fit the forest's HealthyTail. Windows the forest was
   fitted on score as more normal than new healthy ones would, so calibrating on them would
   be optimistic; the later part also carries whatever slow drift the learning period held.
   Both tails are floored by their body: medians of overlapping windows make the top tenth
   one or two excursions, too few to measure a tail by. The distance owes nothing to the
   forest; its tail is fitted on single samples of the whole period, not on window means:
   minutes of window means show how little a mean moves in minutes, not how far it wanders
   over a day, which a single sample's spread bounds better. A register that wandered far
   more than it jitters (`drifting`: a temperature warming up) is not judged by the distance:
   its level while learning is not its normal of tomorrow. The forest and the register's
   limits still see it;
3. hands back the forest as ONNX (Learned.files) and the window chain, the calibration and
   the decision median as JSON (Learned.params, see agent/senses/sensor/learned.py).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

import numpy as np

from agent.core.calibration import HealthyTail
from agent.core.medians import full_medians
from agent.core.samples import HARD_LIMIT, Sample, Score
from agent.inference.loading import load_session
from agent.senses.learning import Learned, LearningRefused
from agent.senses.sensor.config import SENSE, ModbusConfig
from agent.senses.sensor.forest_onnx import isolation_forest_onnx
from agent.senses.sensor.learned import LearnedForest, WindowChain, distance
from agent.senses.sensor.limits import breaches, readings, sample_values
from agent.senses.sensor.preprocess import baseline_stats, standardise
from agent.senses.sensor.scorer import LIMITS_WINDOW, decisions

MIN_WINDOWS = 200  # windows (one per sample) the forest and the calibration get between them
MAX_KEPT = 20_000  # the newest samples kept (5.5 h at 1 Hz): bounds memory and finish()'s time
FIT_SHARE = 0.5  # the forest learns from this first share of the samples, the tail the rest
STATS = ("mean",)  # per register: the mean of the smoothed window (see models/sensor-iforest.md)
DRIFT_JITTER = 0.3  # a register jittering less than this share of its spread is `drifting`
DECISION_MEDIAN = 15  # the score is the median raw score of the last 15 windows
FOLLOW_S = 60.0  # the distance's reference follows healthy levels this slowly (learned.py)
TREES = 100
SEED = 0
MODEL_FILE = "sensor-learned.onnx"


class SensorLearner:
    """Gathers one Modbus device's healthy samples and learns its normal from them."""

    modality = SENSE

    def __init__(self, device: str, config: ModbusConfig) -> None:
        self.device = device
        self.config = config
        self._registers = list(config.registers)
        self.window = config.window or LIMITS_WINDOW
        self._kept: deque[list[float]] = deque(maxlen=MAX_KEPT)
        self._seen = 0
        self._broken: Counter[str] = Counter()  # register -> samples outside its limits
        self._unreadable: Counter[str] = Counter()  # why -> samples not kept

    def observe(self, sample: Sample) -> Score | None:
        """Keep a healthy sample; a Score of 1.0 when it breaks a register's limits."""
        self._seen += 1
        try:
            values = sample_values(self.device, self._registers, sample)
        except (TypeError, ValueError) as exc:  # a register missing, a value not a number
            self._unreadable[str(exc)[:200]] += 1
            return None
        if not all(math.isfinite(v) for v in values):
            self._unreadable["a register value is not finite"] += 1
            return None
        out_of_range = breaches(self._registers, values)
        if not out_of_range:
            self._kept.append(values)
            return None
        names = [entry["name"] for entry in out_of_range]
        self._broken.update(names)
        return Score(
            device=self.device,
            modality=SENSE,
            value=1.0,
            label=names[0],
            evidence={
                **readings(self._registers, values),
                HARD_LIMIT: names,
                "out_of_range": out_of_range,
            },
            captured_at=sample.captured_at,
            scored_at=time.time(),
        )

    def windows(self) -> int:
        """Windows of kept samples the forest and the calibration would get between them:
        each part loses the first window - 1 samples of its own."""
        return max(0, len(self._kept) - 2 * (self.window - 1))

    def progress(self) -> float:
        return min(1.0, self.windows() / MIN_WINDOWS)

    def problems(self) -> list[str]:
        """Hard limits broken, samples unreadable, registers stuck, too few windows."""
        found = [
            f"register {name} was outside its limits in {count} samples while learning"
            for name, count in sorted(self._broken.items())
        ]
        found += [f"{count} samples not kept: {why}" for why, count in self._unreadable.items()]
        if len(self._kept) >= self.window:
            kept = np.array(self._kept)
            stuck = np.ptp(kept, axis=0) == 0
            found += [
                f"register {reg.name} stayed at {kept[0, i]:g} while learning "
                "(a stuck sensor or a wrong address?)"
                for i, reg in enumerate(self._registers)
                if stuck[i]
            ]
        if self.windows() < MIN_WINDOWS:
            found.append(f"{self.windows()} windows of {self.window} samples, {MIN_WINDOWS} needed")
        return found

    def finish(self) -> Learned:
        """The forest and its calibration; LearningRefused while `problems` says why not."""
        problems = self.problems()
        if problems:
            raise LearningRefused(SENSE, problems)
        values = np.array(self._kept, dtype=np.float64)
        centre, scale = baseline_stats(values)
        jitter = jitter_share(values, scale)
        judged = jitter >= DRIFT_JITTER  # by the distance: the registers that do not drift
        if not judged.any():
            judged[:] = True  # none judged would leave a judge with nothing to see: judge them all
        drifting = [r.name for r, j in zip(self._registers, judged, strict=True) if not j]
        chain = WindowChain(
            registers=[r.name for r in self._registers],
            window=self.window,
            stats=list(STATS),
            smoothing=self.config.smoothing,
            outlier_sigma=self.config.outlier_sigma,
            centre=centre.tolist(),
            scale=scale.tolist(),
        )
        split = round(FIT_SHARE * len(values))
        fitted = all_window_features(chain, values[:split])
        onnx_bytes = fit_forest(fitted)
        calibration = all_window_features(chain, values[split:])
        medians = full_medians(-forest_decisions(onnx_bytes, calibration), DECISION_MEDIAN)
        shifts = distance(standardise(values, centre, scale), judged)
        tail = HealthyTail.fit(medians, body_floor=True)
        params = LearnedForest(
            **chain.model_dump(),
            decision_median=DECISION_MEDIAN,
            drifting=drifting,
            follow_windows=max(1, round(FOLLOW_S * self.config.poll_hz)),
            model_file=MODEL_FILE,
            tail=tail.to_json(),
            distance_tail=HealthyTail.fit(shifts, body_floor=True).to_json(),
        ).model_dump()
        warnings = []
        if self._seen > len(self._kept):
            warnings.append(f"learned from the newest {len(self._kept)} of {self._seen} samples")
        return Learned(
            sense=SENSE,
            samples=len(values),
            params=params,
            summary=summary(chain, split, medians, tail, jitter),
            files={MODEL_FILE: onnx_bytes},
            warnings=warnings,
        )


def all_window_features(chain: WindowChain, values: np.ndarray) -> np.ndarray:
    """The forest's input for every window of consecutive samples (one per sample), float32."""
    count = len(values) - chain.window + 1
    return np.stack([chain.features(values[i : i + chain.window]) for i in range(count)])


def fit_forest(features: np.ndarray) -> bytes:
    """An Isolation Forest fitted on healthy windows, as ONNX (forest_onnx.py): outputs
    `label` and `scores` (sklearn's decision function), as the shipped sensor model."""
    # imported here: scikit-learn takes seconds to import, and only learning needs it
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=TREES, random_state=SEED, n_jobs=1).fit(features)
    return isolation_forest_onnx(forest, forest.n_features_in_)


def forest_decisions(onnx_bytes: bytes, features: np.ndarray) -> np.ndarray:
    """Decision scores through the ONNX path the learned scorer will run, not sklearn's,
    so the calibration is fitted on exactly the numbers it will be applied to."""
    with tempfile.TemporaryDirectory(prefix="sensor-learn-") as folder:
        path = Path(folder) / MODEL_FILE
        path.write_bytes(onnx_bytes)
        return decisions(load_session(path), features)


def jitter_share(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per register: its sample-to-sample noise (the std of successive differences over √2)
    as a share of its learning-period spread. About 1 for a register that only jitters around
    its level; well under 1 for one that wandered or trended while learning (values: at
    least two samples)."""
    return np.std(np.diff(values, axis=0), axis=0) / math.sqrt(2) / scale


def summary(
    chain: WindowChain, split: int, medians: np.ndarray, tail: HealthyTail, jitter: np.ndarray
) -> dict[str, Any]:
    """What people read on the card: the registers' normal, the windows, the raw scores."""
    levels = (0.5, 0.9, 0.99, 1.0)
    return {
        "registers": {
            name: {"median": centre, "spread": spread, "jitter_share": float(share)}
            for name, centre, spread, share in zip(
                chain.registers, chain.centre, chain.scale, jitter, strict=True
            )
        },
        "window": chain.window,
        "forest_windows": split - chain.window + 1,
        "calibration_windows": int(medians.size),
        "raw_quantiles": {
            str(q): float(v) for q, v in zip(levels, np.quantile(medians, levels), strict=True)
        },
        "raw_tail_start": tail.tail_start,
    }
