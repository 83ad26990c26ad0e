"""GPU memory in use: NVML where it exists, else the CUDA runtime (a Jetson has no NVML)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.inference.engine_file import check_engine, engine_path_for
from agent.inference.tensorrt import TensorRTSession
from agent.observe.gpu import gpu_memory_used_bytes
from tests.support import fake_tensorrt


def test_without_nvml_the_cuda_runtime_counts_what_an_engine_allocated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if importlib.util.find_spec("pynvml") is not None:
        pytest.skip("NVML is installed here: it answers first")
    trt, cudart, memory = fake_tensorrt.modules()  # a Jetson-like device: CUDA, no NVML
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    before = gpu_memory_used_bytes()

    onnx = fake_tensorrt.engine_beside(tmp_path)
    engine = engine_path_for(onnx)
    session = TensorRTSession(engine, onnx, check_engine(engine, onnx))
    session.run({"x": np.ones((1, 3, 4), np.float32)})

    after = gpu_memory_used_bytes()
    assert before == 0
    assert after == sum(len(block) for block in memory.blocks) > 0


def test_no_gpu_library_means_no_figure_rather_than_zero() -> None:
    if any(importlib.util.find_spec(name) for name in ("pynvml", "cuda")):
        pytest.skip("a GPU library is installed here")
    assert gpu_memory_used_bytes() is None
