"""tools/make_manifest.py: the MANIFEST a training tool rewrites after exporting a model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.inference.loading import load_session
from agent.inference.models import read_manifest, sha256_of
from agent.inference.session import ModelError
from tools.make_manifest import write_manifest

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "sensor-iforest.onnx"


def test_rewritten_manifest_lets_the_agent_load_a_replaced_model(tmp_path: Path) -> None:
    model = tmp_path / SHIPPED.name
    shutil.copyfile(SHIPPED, model)
    (tmp_path / "MANIFEST").write_text(f"{'0' * 64}  0.9.0  {model.name}\n")
    with pytest.raises(ModelError, match="does not match MANIFEST"):
        load_session(model)

    write_manifest(tmp_path)

    entry = read_manifest(tmp_path)[model.name]
    assert entry.sha256 == sha256_of(model)
    assert entry.version == load_session(model).metadata["version"]
