"""Synthetic sounds, encoded audio files and a tiny ONNX sound classifier for the audio tests.

The classifier ("knock detector") normalises each coefficient over time inside its graph (as
trained models own their feature scaling), then reads the lag-1 autocorrelation of the
log-energy row (MFCC column 0): a steady sound scores near 0.1 there, a pulsing (knocking)
one near 1, so steady → class 0 "normal", pulsing → class 1 "knocking".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import soundfile as sf
from onnx import TensorProto, helper, numpy_helper

from agent.senses.audio.config import MicrophoneConfig
from agent.senses.audio.preprocess import NUMCEP
from tests.support.onnx_models import IR_VERSION, OPSET

KNOCK_THRESHOLD = 0.55
KNOCK_GAIN = 10.0


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    """A sine as float32."""
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, rate: int, amplitude: float = 0.1, seed: int = 0) -> np.ndarray:
    """Stationary white Gaussian noise as float32 (standard deviation `amplitude`)."""
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(round(seconds * rate))).astype(np.float32)


def steady_hum(seconds: float, rate: int) -> np.ndarray:
    """A 'normal' machine: a tone over a little broadband noise."""
    return tone(440.0, seconds, rate) + noise(seconds, rate, 0.05)


def knocking(seconds: float, rate: int, hz: float = 4.0) -> np.ndarray:
    """An 'abnormal' machine: the same hum, amplitude-modulated at `hz` (10 % to 100 %)."""
    signal = steady_hum(seconds, rate)
    t = np.arange(signal.size) / rate
    return (signal * (0.55 + 0.45 * np.sin(2 * np.pi * hz * t))).astype(np.float32)


def write_audio(path: Path, signal: np.ndarray, rate: int, channels: int = 1) -> Path:
    """Encode with soundfile (format from the suffix, 16-bit PCM); channels are copies."""
    data = np.repeat(signal[:, np.newaxis], channels, axis=1) if channels > 1 else signal
    sf.write(path, data, rate, subtype="PCM_16")
    return path


def knock_model(
    path: Path,
    n_classes: int = 2,
    probabilities: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Save the knock detector: [1, T, 40] → [1, n_classes]; extra classes never win."""
    weights = np.zeros((NUMCEP, n_classes), dtype=np.float32)
    weights[0, 1] = KNOCK_GAIN
    bias = np.full(n_classes, -20.0, dtype=np.float32)
    bias[:2] = [0.0, -KNOCK_GAIN * KNOCK_THRESHOLD]
    axis = np.array([1], dtype=np.int64)
    initializers = [
        numpy_helper.from_array(weights, "weights"),
        numpy_helper.from_array(bias, "bias"),
        numpy_helper.from_array(axis, "axis"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"),
        numpy_helper.from_array(np.array([2**62], dtype=np.int64), "end"),
        numpy_helper.from_array(np.array(1e-4, dtype=np.float32), "epsilon"),
    ]
    last = "probabilities" if probabilities else "logits"
    nodes = [
        helper.make_node("ReduceMean", ["mfcc"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["mfcc", "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "centred"], ["squared"]),
        helper.make_node("ReduceMean", ["squared"], ["variance"], axes=[1], keepdims=1),
        helper.make_node("Add", ["variance", "epsilon"], ["variance_floored"]),
        helper.make_node("Sqrt", ["variance_floored"], ["std"]),
        helper.make_node("Div", ["centred", "std"], ["normalised"]),
        helper.make_node("Slice", ["normalised", "one", "end", "axis"], ["later"]),
        helper.make_node("Slice", ["normalised", "zero", "minus_one", "axis"], ["earlier"]),
        helper.make_node("Mul", ["later", "earlier"], ["lagged"]),
        helper.make_node("ReduceMean", ["lagged"], ["autocorrelation"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["autocorrelation", "weights"], ["weighted"]),
        helper.make_node("Add", ["weighted", "bias"], ["logits"]),
    ]
    if probabilities:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "knock_detector",
        [helper.make_tensor_value_info("mfcc", TensorProto.FLOAT, [1, "time", NUMCEP])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, [1, n_classes])],
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    props = dict(metadata or {})
    if probabilities:
        props["output"] = "probabilities"
    helper.set_model_props(
        model, {k: v if isinstance(v, str) else json.dumps(v) for k, v in props.items()}
    )
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def microphone_config(model: Path, **fields: Any) -> MicrophoneConfig:
    """A validated MicrophoneConfig; `classifier` fields go in as a dict, the model is given."""
    classifier = {"model": model, **fields.pop("classifier", {})}
    return MicrophoneConfig.model_validate({"classifier": classifier, **fields})
