"""GPU memory in use, for metrics and the bench: NVML on discrete GPUs, CUDA on a Jetson.

A Jetson's integrated GPU has no NVML. There the CUDA runtime's cudaMemGetInfo (cuda-python,
which native TensorRT needs anyway) tells how much of the memory it shares with the CPU is in
use. Either way the figure is device 0 as a whole, every process on it included.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from agent.inference.session import ModelError
from agent.inference.tensorrt import cuda_check, cudart_module_name


@functools.cache
def _nvml_device() -> Any:
    """NVML's handle of device 0, opened once; None where NVML is missing (Jetson: no NVML)."""
    try:
        import pynvml  # nvidia-ml-py, GPU installs only
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(0)
    except pynvml.NVMLError:
        return None


def _nvml_used() -> int | None:
    handle = _nvml_device()
    if handle is None:
        return None
    import pynvml  # loaded already by _nvml_device

    try:
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
    except pynvml.NVMLError:
        return None


def _cuda_used() -> int | None:
    name = cudart_module_name()
    if name is None:
        return None
    try:
        free, total = cuda_check(importlib.import_module(name).cudaMemGetInfo())
    except ModelError:  # no device, or no driver
        return None
    return int(total) - int(free)


def gpu_memory_used_bytes() -> int | None:
    """Device 0's memory in use (NVML, else CUDA), or None where neither can tell."""
    used = _nvml_used()
    return used if used is not None else _cuda_used()
