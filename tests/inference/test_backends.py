"""Backend selection and fallback: TensorRT absent, demanded, or with a stale engine."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from agent.config.loader import ConfigError, parse_config
from agent.inference import backends
from agent.inference.backends import BackendUnavailableError, runs_on_gpu
from agent.inference.engine_file import (
    EngineMismatchError,
    EngineRecord,
    check_engine,
    engine_path_for,
    record_path_for,
    write_record,
)
from agent.inference.loading import load_session
from agent.inference.models import sha256_of
from agent.senses.image.config import CameraConfig, DetectorConfig
from agent.senses.image.scorer import DetectorScorer
from tests.support.onnx_models import brightness_detector, constant_model

NO_TENSORRT = importlib.util.find_spec("tensorrt") is None
CPU = "onnxruntime/CPUExecutionProvider"
needs_no_tensorrt = pytest.mark.skipif(not NO_TENSORRT, reason="TensorRT is installed here")


def model(folder: Path) -> Path:
    return constant_model(
        folder / "m.onnx", np.ones((1, 2), np.float32), [1, 3], input_name="x",
        metadata={"name": "m", "version": "1.0"},
    )  # fmt: skip


def record_for(onnx_path: Path, sha256: str | None = None) -> EngineRecord:
    return EngineRecord(
        onnx_name=onnx_path.name,
        onnx_sha256=sha256 or sha256_of(onnx_path),
        tensorrt_version="10.3.0",
        precision="fp16",
        input_profiles={"x": [[1, 3], [1, 3], [1, 3]]},
        metadata={"name": "m", "version": "1.0"},
        device_name="Orin",
        built_at="2026-11-23T00:00:00Z",
    )


def fake_engine(onnx_path: Path, sha256: str | None = None) -> Path:
    """An engine file with its record; its bytes are never read without TensorRT."""
    engine = engine_path_for(onnx_path)
    engine.write_bytes(b"serialised engine")
    write_record(engine, record_for(onnx_path, sha256))
    return engine


def test_auto_without_tensorrt_or_gpu_falls_back_to_cpu_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.inference.backends")
    session = load_session(model(tmp_path), "auto")

    assert session.backend == CPU
    assert session.run({"x": np.zeros((1, 3), np.float32)})[0].tolist() == [[1.0, 1.0]]
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(
        "model m.onnx runs on onnxruntime/CPUExecutionProvider (better ones unavailable: "
    )
    assert "tensorrt: no engine m.engine beside the model" in line
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        assert (
            "onnxruntime-tensorrt: this onnxruntime build has no TensorrtExecutionProvider" in line
        )


@needs_no_tensorrt
def test_engine_present_but_tensorrt_missing_falls_back_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = model(tmp_path)
    fake_engine(path)
    caplog.set_level(logging.INFO, logger="agent.inference.backends")

    assert load_session(path).backend.startswith("onnxruntime")
    assert "tensorrt: python package 'tensorrt' is not installed" in caplog.text


@needs_no_tensorrt
def test_demanded_tensorrt_that_cannot_run_is_an_error_naming_the_field(tmp_path: Path) -> None:
    path = model(tmp_path)
    fake_engine(path)
    with pytest.raises(BackendUnavailableError) as caught:
        load_session(path, "tensorrt", "pump-01: sources.camera.detector.backend")
    message = str(caught.value)
    assert message.startswith("pump-01: sources.camera.detector.backend: tensorrt was demanded")
    assert "'tensorrt' is not installed" in message
    assert "set it to auto or onnxruntime" in message


def test_detector_scorer_names_its_config_field_when_tensorrt_is_demanded(tmp_path: Path) -> None:
    detector = DetectorConfig(
        model=brightness_detector(tmp_path / "det.onnx", ["rust"]), backend="tensorrt"
    )
    config = CameraConfig(uri="0", detector=detector)
    with pytest.raises(BackendUnavailableError, match=r"^press-7: sources\.camera\.detector\."):
        DetectorScorer("press-7", config)


@pytest.mark.usefixtures("fakes")
def test_stale_engine_is_refused_when_demanded(tmp_path: Path) -> None:
    path = model(tmp_path)
    fake_engine(path, sha256="ab" * 32)
    with pytest.raises(BackendUnavailableError) as caught:
        load_session(path, "tensorrt", "detector.backend")
    assert str(caught.value).startswith("detector.backend: tensorrt: ")
    assert "was built from an ONNX file with sha256 abababababab" in str(caught.value)


@pytest.mark.usefixtures("fakes")
def test_stale_engine_is_passed_over_by_auto_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = model(tmp_path)
    fake_engine(path, sha256="ab" * 32)
    caplog.set_level(logging.INFO, logger="agent.inference.backends")

    assert load_session(path).backend.startswith("onnxruntime")
    assert "tensorrt: " in caplog.text
    assert "was built from an ONNX file with sha256 abababababab" in caplog.text


def test_engine_check_accepts_its_own_onnx_and_refuses_a_retrained_one(tmp_path: Path) -> None:
    path = model(tmp_path)
    engine = fake_engine(path)
    assert check_engine(engine, path).precision == "fp16"

    constant_model(path, np.full((1, 2), 7.0, np.float32), [1, 3], input_name="x")  # retrained
    with pytest.raises(EngineMismatchError, match=r"tools/build_engine\.py"):
        check_engine(engine, path)


def test_engine_without_or_with_a_broken_record_is_refused(tmp_path: Path) -> None:
    path = model(tmp_path)
    engine = fake_engine(path)
    record_path_for(engine).write_text("{not json")
    with pytest.raises(EngineMismatchError, match="not a valid engine record"):
        check_engine(engine, path)
    record_path_for(engine).unlink()
    with pytest.raises(EngineMismatchError, match=r"no record m\.engine\.json"):
        check_engine(engine, path)


def test_onnxruntime_backend_never_tries_the_native_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = model(tmp_path)
    fake_engine(path, sha256="ab" * 32)  # would be refused, were it considered
    caplog.set_level(logging.INFO, logger="agent.inference.backends")

    assert load_session(path, "onnxruntime").backend.startswith("onnxruntime")
    assert "m.engine" not in caplog.text


def test_gpu_provider_listed_but_failing_to_start_falls_back_to_cpu(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CUDA build on a machine without a usable GPU: the provider is listed, then fails."""
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a real CUDA provider is present")
    listed = [*ort.get_available_providers(), "CUDAExecutionProvider"]
    monkeypatch.setattr(backends.ort, "get_available_providers", lambda: listed)
    caplog.set_level(logging.INFO, logger="agent.inference.backends")

    assert load_session(model(tmp_path), "onnxruntime").backend == CPU
    assert "onnxruntime-cuda: " in caplog.text


def test_record_round_trips(tmp_path: Path) -> None:
    path = model(tmp_path)
    engine = fake_engine(path)
    assert check_engine(engine, path) == record_for(path)


def test_unknown_backend_in_the_config_is_named(tmp_path: Path) -> None:
    data = {
        "site": "plant",
        "devices": [{"id": "pump-01", "sources": {"camera": {"uri": "0", "detector": {
            "model": str(model(tmp_path)), "backend": "cuda"}}}}],
    }  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    (problem,) = caught.value.problems
    assert problem.startswith("devices[0].sources.camera.detector.backend: Input should be")


def test_runs_on_gpu_knows_each_backend_name_a_session_reports(tmp_path: Path) -> None:
    assert runs_on_gpu("tensorrt")
    assert runs_on_gpu("onnxruntime/TensorrtExecutionProvider")
    assert runs_on_gpu("onnxruntime/CUDAExecutionProvider")
    assert not runs_on_gpu(CPU)
    assert not runs_on_gpu(load_session(model(tmp_path), "onnxruntime").backend)
