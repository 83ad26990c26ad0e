"""The models we ship: listed in the MANIFEST with the right hash, loadable, documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config.decision import SHIPPED_FUSION
from agent.inference.loading import load_session
from agent.inference.models import models_dir, read_manifest, sha256_of
from agent.learning.fusion_file import read_fusion_model

SHIPPED = sorted(models_dir().glob("*.onnx"))
FUSION = models_dir() / SHIPPED_FUSION


def test_every_model_is_in_the_manifest_and_has_a_card() -> None:
    manifest = read_manifest(models_dir())
    assert sorted(manifest) == sorted([p.name for p in SHIPPED] + [FUSION.name])
    for path in [*SHIPPED, FUSION]:
        assert path.with_suffix(".md").is_file(), f"{path.name} has no model card"


def test_the_learned_fusion_matches_manifest_and_reads() -> None:
    entry = read_manifest(models_dir())[FUSION.name]
    assert sha256_of(FUSION) == entry.sha256
    assert read_fusion_model(FUSION).version == entry.version


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_model_matches_manifest_and_loads(path: Path) -> None:
    entry = read_manifest(models_dir())[path.name]
    assert sha256_of(path) == entry.sha256
    session = load_session(path)
    assert session.version == f"{path.stem}@{entry.version}"


def test_models_stay_small() -> None:
    assert sum(p.stat().st_size for p in SHIPPED) < 30 * 1024 * 1024
