"""The learned forest's own ONNX export gives sklearn's decision function and labels, with the
interface of the shipped (skl2onnx) model, whatever the forest's width and leaf sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

from agent.inference.loading import load_session
from agent.senses.sensor.forest_onnx import average_path_length, isolation_forest_onnx
from agent.senses.sensor.scorer import decisions, require_decisions
from tests.support.sensor_models import export_forest


def test_average_path_length_is_sklearns() -> None:
    samples = np.array([0, 1, 2, 3, 4, 10, 255, 256, 10_000])
    assert [average_path_length(int(n)) for n in samples] == pytest.approx(
        _average_path_length(samples), rel=1e-12
    )


@pytest.mark.parametrize(
    ("rows", "width", "max_samples", "max_features"),
    [(300, 3, "auto", 1.0), (40, 1, "auto", 1.0), (2_000, 8, 0.5, 1.0), (600, 6, "auto", 0.5)],
)
def test_it_scores_as_sklearn_does(
    tmp_path: Path, rows: int, width: int, max_samples: object, max_features: float
) -> None:
    rng = np.random.default_rng(width)
    healthy = rng.normal(size=(rows, width)).astype(np.float32)
    forest = IsolationForest(
        n_estimators=50, max_samples=max_samples, max_features=max_features, random_state=0
    )
    forest.fit(healthy)
    path = tmp_path / "forest.onnx"
    path.write_bytes(isolation_forest_onnx(forest, width))
    session = load_session(path)
    require_decisions(session)
    probe = np.concatenate([healthy[:100], rng.normal(scale=4.0, size=(200, width))])
    probe = probe.astype(np.float32)
    assert decisions(session, probe) == pytest.approx(forest.decision_function(probe), abs=1e-6)
    label, scores = session.run({session.input_names[0]: probe})
    assert label.shape == (len(probe),) and scores.shape == (len(probe), 1)
    assert (label == forest.predict(probe)).all()
    assert {-1, 1} == set(label.tolist())  # both sides of the cut are exercised


def test_it_agrees_with_the_skl2onnx_export(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    forest = IsolationForest(n_estimators=20, random_state=1).fit(rng.normal(size=(500, 4)))
    ours, theirs = tmp_path / "ours.onnx", tmp_path / "theirs.onnx"
    ours.write_bytes(isolation_forest_onnx(forest, 4))
    theirs.write_bytes(export_forest(forest).SerializeToString())
    probe = rng.normal(scale=2.0, size=(300, 4)).astype(np.float32)
    ours_session, theirs_session = load_session(ours), load_session(theirs)
    assert ours_session.output_names == theirs_session.output_names
    assert decisions(ours_session, probe) == pytest.approx(
        decisions(theirs_session, probe), abs=1e-6
    )
