"""Native TensorRT 10 session: a serialised engine run with I/O buffers allocated once.

`tensorrt` and NVIDIA's `cuda-python` bindings are imported only when an engine is opened, so
the agent installs and its tests run on machines without a GPU (see agent.inference.backends).
Buffers are sized for the largest shape of the engine's optimisation profile, so an input whose
length varies (the sound model's time axis) reuses them too.
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
from agent.observe.stages import Stage, timed

CUDART_MODULES = ("cuda.bindings.runtime", "cuda.cudart")  # cuda-python >= 12.6, then older


def missing_modules() -> str | None:
    """Why native TensorRT cannot run here (a missing Python package), or None."""
    if importlib.util.find_spec("tensorrt") is None:
        return (
            "python package 'tensorrt' is not installed (TensorRT 10+: JetPack's "
            "python3-libnvinfer in a --system-site-packages venv, deploy/jetson/README.md)"
        )
    if cudart_module_name() is None:
        return "python package 'cuda-python' is not installed (GPU buffers; pip extra 'jetson')"
    return None


def cudart_module_name() -> str | None:
    """The importable CUDA runtime binding of cuda-python, or None."""
    for name in CUDART_MODULES:
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except ModuleNotFoundError:  # the parent package `cuda` is absent
            continue
    return None


def cuda_check(result: tuple[Any, ...]) -> Any:
    """cuda-python returns (error, value...): raise on error, else the value (a tuple of them
    when there are several, None when there is none)."""
    error, *values = result
    if int(error) != 0:
        raise ModelError(f"CUDA call failed: {error}")
    if len(values) > 1:
        return tuple(values)
    return values[0] if values else None


@dataclass(slots=True)
class _Binding:
    """One engine I/O tensor: a pinned host buffer and its device twin, at the profile's max."""

    name: str
    host: np.ndarray  # flat, pinned
    device: int


class TensorRTSession:
    """Runs a `.engine` with execute_async_v3 on its own CUDA stream."""

    backend = "tensorrt"

    def __init__(self, engine_path: Path, onnx_path: Path, record: EngineRecord) -> None:
        trt = importlib.import_module("tensorrt")
        self._cudart = importlib.import_module(cudart_module_name() or CUDART_MODULES[0])
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
        self._stream = cuda_check(self._cudart.cudaStreamCreate())
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        profiles = record.input_profiles
        for name in self.input_names:  # largest shapes first: outputs get their largest size
            self._context.set_input_shape(name, profiles[name][2])
        self._bindings = {n: self._allocate(trt, n) for n in names}
        for name in self.input_names:
            self._context.set_input_shape(name, profiles[name][1])
        self.input_shapes = [list(profiles[n][1]) for n in self.input_names]
        self.max_batch = profiles[self.input_names[0]][2][0] if self.input_names else None

    def _allocate(self, trt: ModuleType, name: str) -> _Binding:
        size = int(np.prod(tuple(self._context.get_tensor_shape(name))))
        dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))
        nbytes = size * dtype.itemsize
        pinned = cuda_check(self._cudart.cudaMallocHost(nbytes))
        host = np.frombuffer((ctypes.c_byte * nbytes).from_address(int(pinned)), dtype=dtype)
        device = int(cuda_check(self._cudart.cudaMalloc(nbytes)))
        self._context.set_tensor_address(name, device)
        return _Binding(name, host, device)

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Copy inputs in, enqueue, copy outputs out; outputs in the engine's order."""
        with timed(Stage.INFERENCE, self.version, self.backend):
            return self._run(inputs)

    def _run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        kinds = self._cudart.cudaMemcpyKind
        for name in self.input_names:
            value, binding = inputs[name], self._bindings[name]
            if not self._fits(name, value.shape, binding):
                raise ModelError(
                    f"{self.path.name}: input {name!r} shape {list(value.shape)} is outside "
                    "the engine's profile; rebuild it with a wider --shape"
                )
            staged = binding.host[: value.size]
            np.copyto(staged, value.reshape(-1), casting="same_kind")
            self._copy(
                binding.device, staged.ctypes.data, staged.nbytes, kinds.cudaMemcpyHostToDevice
            )
        if not self._context.execute_async_v3(int(self._stream)):
            raise ModelError(f"{self.path.name}: TensorRT execution failed")
        shapes = [tuple(self._context.get_tensor_shape(n)) for n in self.output_names]
        outputs = []
        for name, shape in zip(self.output_names, shapes, strict=True):
            binding = self._bindings[name]
            staged = binding.host[: int(np.prod(shape))]
            self._copy(
                staged.ctypes.data, binding.device, staged.nbytes, kinds.cudaMemcpyDeviceToHost
            )
            outputs.append((staged, shape))
        cuda_check(self._cudart.cudaStreamSynchronize(self._stream))
        return [staged.reshape(shape).copy() for staged, shape in outputs]

    def _fits(self, name: str, shape: tuple[int, ...], binding: _Binding) -> bool:
        """Set the input's shape if it changed; False if the engine's profile cannot take it."""
        if tuple(self._context.get_tensor_shape(name)) == shape:
            return True
        return int(np.prod(shape)) <= binding.host.size and self._context.set_input_shape(
            name, shape
        )

    def _copy(self, destination: int, source: int, nbytes: int, kind: Any) -> None:
        cuda_check(self._cudart.cudaMemcpyAsync(destination, source, nbytes, kind, self._stream))
