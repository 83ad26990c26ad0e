"""Model loading: the MANIFEST's sha256 guards the shipped files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.inference.loading import load_session
from agent.inference.models import sha256_of
from agent.inference.session import ModelError
from tests.support.onnx_models import constant_model


def model(folder: Path) -> Path:
    return constant_model(
        folder / "m.onnx", np.ones((1, 2), np.float32), [1, 3], input_name="x",
        metadata={"name": "m", "version": "1.0"},
    )  # fmt: skip


def test_listed_model_with_matching_hash_loads(tmp_path: Path) -> None:
    path = model(tmp_path)
    (tmp_path / "MANIFEST").write_text(f"{sha256_of(path)}  1.0  m.onnx\n")
    session = load_session(path)
    assert session.version == "m@1.0"
    assert session.run({"x": np.zeros((1, 3), np.float32)})[0].tolist() == [[1.0, 1.0]]


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    path = model(tmp_path)
    (tmp_path / "MANIFEST").write_text(f"{'0' * 64}  1.0  m.onnx\n")
    with pytest.raises(ModelError, match="does not match MANIFEST"):
        load_session(path)


def test_unlisted_model_loads_without_check(tmp_path: Path) -> None:
    path = model(tmp_path)
    (tmp_path / "MANIFEST").write_text(f"{'0' * 64}  1.0  other.onnx\n")
    assert load_session(path).version == "m@1.0"


def test_malformed_manifest_is_a_model_error(tmp_path: Path) -> None:
    path = model(tmp_path)
    (tmp_path / "MANIFEST").write_text("nonsense\n")
    with pytest.raises(ModelError, match="MANIFEST:1"):
        load_session(path)


def test_unloadable_file_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load model"):
        load_session(path)
