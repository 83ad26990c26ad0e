"""No ONNX Runtime installed (no `cpu`/`gpu` extra): one clear error naming the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.config.base import Backend
from agent.inference.backends import BackendUnavailableError
from agent.inference.loading import load_session
from agent.inference.session import ONNXRUNTIME_MISSING, ModelError, OnnxRuntimeSession
from tests.support.onnx_models import constant_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import onnxruntime` raises ImportError, as where no extra installed it."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)


def model(folder: Path) -> Path:
    return constant_model(
        folder / "m.onnx", np.ones((1, 2), np.float32), [1, 3], input_name="x",
        metadata={"name": "m", "version": "1.0"},
    )  # fmt: skip


def test_the_message_names_the_extras_and_the_jetson_guide() -> None:
    assert "onnxruntime is not installed" in ONNXRUNTIME_MISSING
    assert "pip install 'edge-inspection-agent[cpu]'" in ONNXRUNTIME_MISSING
    assert "[gpu]" in ONNXRUNTIME_MISSING
    assert "deploy/jetson/README.md" in ONNXRUNTIME_MISSING
    assert "\n" not in ONNXRUNTIME_MISSING


@pytest.mark.parametrize("backend", ["auto", "onnxruntime"])
@pytest.mark.usefixtures("no_onnxruntime")
def test_load_session_says_how_to_install_it(tmp_path: Path, backend: Backend) -> None:
    path = model(tmp_path)
    with pytest.raises(ModelError) as caught:
        load_session(path, backend)
    assert str(caught.value) == ONNXRUNTIME_MISSING
    assert caught.value.__cause__ is None  # no ImportError chained into a traceback


@pytest.mark.usefixtures("no_onnxruntime")
def test_an_onnxruntime_session_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="onnxruntime is not installed"):
        OnnxRuntimeSession(model(tmp_path))


@pytest.mark.usefixtures("no_onnxruntime")
def test_a_demanded_native_tensorrt_does_not_need_onnxruntime(tmp_path: Path) -> None:
    """Native TensorRT runs without ONNX Runtime: its own error, not the install hint."""
    with pytest.raises(BackendUnavailableError) as caught:
        load_session(model(tmp_path), "tensorrt")
    assert "onnxruntime is not installed" not in str(caught.value)


def test_the_cli_prints_one_line_and_no_traceback() -> None:
    """`edge-agent evaluate` on a real SKAB excerpt where onnxruntime cannot be imported."""
    script = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from agent.cli import main\n"
        "sys.exit(main(['evaluate', 'sensor', '--data', 'tests/fixtures/skab']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"cannot evaluate: {ONNXRUNTIME_MISSING}"]
