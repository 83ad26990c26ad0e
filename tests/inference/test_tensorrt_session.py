"""TensorRTSession's buffer handling and its selection, on stand-ins for TensorRT and CUDA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.inference import engine_file
from agent.inference.backends import runs_on_gpu
from agent.inference.engine_file import (
    EngineMismatchError,
    check_engine,
    engine_path_for,
)
from agent.inference.loading import load_session
from agent.inference.models import sha256_of
from agent.inference.session import ModelError
from agent.inference.tensorrt import TensorRTSession
from tests.support import fake_tensorrt


def open_session(onnx: Path) -> TensorRTSession:
    engine = engine_path_for(onnx)
    return TensorRTSession(engine, onnx, check_engine(engine, onnx))


def test_runs_varying_lengths_through_buffers_allocated_once(
    fakes: fake_tensorrt.Memory, tmp_path: Path
) -> None:
    session = open_session(fake_tensorrt.engine_beside(tmp_path))
    assert (session.input_names, session.output_names) == (["x"], ["y"])
    assert session.input_shapes == [[1, 10, 4]]
    assert session.max_batch == 1  # the profile's largest first axis
    assert session.version == "m@2"
    allocated = len(fakes.blocks)

    for length in (10, 3, fake_tensorrt.MAX_T, 7):
        x = np.arange(length * 4, dtype=np.float32).reshape(1, length, 4)
        (y,) = session.run({"x": x})
        np.testing.assert_allclose(y, x.sum(-1) * 2)

    assert len(fakes.blocks) == allocated == 4  # pinned + device, per tensor, once


def test_input_outside_the_profile_is_a_model_error(
    fakes: fake_tensorrt.Memory, tmp_path: Path
) -> None:
    session = open_session(fake_tensorrt.engine_beside(tmp_path))
    too_long = np.zeros((1, fake_tensorrt.MAX_T + 1, 4), np.float32)
    with pytest.raises(ModelError, match="outside the engine's profile"):
        session.run({"x": too_long})


def test_engine_from_another_tensorrt_version_is_refused(
    fakes: fake_tensorrt.Memory, tmp_path: Path
) -> None:
    with pytest.raises(EngineMismatchError, match=r"built with TensorRT 8\.6\.1"):
        open_session(fake_tensorrt.engine_beside(tmp_path, tensorrt_version="8.6.1"))


def test_auto_picks_native_tensorrt_when_it_can_run(
    fakes: fake_tensorrt.Memory, tmp_path: Path
) -> None:
    session = load_session(fake_tensorrt.engine_beside(tmp_path), "auto")
    assert session.backend == "tensorrt"
    assert runs_on_gpu(session.backend)


def test_opening_a_native_engine_hashes_the_onnx_file_once(
    fakes: fake_tensorrt.Memory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    onnx = fake_tensorrt.engine_beside(tmp_path)
    hashed: list[Path] = []

    def counted_sha256_of(path: Path) -> str:
        hashed.append(path)
        return sha256_of(path)

    monkeypatch.setattr(engine_file, "sha256_of", counted_sha256_of)
    assert load_session(onnx, "tensorrt").backend == "tensorrt"
    assert hashed == [onnx]
