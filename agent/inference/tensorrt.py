"""Native TensorRT 10 session: a serialised engine run with I/O buffers allocated once.

`tensorrt` and NVIDIA's `cuda-python` bindings are imported only when an engine is opened, so
the agent installs and its tests run on machines without a GPU (see agent.inference.backends).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from agent.inference.engine_file import EngineMismatchError, EngineRecord
from agent.inference.session import ModelError, model_version

CUDART_MODULES = ("cuda.bindings.runtime", "cuda.cudart")  # cuda-python >= 12.6, then older


def missing_modules() -> str | None:
    """Why native TensorRT cannot run here (a missing Python package), or None."""
    if importlib.util.find_spec("tensorrt") is None:
        return "python package 'tensorrt' is not installed (TensorRT 10+, pip extra 'jetson')"
    if _cudart_name() is None:
        return "python package 'cuda-python' is not installed (needed for GPU buffers)"
    return None


def _cudart_name() -> str | None:
    for name in CUDART_MODULES:
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except ModuleNotFoundError:  # the parent package `cuda` is absent
            continue
    return None


def _cuda(result: tuple[Any, ...]) -> Any:
    """cuda-python returns (error, value...): raise on error, else the value."""
    error, *values = result
    if int(error) != 0:
        raise ModelError(f"CUDA call failed: {error}")
    return values[0] if len(values) == 1 else None


@dataclass(slots=True)
class _Binding:
    """One engine I/O tensor: a pinned host array and its device twin, reused every run."""

    name: str
    host: np.ndarray
    device: int


class TensorRTSession:
    """Runs a `.engine` with execute_async_v3 on its own CUDA stream."""

    backend = "tensorrt"

    def __init__(self, engine_path: Path, onnx_path: Path, record: EngineRecord) -> None:
        trt = importlib.import_module("tensorrt")
        name = _cudart_name()
        if name is None:
            raise ModelError(missing_modules() or "cuda-python is not installed")
        self._cudart = importlib.import_module(name)
        if trt.__version__ != record.tensorrt_version:
            raise EngineMismatchError(
                f"{engine_path} was built with TensorRT {record.tensorrt_version}, this is "
                f"{trt.__version__}; rebuild it with tools/build_engine.py"
            )
        self.path = engine_path
        self.metadata = dict(record.metadata)
        self.version = model_version(onnx_path, self.metadata)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self._engine is None:
            raise ModelError(f"cannot deserialise engine {engine_path} (built for another GPU?)")
        self._context = self._engine.create_execution_context()
        self._stream = _cuda(self._cudart.cudaStreamCreate())
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        for name in self.input_names:
            self._context.set_input_shape(name, record.input_shapes[name])
        self._bindings = {n: self._allocate(trt, n) for n in names}
        self.input_shapes = [list(self._bindings[n].host.shape) for n in self.input_names]

    def _allocate(self, trt: ModuleType, name: str) -> _Binding:
        shape = tuple(self._context.get_tensor_shape(name))
        dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))
        nbytes = int(np.prod(shape)) * dtype.itemsize
        pinned = _cuda(self._cudart.cudaMallocHost(nbytes))
        buffer = (ctypes.c_byte * nbytes).from_address(int(pinned))
        host = np.frombuffer(buffer, dtype=dtype).reshape(shape)
        device = int(_cuda(self._cudart.cudaMalloc(nbytes)))
        self._context.set_tensor_address(name, device)
        return _Binding(name, host, device)

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Copy inputs in, enqueue, copy outputs out; outputs in the engine's order."""
        kinds = self._cudart.cudaMemcpyKind
        for name in self.input_names:
            binding = self._bindings[name]
            value = inputs[name]
            if value.shape != binding.host.shape:
                raise ModelError(
                    f"{self.path.name}: input {name!r} must be {list(binding.host.shape)}, "
                    f"got {list(value.shape)} (engines have fixed shapes)"
                )
            np.copyto(binding.host, value, casting="same_kind")
            self._copy(
                binding.device, binding.host.ctypes.data, binding, kinds.cudaMemcpyHostToDevice
            )
        if not self._context.execute_async_v3(int(self._stream)):
            raise ModelError(f"{self.path.name}: TensorRT execution failed")
        for name in self.output_names:
            binding = self._bindings[name]
            self._copy(
                binding.host.ctypes.data, binding.device, binding, kinds.cudaMemcpyDeviceToHost
            )
        _cuda(self._cudart.cudaStreamSynchronize(self._stream))
        return [self._bindings[n].host.copy() for n in self.output_names]

    def _copy(self, destination: int, source: int, binding: _Binding, kind: Any) -> None:
        _cuda(
            self._cudart.cudaMemcpyAsync(
                destination, source, binding.host.nbytes, kind, self._stream
            )
        )
