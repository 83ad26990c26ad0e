"""The models we ship: listed in the MANIFEST with the right hash, loadable, documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.inference.loading import load_session
from agent.inference.models import models_dir, read_manifest, sha256_of

SHIPPED = sorted(models_dir().glob("*.onnx"))


def test_every_model_is_in_the_manifest_and_has_a_card() -> None:
    manifest = read_manifest(models_dir())
    assert sorted(manifest) == [p.name for p in SHIPPED]
    for path in SHIPPED:
        assert path.with_suffix(".md").is_file(), f"{path.name} has no model card"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_model_matches_manifest_and_loads(path: Path) -> None:
    entry = read_manifest(models_dir())[path.name]
    assert sha256_of(path) == entry.sha256
    session = load_session(path)
    assert session.version == f"{path.stem}@{entry.version}"


def test_models_stay_small() -> None:
    assert sum(p.stat().st_size for p in SHIPPED) < 30 * 1024 * 1024
