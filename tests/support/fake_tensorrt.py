"""Stand-ins for the GPU we lack: `tensorrt` and cuda-python's runtime, same calls, host memory.

The fake engine has one input `x` [1, T, 4] (T from the profile) and one output `y` [1, T]
= x.sum(-1) * 2, so a test sees real bytes go through TensorRTSession's buffers: pinned host
to "device", execute, back. "Device" memory is host memory here; copies are memmoves.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import types
from pathlib import Path
from typing import Any

import numpy as np

from agent.inference.engine_file import EngineRecord, engine_path_for, write_record
from agent.inference.models import sha256_of
from tests.support.onnx_models import constant_model

INPUT, OUTPUT = "x", "y"
MAX_T = 50
VERSION = "10.3.0"


TOTAL = 8 << 30  # the fake device's memory


class Memory:
    """Every allocation, kept alive and counted, so a test can see buffers are reused."""

    def __init__(self) -> None:
        self.blocks: list[ctypes.Array[ctypes.c_byte]] = []

    def allocate(self, nbytes: int) -> tuple[int, int]:
        block = (ctypes.c_byte * nbytes)()
        self.blocks.append(block)
        return 0, ctypes.addressof(block)

    def info(self) -> tuple[int, int, int]:
        """cudaMemGetInfo: (error, free, total) of a device with TOTAL bytes."""
        used = sum(ctypes.sizeof(block) for block in self.blocks)
        return 0, TOTAL - used, TOTAL


class _Context:
    def __init__(self) -> None:
        self.shapes = {INPUT: (1, 1, 4)}
        self.addresses: dict[str, int] = {}
        self.runs = 0

    def set_input_shape(self, name: str, shape: Any) -> bool:
        shape = tuple(shape)
        if not (1 <= shape[1] <= MAX_T and shape[0] >= 1):
            return False
        self.shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        batch, t = self.shapes[INPUT][:2]
        return (batch, t, 4) if name == INPUT else (batch, t)

    def set_tensor_address(self, name: str, address: int) -> None:
        self.addresses[name] = address

    def execute_async_v3(self, stream: int) -> bool:
        batch, t = self.shapes[INPUT][:2]
        source = (ctypes.c_float * (batch * t * 4)).from_address(self.addresses[INPUT])
        result = np.frombuffer(memoryview(source), np.float32).reshape(batch, t, 4).sum(-1) * 2
        ctypes.memmove(self.addresses[OUTPUT], result.astype(np.float32).ctypes.data, batch * t * 4)
        self.runs += 1
        return True


class _Engine:
    num_io_tensors = 2

    def __init__(self) -> None:
        self.context = _Context()

    def get_tensor_name(self, index: int) -> str:
        return (INPUT, OUTPUT)[index]

    def get_tensor_mode(self, name: str) -> str:
        return "input" if name == INPUT else "output"

    def get_tensor_dtype(self, name: str) -> str:
        return "float32"

    def create_execution_context(self) -> _Context:
        return self.context


def _copy(destination: int, source: int, nbytes: int, kind: int, stream: int) -> tuple[int]:
    ctypes.memmove(destination, source, nbytes)
    return (0,)


def modules() -> tuple[types.ModuleType, types.ModuleType, Memory]:
    """(fake tensorrt, fake cuda.bindings.runtime, the memory they allocate from)."""
    memory = Memory()
    engine = _Engine()
    trt = types.ModuleType("tensorrt")
    trt.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    vars(trt).update(  # attributes a module type does not declare
        __version__=VERSION,
        Logger=type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None}),
        Runtime=type(
            "Runtime",
            (),
            {
                "__init__": lambda self, logger: None,
                "deserialize_cuda_engine": lambda self, b: engine,
            },
        ),
        TensorIOMode=types.SimpleNamespace(INPUT="input", OUTPUT="output"),
        nptype=np.dtype,
    )

    cudart = types.ModuleType("cuda.bindings.runtime")
    cudart.__spec__ = importlib.machinery.ModuleSpec("cuda.bindings.runtime", None)
    vars(cudart).update(
        cudaMemcpyKind=types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2),
        cudaStreamCreate=lambda: (0, 7),
        cudaMallocHost=memory.allocate,
        cudaMalloc=memory.allocate,
        cudaMemcpyAsync=_copy,
        cudaStreamSynchronize=lambda stream: (0,),
        cudaMemGetInfo=memory.info,
    )
    return trt, cudart, memory


FAKE_PROFILE = [[1, 1, 4], [1, 10, 4], [1, MAX_T, 4]]  # min, opt, max of "x"


def engine_beside(
    folder: Path,
    tensorrt_version: str = VERSION,
    profile: list[list[int]] = FAKE_PROFILE,
) -> Path:
    """A tiny ONNX model (input "x") with a fake engine beside it whose record matches it."""
    onnx = constant_model(folder / "m.onnx", np.ones((1, 2), np.float32), [1, 3], input_name="x")
    engine = engine_path_for(onnx)
    engine.write_bytes(b"serialised")
    record = EngineRecord(
        onnx_name=onnx.name,
        onnx_sha256=sha256_of(onnx),
        tensorrt_version=tensorrt_version,
        precision="fp16",
        input_profiles={"x": profile},
        metadata={"name": "m", "version": "2"},
        device_name="fake",
        built_at="2026-11-23T00:00:00+00:00",
    )
    write_record(engine, record)
    return onnx
