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


def brightness_detector(
    path: Path, class_names: Sequence[str], imgsz: int = 64, dynamic: bool = False
) -> Path:
    """A YOLOv8-shaped detector that 'sees' its first class on bright frames.

    One anchor with a fixed centred box; class 0's score is sigmoid(20 * (mean − 0.5)) of the
    letterboxed input, the other classes score 0. Output [batch, 4 + nc, 1], as Ultralytics
    exports; `dynamic` leaves batch, height and width free, as Ultralytics' `dynamic=True` does.
    """
    batch, height, width = ("batch", "height", "width") if dynamic else (1, imgsz, imgsz)
    nc = len(class_names)
    box = np.array([imgsz / 2, imgsz / 2, imgsz / 4, imgsz / 4], dtype=np.float32)
    mask = np.zeros(nc, dtype=np.float32)
    mask[0] = 1.0
    initializers = [
        numpy_helper.from_array(box.reshape(1, 4, 1), "box"),
        numpy_helper.from_array(mask.reshape(1, nc, 1), "mask"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"),
        numpy_helper.from_array(np.array(20.0, dtype=np.float32), "gain"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        numpy_helper.from_array(np.array([-1, 1, 1], dtype=np.int64), "item_shape"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Sub", ["mean", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["confidence"]),
        helper.make_node("Reshape", ["confidence", "item_shape"], ["per_item"]),  # [B, 1, 1]
        helper.make_node("Mul", ["mask", "per_item"], ["scores"]),
        helper.make_node("Mul", ["per_item", "zero"], ["no_shift"]),
        helper.make_node("Add", ["box", "no_shift"], ["boxes"]),  # the box, once per item
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "brightness_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, height, width])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 4 + nc, 1])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    names = {i: name for i, name in enumerate(class_names)}
    helper.set_model_props(
        model, {"names": repr(names), "imgsz": f"[{imgsz}, {imgsz}]", "version": "test"}
    )
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path
