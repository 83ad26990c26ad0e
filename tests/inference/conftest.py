"""Stand-ins for TensorRT and CUDA, for tests that need native TensorRT to look installed."""

from __future__ import annotations

import sys

import pytest

from tests.support import fake_tensorrt


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> fake_tensorrt.Memory:
    """Fake `tensorrt` and cuda-python runtime importable for the test; their memory."""
    trt, cudart, memory = fake_tensorrt.modules()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    return memory
