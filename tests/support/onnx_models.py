"""Tiny real ONNX models written by tests, so scorers run ONNX Runtime on outputs we chose."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # old enough for any onnxruntime the agent supports


def constant_model(
    path: Path,
    output: np.ndarray,
    input_shape: Sequence[int | str],
    *,
    input_name: str = "images",
    metadata: dict[str, str] | None = None,
) -> Path:
    """A float32 model that returns `output` whatever its input, yet truly reads the input.

    output = constant + 0 * mean(input): the input is wired into the graph, so ONNX Runtime
    checks its name, rank and static dimensions as it would for a real network.
    """
    constant = numpy_helper.from_array(np.asarray(output, dtype=np.float32), "constant")
    zero = numpy_helper.from_array(np.zeros((), dtype=np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["constant", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[constant, zero],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    helper.set_model_props(model, metadata or {})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path
