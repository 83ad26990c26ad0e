"""A real Isolation Forest trained by tests on synthetic windows and exported with skl2onnx."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.ensemble import IsolationForest

from agent.senses.sensor.preprocess import moving_average, reject_outliers, window_features
from tools.skl_forest import skl2onnx_forest


def chain_features(window: np.ndarray, smoothing: int) -> np.ndarray:
    """The scorer's feature chain, as a training tool runs it."""
    return window_features(moving_average(reject_outliers(window, 3.0), smoothing))


def fit_forest(windows: np.ndarray, smoothing: int, seed: int = 0) -> IsolationForest:
    """Fit on [n, window, channels] normal windows."""
    train = np.stack([chain_features(w, smoothing) for w in windows])
    return IsolationForest(n_estimators=40, random_state=seed).fit(train)


def export_forest(forest: IsolationForest) -> onnx.ModelProto:
    """skl2onnx export: outputs `label` and `scores` (the decision function)."""
    return skl2onnx_forest(forest)


def save_model(model: onnx.ModelProto, path: Path, **metadata: str) -> Path:
    """Write a copy of `model` with name/version and the given metadata props."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    helper.set_model_props(copy, {"name": "sensor-if", "version": "t1", **metadata})
    path.write_bytes(copy.SerializeToString())
    return path


def max_abs_model(path: Path, width: int, **metadata: str) -> Path:
    """A stand-in forest whose `scores` is -max|feature|: its decisions are known by hand.

    With anomaly_threshold=-t it flags exactly the windows where some feature reaches |t|.
    """
    graph = helper.make_graph(
        [
            helper.make_node("Abs", ["features"], ["abs"]),
            helper.make_node("ReduceMax", ["abs"], ["max"], axes=[1], keepdims=1),
            helper.make_node("Neg", ["max"], ["scores"]),
        ],
        "max-abs",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return save_model(model, path, **metadata)


def window_mean_stand_in(path: Path, channels: Sequence[str], baseline_samples: int = 400) -> Path:
    """`max_abs_model` over the means of 4-row windows of `channels`, standardised on the first
    `baseline_samples` rows (SKAB's protocol: 400), flagged from 3 baseline units."""
    return max_abs_model(
        path,
        width=len(channels),
        channels=json.dumps(list(channels)),
        features=json.dumps(["mean"]),
        window="4",
        standardise="baseline",
        baseline_samples=str(baseline_samples),
        anomaly_threshold="-3",
        anomaly_scale="1",
    )
